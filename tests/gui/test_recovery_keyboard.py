"""A forgotten PIN: the recovery code typed with the on-screen keyboard in a dialog, a new
PIN, the new code shown once; from the Parents gate and from the kiosk's exit. And the
on-screen keyboard itself: it opens inside the dialog that holds the field, types with its
keys (Shift, 123, delete, Enter), closes by touch, and every dialog closes by touch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QPushButton
from pytestqt.qtbot import QtBot

from engine import app as actions
from engine.domain import audit, pin, pin_recovery
from famtune_gui.mainwindow import MainWindow
from famtune_gui.recovery import CodeDialog, RecoveryDialog
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.dialogs import ConfirmDialog, PinDialog, TextPrompt, TouchDialog
from famtune_gui.widgets.keyboard import enable_keyboard
from famtune_gui.widgets.keypad import PinPad, PinTwice
from tests.gui.conftest import PIN, WAIT_MS, settle, tap


@pytest.fixture
def keyboard() -> Iterator[None]:
    enable_keyboard(True)
    yield
    enable_keyboard(False)


@pytest.fixture
def code(session: EngineSession) -> str:
    with session.ft.db.write() as db:
        return pin_recovery.issue_recovery_code(db)


def _visible(kind: type) -> object | None:
    return next(
        (w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()), None
    )


def _focus(qtbot: QtBot, dialog: TouchDialog, edit: object) -> None:
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    edit.setFocus()  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: dialog.keyboard.isVisible(), timeout=3000)


def test_a_forgotten_pin_is_replaced_with_the_recovery_code(
    qtbot: QtBot, window: MainWindow, session: EngineSession, code: str, keyboard: None
) -> None:
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    assert parents.gate.forgot_button.isVisible()
    tap(parents.gate.forgot_button)
    dialog = _visible(RecoveryDialog)
    assert isinstance(dialog, RecoveryDialog) and dialog.step == "code"
    _focus(qtbot, dialog, dialog.code_field.edit)
    # the keyboard is drawn inside the dialog's own window, below the field
    assert dialog.keyboard.window() is dialog
    assert dialog.keyboard.geometry().top() >= dialog.code_field.geometry().bottom()
    # a wrong code first: the engine's words next to the field
    dialog.keyboard.type_text("AAAA-AAAA-AAAA-AAAA")
    assert dialog.code_field.text() == "AAAA-AAAA-AAAA-AAAA"
    tap(dialog.keyboard.key("enter"))  # Enter is Next
    assert dialog.step == "pin" and not dialog.keyboard.isVisible()
    dialog.pad.type_pin("1357")
    dialog.pad.type_pin("1357")
    qtbot.waitUntil(lambda: dialog.step == "code", timeout=WAIT_MS)
    assert dialog.code_field.note.text() == "Wrong recovery code. 2 tries left before a wait."
    # the right one, typed in lower case without dashes
    dialog.code_field.edit.clear()
    _focus(qtbot, dialog, dialog.code_field.edit)
    dialog.keyboard.type_text(code.replace("-", " ").lower())
    tap(dialog.next_button)
    dialog.pad.type_pin("1357")
    dialog.pad.type_pin("1357")
    qtbot.waitUntil(lambda: dialog.step == "done", timeout=WAIT_MS)
    new_code = dialog.card.text()
    assert pin_recovery.normalize_code(new_code) and new_code != code
    tap(dialog.next_button)  # "I wrote it down"
    assert not dialog.isVisible()
    settle(qtbot, session)
    with session.ft.db.write() as db:
        assert pin.check_pin(db, "1357").ok and not pin.check_pin(db, PIN).ok
        assert len(audit.list_events(db, event_type="pin_recovered")) == 1
        assert len(audit.list_events(db, event_type="pin_recovery_failed")) == 1
    parents.gate.pad.type_pin("1357")
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)


def test_a_new_pin_is_typed_twice_with_the_same_words_wherever_it_is_chosen(
    qtbot: QtBot, window: MainWindow, session: EngineSession, code: str
) -> None:
    """The recovery dialog and changing the PIN share one step (PinTwice): the second try's
    title, the words for two different PINs, and a start over with the first step's title."""
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    tap(parents.gate.forgot_button)
    recovery = _visible(RecoveryDialog)
    assert isinstance(recovery, RecoveryDialog)
    recovery.code_field.edit.setText(code)
    tap(recovery.next_button)
    assert recovery.step == "pin"
    first_title = recovery.pad.title.text()
    recovery.pad.type_pin("1357")
    assert recovery.pad.title.text() == PinTwice.AGAIN
    recovery.pad.type_pin("2468")
    assert recovery.pad.title.text() == first_title
    assert recovery.pad.message.text() == PinTwice.DIFFERENT
    assert recovery.step == "pin"  # nothing was sent to the engine
    tap(recovery.cancel_button)

    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    parents.switches.change_pin()
    qtbot.waitUntil(lambda: _visible(PinDialog) is not None, timeout=WAIT_MS)
    current = _visible(PinDialog)
    assert isinstance(current, PinDialog)
    current.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: _visible(PinDialog) not in (None, current), timeout=WAIT_MS)
    change = _visible(PinDialog)
    assert isinstance(change, PinDialog)
    change.pad.type_pin("97531")
    assert change.pad.title.text() == PinTwice.AGAIN and change.pad.isEnabled()
    change.pad.type_pin("13579")
    assert change.pad.title.text() == "Enter the new PIN"
    assert change.pad.message.text() == PinTwice.DIFFERENT and change.pad.isEnabled()
    tap(change.cancel_button)
    settle(qtbot, session)
    assert actions.check_pin(session.ft, PIN).ok  # unchanged


def test_pin_twice_keeps_the_first_pin_after_a_match_until_told(qtbot: QtBot) -> None:
    """After a match the same PIN retries (a failed save), until ``forget``/``start_over``."""
    pad = PinPad("Choose")
    qtbot.addWidget(pad)
    twice = PinTwice(pad, "Choose", "Again")
    assert twice.entered("1234") is None and twice.confirming
    assert twice.entered("1234") == "1234"
    assert twice.entered("1234") == "1234"  # a retry
    twice.forget()
    assert not twice.confirming and pad.title.text() == "Again"
    assert twice.entered("5678") is None
    twice.start_over()
    assert not twice.confirming and pad.title.text() == "Choose"


def test_the_kiosk_exit_offers_recovery_too(
    qtbot: QtBot, session: EngineSession, code: str
) -> None:
    win = MainWindow(session, kiosk=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: session.profile is not None, timeout=WAIT_MS)
    settle(qtbot, session)
    tap(win.exit_button)
    dialog = _visible(PinDialog)
    assert isinstance(dialog, PinDialog) and dialog.forgot_button.isVisible()
    tap(dialog.forgot_button)
    assert not dialog.isVisible()
    assert isinstance(_visible(RecoveryDialog), RecoveryDialog)
    recovery = _visible(RecoveryDialog)
    assert isinstance(recovery, RecoveryDialog)
    tap(recovery.cancel_button)  # closed by touch
    assert _visible(RecoveryDialog) is None
    win._leave()


def test_setting_the_first_pin_shows_its_recovery_code_and_a_new_one_can_be_made(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    tap(parents.switches.recovery_button)
    qtbot.waitUntil(lambda: _visible(CodeDialog) is not None, timeout=WAIT_MS)
    dialog = _visible(CodeDialog)
    assert isinstance(dialog, CodeDialog)
    shown = dialog.card.text()
    tap(dialog.ok_button)
    with session.ft.db.write() as db:
        assert pin_recovery.recover_pin(db, shown, "8642").ok


def test_the_keyboard_types_into_a_dialog_and_every_dialog_closes_by_touch(
    qtbot: QtBot, window: MainWindow, session: EngineSession, keyboard: None
) -> None:
    family = window.show_screen("family")
    assert isinstance(family, FamilyScreen)
    tap(family.add_member_button)
    prompt = _visible(TextPrompt)
    assert isinstance(prompt, TextPrompt)
    # the keys show from the start: the dialog's first size holds them (a Wayland client
    # cannot move its window once the compositor has placed it)
    assert prompt.keyboard.isVisible() and prompt.width() >= 700
    _focus(qtbot, prompt, prompt.edit)
    keys = prompt.keyboard
    screen = prompt.screen().availableGeometry()
    assert prompt.frameGeometry().width() <= screen.width()
    for button in keys.findChildren(QPushButton):
        if button.isVisible():
            assert button.width() >= 48 and button.height() >= 48, button.text()
    keys.type_text("Ana-Maria 2")
    assert prompt.edit.text() == "Ana-Maria 2"
    tap(keys.key("back"))
    tap(keys.key("back"))
    assert prompt.edit.text() == "Ana-Maria"
    assert keys.symbols  # the last key was a digit
    tap(keys.key("mode"))  # ABC
    tap(keys.key("shift"))
    assert keys.key("Q").text() == "Q"  # capitals after Shift...
    tap(keys.key("Q"))
    assert keys.key("q").text() == "q"  # ...for one letter
    tap(keys.key("back"))
    tap(keys.key("enter"))  # Enter is OK
    assert not prompt.isVisible()
    assert family.doc is not None and family.doc["members"][-1]["displayName"] == "Ana-Maria"
    # every touch dialog has a button that closes it
    for dialog in (
        TextPrompt("t", "l", parent=window),
        ConfirmDialog("t", "x", "Do", parent=window),
        PinDialog("t", parent=window),
        RecoveryDialog(session, window),
        CodeDialog("AAAA-AAAA-AAAA-AAAA", window),
    ):
        dialog.open()
        closers = [
            b
            for b in dialog.findChildren(QPushButton)
            if b.isVisible() and b.text() in ("Cancel", "I wrote it down")
        ]
        assert closers, type(dialog).__name__
        tap(closers[0])
        assert not dialog.isVisible(), type(dialog).__name__
        dialog.deleteLater()


def test_the_keyboard_opens_in_the_window_for_its_fields_and_hides_by_touch(
    qtbot: QtBot, window: MainWindow, session: EngineSession, keyboard: None
) -> None:
    family = window.show_screen("family")
    assert isinstance(family, FamilyScreen)
    qtbot.waitExposed(window)
    window.activateWindow()
    stack_height = window.stack.height()
    family.member_form.name.setFocus()
    qtbot.waitUntil(lambda: window.keyboard.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: window.stack.height() < stack_height, timeout=2000)
    window.keyboard.type_text("Jo")
    assert family.member_form.name.text().endswith("Jo") and family.dirty
    tap(window.keyboard.key("hide"))
    assert not window.keyboard.isVisible()
