"""Family: editing a member saves to the database, errors land next to their field, safety
changes need the PIN, and the profile JSON goes out and comes back in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.domain import families
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.dialogs import PinDialog, TextPrompt
from tests.gui.conftest import PIN, WAIT_MS, settle, tap


def _family(qtbot: QtBot, window: MainWindow) -> FamilyScreen:
    screen = window.show_screen("family")
    assert isinstance(screen, FamilyScreen)
    qtbot.waitUntil(lambda: screen.doc is not None, timeout=WAIT_MS)
    return screen


def _stored(session: EngineSession) -> Any:
    with session.ft.db.read() as db:
        return families.get_profile(db, family_id="smith-family")


def _pin_dialog() -> PinDialog | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, PinDialog) and w.isVisible()),
        None,
    )


def test_editing_a_member_saves_to_the_database(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    assert screen.members.rowCount() == 2
    assert screen.members.data(screen.members.index(1)).startswith("Emma · 8 · Child")
    screen.select_member(1)
    form = screen.member_form
    QTest.keyClicks(form.name, "Emma Rose")
    tap(form.age.plus)
    form.interests.chips["drawing"].click()  # off
    tap(form.interests.add_button)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), TextPrompt))
    prompt: Any = QApplication.activeModalWidget()
    QTest.keyClicks(prompt.edit, "Dinosaurs")
    QTest.keyClick(prompt.edit, Qt.Key.Key_Return)
    form.difficulty.buttons["intermediate"].click()
    assert screen.dirty and screen.save_button.isEnabled()
    tap(screen.save_button)
    # the age is guarded (it sets what Emma may see): the PIN is asked for
    qtbot.waitUntil(lambda: _pin_dialog() is not None, timeout=WAIT_MS)
    dialog = _pin_dialog()
    assert dialog is not None
    dialog.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: not screen.dirty, timeout=WAIT_MS)
    emma = _stored(session).member("child-emma")
    assert emma is not None
    assert emma.display_name == "Emma Rose" and emma.age == 9
    assert emma.preferences.interests == ["animals", "music", "dinosaurs"]
    assert emma.preferences.difficulty_level == "intermediate"
    assert session.profile is not None and session.profile.member("child-emma") == emma
    assert "Saved" in window.banner.text.text()


def test_a_validation_error_is_shown_next_to_its_field(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    screen.select_member(0)
    screen.member_form.preferred.add_value("x" * 45)  # longer than a topic may be
    tap(screen.save_button)
    settle(qtbot, session)
    error = screen.member_form.errors["preferences.preferredTopics"]
    qtbot.waitUntil(error.isVisible, timeout=WAIT_MS)
    assert "at most 40 characters" in error.text()
    assert screen.current == 0 and screen.dirty
    assert window.banner.text.text().startswith("Not saved: Member 1, preferred topics")
    assert _stored(session).member("dad-john").preferences.preferred_topics == [
        "science",
        "history",
    ]


def test_a_safety_change_needs_the_pin(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    screen.select_member(1)
    screen.member_form.safety.buttons["relaxed"].click()
    tap(screen.save_button)
    qtbot.waitUntil(lambda: _pin_dialog() is not None, timeout=WAIT_MS)
    dialog = _pin_dialog()
    assert dialog is not None
    dialog.pad.type_pin("1111")
    qtbot.waitUntil(lambda: "Wrong PIN" in dialog.pad.message.text(), timeout=WAIT_MS)
    assert _stored(session).member("child-emma").safety_level == "strict"
    dialog.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: not screen.dirty, timeout=WAIT_MS)
    assert _stored(session).member("child-emma").safety_level == "relaxed"


def test_export_then_import_a_profile(
    qtbot: QtBot, window: MainWindow, session: EngineSession, tmp_path: Path
) -> None:
    screen = _family(qtbot, window)
    out = tmp_path / "smith.json"
    screen.export_file(out)
    settle(qtbot, session)
    exported = json.loads(out.read_text())
    assert exported == _stored(session).to_json()
    exported["familyId"], exported["familyName"] = "jones-family", "Jones"
    new = tmp_path / "jones.json"
    new.write_text(json.dumps(exported))
    screen.import_file(new)
    qtbot.waitUntil(lambda: session.family_id == "jones-family", timeout=WAIT_MS)
    settle(qtbot, session)
    assert [r.family_id for r in session.families] == ["jones-family", "smith-family"]
    assert window.family_choice.isVisible()
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"familyId": "x", "members": [{"userId": "a", "age": 300, "role": "child"}]}'
    )
    screen.import_file(broken)
    settle(qtbot, session)
    assert screen.member_form.errors["age"].isVisible()
    assert "120" in screen.member_form.errors["age"].text()
