"""Parental controls: the PIN gate (wrong PINs, back-off, lockout), time limits that reach the
safety validator, the audit log, erasure with confirmation and PIN, and the switches."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.db.tables import AuditEvent
from engine.domain import audit, families
from engine.domain.pin import LOCKOUT_AFTER
from engine.safety import SafetyValidator
from famtune_gui.fmt import window_text
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.dialogs import ConfirmDialog, PinDialog
from tests.gui.conftest import PIN, WAIT_MS, FakeClock, settle, tap

GAMES_NIGHT = {
    "id": "board-game-night",
    "title": "Board game night",
    "description": "",
    "categories": ["games"],
    "topics": [],
    "contentRating": "G",
    "minAge": 0,
}


def _parents(window: MainWindow) -> ParentalScreen:
    screen = window.show_screen("parents")
    assert isinstance(screen, ParentalScreen)
    return screen


def _unlock(qtbot: QtBot, screen: ParentalScreen, session: EngineSession) -> None:
    screen.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    assert screen.stack.currentWidget() is screen.content


def _events(session: EngineSession, kind: str) -> list[AuditEvent]:
    with session.ft.db.read() as db:
        return audit.list_events(db, event_type=kind)


def _visible(kind: type) -> object | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()), None
    )


def test_the_gate_refuses_wrong_pins_backs_off_and_locks_out(
    qtbot: QtBot, window: MainWindow, session: EngineSession, clock: FakeClock
) -> None:
    screen = _parents(window)
    pad = screen.gate.pad
    assert screen.stack.currentWidget() is screen.gate

    def wrong() -> str:
        pad.type_pin("1357")
        qtbot.waitUntil(
            lambda: pad.isEnabled() and pad.message.text() not in (" ", ""), timeout=WAIT_MS
        )
        settle(qtbot, session)
        return pad.message.text()

    assert wrong() == "Wrong PIN. 2 tries left before a wait."
    assert wrong() == "Wrong PIN. 1 try left before a wait."
    third = wrong()
    assert third.startswith("Wrong PIN. Wait 1 second") and pad.paused
    pad.press("1")
    assert pad.entered == ""  # taps are refused during the wait
    assert not session.lock.unlocked
    for failures in range(4, LOCKOUT_AFTER + 1):
        clock.advance(2 ** (failures - 4) + 1)  # the engine's wait has passed...
        pad.pause(0, "")  # ...and so has the keypad's countdown
        message = wrong()
    assert "locked for 1 hour" in message and pad.paused
    assert "min" in message  # the countdown shows minutes
    assert len(_events(session, "pin_lockout")) == 1
    assert len(_events(session, "pin_failed")) == LOCKOUT_AFTER
    # even the right PIN is refused during the lockout
    clock.advance(60)
    pad.pause(0, "")
    pad.type_pin(PIN)
    qtbot.waitUntil(lambda: "locked" in pad.message.text(), timeout=WAIT_MS)
    settle(qtbot, session)
    assert not session.lock.unlocked and screen.stack.currentWidget() is screen.gate
    # an hour later the right PIN opens the controls
    clock.advance(3600)
    pad.pause(0, "")
    _unlock(qtbot, screen, session)


def test_leaving_or_idling_locks_again(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    window.show_screen("home")
    assert not session.lock.unlocked
    screen = _parents(window)
    assert screen.stack.currentWidget() is screen.gate
    _unlock(qtbot, screen, session)
    session.lock._timer.setInterval(30)
    session.lock.touch()
    qtbot.waitUntil(lambda: not session.lock.unlocked, timeout=2000)
    assert screen.stack.currentWidget() is screen.gate


def test_a_time_limit_reaches_the_safety_validator(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    screen.tabs.setCurrentIndex(1)
    limits = screen.time_limits
    assert len(limits.windows) == 1
    assert limits.row_texts() == ["Every day, 21:00 → 07:00 next day: no entertainment"]
    tap(limits.add_button)
    editor = limits.editor
    assert editor.isVisible()
    tap(editor.days.chips["0"])  # not Sunday
    tap(editor.days.chips["6"])  # nor Saturday
    editor.start.set_value("15:00")
    tap(editor.end.hours.minus)  # 07 -> 06
    editor.end.set_value("09:30")
    tap(editor.categories.chips["entertainment"])
    tap(editor.categories.chips["games"])
    assert editor.summary.text() == "15:00 → 09:30 next day"
    tap(editor.done_button)
    assert len(limits.windows) == 2 and screen.dirty
    tap(screen.save_button)
    qtbot.waitUntil(lambda: not screen.dirty, timeout=WAIT_MS)
    settle(qtbot, session)

    with session.ft.db.read() as db:
        profile = families.get_profile(db, family_id="smith-family")
    added = profile.safety_settings.time_restrictions[1]
    assert (added.start_time, added.end_time, added.days_of_week, added.restricted_content) == (
        "15:00",
        "09:30",
        [1, 2, 3, 4, 5],
        ["games"],
    )
    assert window_text(added) == "Weekdays, 15:00 → 09:30 next day: no games"
    validator = SafetyValidator()
    wednesday = datetime(2026, 11, 25)
    blocked = validator.check(profile, GAMES_NIGHT, at=wednesday.replace(hour=16))
    assert not blocked.allowed
    assert [r.code for r in blocked.reasons] == ["time_restricted"]
    after_midnight = validator.check(profile, GAMES_NIGHT, at=wednesday + timedelta(hours=32))
    assert not after_midnight.allowed  # Thursday 08:00 is still inside Wednesday's window
    assert validator.check(profile, GAMES_NIGHT, at=wednesday.replace(hour=12)).allowed
    changed = _events(session, "settings_changed")
    assert changed and "timeRestrictions" in changed[0].details["changes"]


def test_content_limits_respect_the_device_cap(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    buttons = screen.limits.rating.buttons
    assert not buttons["R"].isEnabled() and buttons["PG-13"].isEnabled()
    tap(buttons["G"])
    screen.limits.blocked.chips["gambling"].click()
    tap(screen.save_button)
    qtbot.waitUntil(lambda: not screen.dirty, timeout=WAIT_MS)
    settle(qtbot, session)
    assert session.profile is not None
    safety = session.profile.safety_settings
    assert safety.max_content_rating == "G" and "gambling" in safety.blocked_topics


def test_audit_log_filters_and_verifies(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    screen.tabs.setCurrentWidget(screen.audit)
    settle(qtbot, session)
    kinds = {e.event_type for e in screen.audit.model.events()}
    assert {"profile_imported", "pin_set"} <= kinds
    screen.audit.filter.set_value("pin_set")
    screen.audit.refresh()
    settle(qtbot, session)
    assert {e.event_type for e in screen.audit.model.events()} == {"pin_set"}
    tap(screen.audit.verify_button)
    settle(qtbot, session)
    assert screen.audit.result.text().startswith("Intact:")
    screen.audit.table.clicked.emit(screen.audit.model.index(0, 0))
    assert screen.audit.details.text().startswith("PIN set: ")


def test_erasing_a_member_needs_confirmation_and_the_pin(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    screen.data.erase_scope.set_value("child-emma")
    dialog = screen.data.confirm_erase()
    assert isinstance(dialog, ConfirmDialog) and "Emma" in dialog.body.text()
    dialog.accept()
    qtbot.waitUntil(lambda: _visible(PinDialog) is not None, timeout=WAIT_MS)
    pin_dialog = _visible(PinDialog)
    assert isinstance(pin_dialog, PinDialog)
    pin_dialog.pad.type_pin(PIN)
    qtbot.waitUntil(
        lambda: session.profile is not None and len(session.profile.members) == 1, timeout=WAIT_MS
    )
    settle(qtbot, session)
    assert len(_events(session, "data_erased")) == 1


def test_switches_privacy_and_pin_change(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    switch = screen.switches.personalization
    assert switch.isChecked()
    tap(switch)
    qtbot.waitUntil(lambda: not session.personalization, timeout=WAIT_MS)
    assert session.facade.is_enabled() is False
    screen.data.privacy.buttons["strict"].click()
    settle(qtbot, session)
    from engine import app as actions

    assert actions.get_privacy_level(session.ft, "smith-family") == "strict"
    screen.switches.change_pin()
    qtbot.waitUntil(lambda: _visible(PinDialog) is not None, timeout=WAIT_MS)
    current = _visible(PinDialog)
    assert isinstance(current, PinDialog)
    current.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: _visible(PinDialog) not in (None, current), timeout=WAIT_MS)
    new = _visible(PinDialog)
    assert isinstance(new, PinDialog)
    new.pad.type_pin("97531")
    new.pad.type_pin("97531")
    qtbot.waitUntil(lambda: _visible(PinDialog) is None, timeout=WAIT_MS)
    settle(qtbot, session)
    assert actions.check_pin(session.ft, "97531", datetime.now().astimezone()).ok
    assert len(_events(session, "pin_changed")) == 1


def test_without_a_pin_the_gate_asks_for_a_new_one(
    qtbot: QtBot, home: Path, make_session: Callable[[Path], EngineSession]
) -> None:
    session = make_session(home)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    settle(qtbot, session)
    screen = _parents(window)
    assert "Choose a parental PIN" in screen.gate.pad.title.text()
    screen.gate.pad.type_pin("1234")
    assert "again" in screen.gate.pad.title.text()
    screen.gate.pad.type_pin("4321")
    assert "different" in screen.gate.pad.message.text()
    screen.gate.pad.type_pin("1234")
    screen.gate.pad.type_pin("1234")
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    assert session.pin_set


def test_screens_can_be_paused_by_tapping_and_saving(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    screen.tabs.setCurrentIndex(1)
    limits = screen.time_limits
    tap(limits.add_button)
    editor = limits.editor
    chips = editor.categories.chips
    first = editor.categories.flow.itemAt(0)
    assert first is not None and first.widget() is chips["screens"]  # first: parents look for it
    assert chips["screens"].text() == "Screens (TV, tablet, games)"
    assert not chips["screens"].isChecked()
    tap(chips["screens"])
    tap(chips["entertainment"])  # the new window's default: off again
    editor.start.set_value("19:00")
    tap(editor.done_button)
    assert limits.row_texts()[-1] == "Every day, 19:00 → 07:00 next day: no screens"
    tap(screen.save_button)
    qtbot.waitUntil(lambda: not screen.dirty, timeout=WAIT_MS)
    settle(qtbot, session)

    with session.ft.db.read() as db:
        profile = families.get_profile(db, family_id="smith-family")
    added = profile.safety_settings.time_restrictions[-1]
    assert (added.start_time, added.end_time, added.restricted_content) == (
        "19:00",
        "07:00",
        ["screens"],
    )
    movie = {**GAMES_NIGHT, "id": "cartoon", "title": "Cartoon", "screen": True}
    evening = datetime(2026, 11, 25, 19, 30)
    blocked = SafetyValidator().check(profile, movie, at=evening)
    assert [r.message for r in blocked.reasons] == ["Screens are paused from 19:00 to 07:00."]
    assert SafetyValidator().check(profile, GAMES_NIGHT, at=evening).allowed
    limits.edit_window(len(limits.windows) - 1)  # editing it again shows it chosen
    assert editor.categories.values() == ["screens"]
    editor.load({**added.model_dump(by_alias=True), "restrictedContent": ["Screens", "Games"]})
    assert editor.categories.values() == ["screens", "games"]  # an imported spelling


def test_exporting_the_data_writes_the_file_and_says_where(
    qtbot: QtBot, window: MainWindow, session: EngineSession, tmp_path: Path
) -> None:
    screen = _parents(window)
    _unlock(qtbot, screen, session)
    said: list[str] = []
    session.message.connect(lambda _level, text: said.append(text))
    out = tmp_path / "smith-data.json"
    screen.data.export_to(out)
    qtbot.waitUntil(lambda: any("Exported to" in s for s in said), timeout=WAIT_MS)
    assert f"Exported to {out}." in said
    document = json.loads(out.read_text())
    assert document["familyId"] == "smith-family" and document["interactions"] is not None
