"""Touch rules on every screen at 1024x600: each visible button is at least 48x48 px, scroll
bars are wide, and every scrolling area scrolls by dragging (kinetic)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QScrollBar, QScroller, QWidget
from pytestqt.qtbot import QtBot

from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from tests.gui.conftest import PIN, WAIT_MS, settle

MIN_TARGET = 48


def _small_buttons(root: QWidget) -> list[str]:
    small = []
    for button in root.findChildren(QAbstractButton):
        if button.isVisibleTo(root) and button.isVisible():
            size = button.size()
            if size.width() < MIN_TARGET or size.height() < MIN_TARGET:
                name = button.text() or button.accessibleName() or type(button).__name__
                small.append(f"{name!r} {size.width()}x{size.height()}")
    return small


def _check(root: QWidget) -> None:
    assert _small_buttons(root) == []
    for bar in root.findChildren(QScrollBar):
        if bar.isVisible():
            thickness = min(bar.width(), bar.height())
            assert thickness >= 20, f"scroll bar {thickness} px"
    for area in root.findChildren(QAbstractScrollArea):
        if area.isVisible() and area.verticalScrollBar().maximum() > 0:
            assert QScroller.hasScroller(area.viewport()), type(area).__name__


@pytest.mark.parametrize("size", [(1024, 600), (1280, 800)])
def test_every_screen_has_finger_sized_targets(
    qtbot: QtBot, window: MainWindow, session: EngineSession, size: tuple[int, int]
) -> None:
    window.resize(*size)
    for name in ("home", "family", "parents", "models", "metrics"):
        window.show_screen(name)
        settle(qtbot, session)
        qtbot.wait(20)
        _check(window)
    family = window.show_screen("family")
    assert isinstance(family, FamilyScreen)
    family.page_choice.set_value("family")
    family._page("family")
    qtbot.wait(20)
    _check(window)
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    parents.gate.pad.type_pin(PIN)
    qtbot.waitUntil(lambda: session.lock.unlocked, timeout=WAIT_MS)
    for tab in range(parents.tabs.count()):
        parents.tabs.setCurrentIndex(tab)
        settle(qtbot, session)
        qtbot.wait(20)
        _check(window)
        tabs = parents.tabs.tabBar()
        assert all(tabs.tabRect(i).height() >= MIN_TARGET for i in range(tabs.count()))
    parents.tabs.setCurrentIndex(1)
    parents.time_limits.add_window()
    qtbot.wait(20)
    _check(window)
