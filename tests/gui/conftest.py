"""Fixtures for the GUI tests: an engine session over a fresh data directory (the shared
``home`` fixture), with or without the smith family and a parental PIN, and the window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from engine.db.tables import utcnow
from engine.domain import families, pin
from engine.domain.home import Famtune
from engine.schema.profiles import parse_profile
from famtune_gui.mainwindow import MainWindow
from famtune_gui.session import EngineSession
from famtune_gui.theme import apply_theme

PIN = "2468"
WAIT_MS = 20_000


class FakeClock:
    """The time the PIN checks see; tests move it forward instead of sleeping."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def last_wednesday_evening() -> datetime:
    """17:30 on a Wednesday a week or two ago: evening, a weekday, and not in the future
    (interactions from the future are refused)."""
    today = datetime.now()
    day = today - timedelta(days=(today.weekday() - 2) % 7 + 7)
    return day.replace(hour=17, minute=30, second=0, microsecond=0)


@pytest.fixture
def smith_home(home: Path, smith_profile: dict[str, Any]) -> Path:
    """A data directory with the smith family and the parental PIN 2468."""
    ft = Famtune(home, profile="development")
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
        pin.set_pin(session, PIN)
    ft.close()
    return home


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_session(clock: FakeClock) -> Iterator[Callable[[Path], EngineSession]]:
    made: list[EngineSession] = []

    def make(home: Path) -> EngineSession:
        session = EngineSession(
            home, "development", clock=clock, local_clock=last_wednesday_evening
        )
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


@pytest.fixture
def session(smith_home: Path, make_session: Callable[[Path], EngineSession]) -> EngineSession:
    return make_session(smith_home)


def tap(widget: QWidget, pos: QPoint | None = None) -> None:
    """A finger tap (press and release) on ``widget``, at ``pos`` or its center."""
    QTest.mouseClick(
        widget,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        pos if pos is not None else widget.rect().center(),
    )


def settle(qtbot: QtBot, session: EngineSession, timeout: int = WAIT_MS) -> None:
    """Wait until every background operation has delivered its result."""
    qtbot.waitUntil(lambda: session.bridge.pending == 0, timeout=timeout)
    qtbot.wait(10)


@pytest.fixture(autouse=True)
def themed(qapp: QApplication) -> None:
    """The app's one theme, as ``famtune`` starts with it (sizes depend on it)."""
    if not qapp.property("famtune-themed"):
        apply_theme(qapp)
        qapp.setProperty("famtune-themed", True)


@pytest.fixture
def window(qtbot: QtBot, session: EngineSession) -> MainWindow:
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1024, 600)
    win.show()
    qtbot.waitUntil(lambda: session.profile is not None, timeout=WAIT_MS)
    settle(qtbot, session)
    return win
