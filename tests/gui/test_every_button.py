"""Every button of every screen does something: each visible, enabled button is connected to
a handler, and tapping it works (dialogs and menus it opens are closed again by touch). A
button whose signal was never connected (Content's "+ Add" for blocked topics was one) fails
here."""

from __future__ import annotations

import pytest
from PySide6.QtCore import SIGNAL
from PySide6.QtWidgets import QAbstractButton, QApplication, QFileDialog, QTabBar, QWidget
from pytestqt.qtbot import QtBot

from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.chips import ChipEditor
from famtune_gui.widgets.choice_popup import ChoicePopup
from famtune_gui.widgets.dialogs import TextPrompt, TouchDialog
from tests.gui.conftest import PIN, WAIT_MS, settle, tap
from tests.gui.fake_training import FakeJob

SIGNALS = ("clicked(bool)", "clicked()", "toggled(bool)", "pressed()", "released()")


def connected(button: QAbstractButton) -> bool:
    """Connected to a handler. A chip editor's "+ Add" only re-emits ``add_requested``: the
    editor's owner must listen to that."""
    editor = button.parent()
    if isinstance(editor, ChipEditor) and button is editor.add_button:
        return editor.receivers(SIGNAL("add_requested()")) > 0
    return any(button.receivers(SIGNAL(s)) > 0 for s in SIGNALS) or button.group() is not None


def _close_popups() -> None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, TouchDialog) and widget.isVisible():
            widget.reject()
        for popup in widget.findChildren(ChoicePopup):
            popup.hide()


def _buttons(root: QWidget) -> list[QAbstractButton]:
    return [
        b
        for b in root.findChildren(QAbstractButton)
        if b.isVisible() and b.isEnabled() and not isinstance(b.parent(), QTabBar)
    ]


def _tap_all(qtbot: QtBot, session: EngineSession, root: QWidget, where: str) -> int:
    tapped = 0
    for button in _buttons(root):
        try:
            if not (button.isVisible() and button.isEnabled()):
                continue
        except RuntimeError:  # rebuilt by an earlier tap
            continue
        name = button.text() or button.accessibleName() or type(button).__name__
        assert connected(button), f"{where}: {name!r} is not connected to anything"
        tap(button)
        tapped += 1
        qtbot.wait(5)
        _close_popups()
        settle(qtbot, session)
    return tapped


def test_every_button_of_every_screen_is_connected_and_can_be_tapped(
    qtbot: QtBot, window: MainWindow, session: EngineSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    session.train_factory = FakeJob(steps=3)
    total = 0
    for name in ("home", "family", "models", "metrics"):
        screen = window.show_screen(name)
        settle(qtbot, session)
        total += _tap_all(qtbot, session, screen, name)
        qtbot.waitUntil(lambda: not session.training, timeout=WAIT_MS)
    family = window.show_screen("family")
    assert isinstance(family, FamilyScreen)
    family.page_choice.set_value("family")
    family._page("family")
    total += _tap_all(qtbot, session, family, "family preferences")
    family.revert()
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    total += _tap_all(qtbot, session, parents.gate, "parents gate")
    for tab in range(parents.tabs.count()):
        if not session.lock.unlocked:
            parents.gate.pad.clear()
            parents.gate.pad.type_pin(PIN)
            qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
        parents.tabs.setCurrentIndex(tab)
        settle(qtbot, session)
        page = parents.tabs.currentWidget()
        buttons = [b for b in _buttons(page) if b is not parents.lock_button]
        for button in buttons:
            assert connected(button), f"parents tab {tab}: {button.text()!r}"
        total += _tap_all(qtbot, session, page, f"parents tab {tab}")
    assert total > 60


def test_the_blocked_topics_add_button_adds_a_topic(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    tap(parents.limits.blocked.add_button)
    prompt = next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, TextPrompt) and w.isVisible()
    )
    prompt.edit.setText("Horror films")
    tap(prompt.ok_button)
    assert "horror_films" in parents.limits.blocked.values()
    tap(parents.save_button)
    settle(qtbot, session)
    assert session.profile is not None
    assert "horror_films" in session.profile.safety_settings.blocked_topics
