"""Home's moment follows the clock unless a parent pins it (visibly, with "Back to now"); who
is here stays as tapped when the moment changes; loading says loading; late on a school
night a young child gets wind-down ideas with a sentence about bedtime."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pytestqt.qtbot import QtBot

from engine.general.ranking import WIND_DOWN_NOTE
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.home import HomeScreen
from famtune_gui.session import EngineSession
from tests.gui.conftest import WAIT_MS, FakeClock, last_wednesday_evening, settle, tap


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _open(
    qtbot: QtBot, home: Path, clock: FakeClock, wall: WallClock
) -> tuple[MainWindow, HomeScreen, EngineSession]:
    session = EngineSession(home, "development", clock=clock, local_clock=wall)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1024, 600)
    window.show()
    screen = window.screens["home"]
    assert isinstance(screen, HomeScreen)
    return window, screen, session


def test_the_moment_follows_the_clock_unless_pinned(
    qtbot: QtBot, smith_home: Path, clock: FakeClock
) -> None:
    wall = WallClock(last_wednesday_evening().replace(hour=15))  # afternoon
    window, home, session = _open(qtbot, smith_home, clock, wall)
    try:
        qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
        assert home.time_choice.value() == "afternoon" and not home.pinned
        # only Emma is here
        tap(home.avatars[0])
        assert home.present() == ["child-emma"]
        # the clock moves on: the moment follows, and Emma alone stays selected
        wall.now += timedelta(hours=8, minutes=43)  # 23:43
        home.follow_clock()
        assert home.time_choice.value() == "night" and home.present() == ["child-emma"]
        # a parent pins the afternoon: it says so, and the clock no longer moves it
        home.time_choice._pick("afternoon")
        assert home.pinned and home.now_button.isVisible()
        assert home.present() == ["child-emma"]  # changing the moment keeps who is here
        settle(qtbot, session)
        qtbot.waitUntil(lambda: "Pinned to afternoon" in home.status.text(), timeout=WAIT_MS)
        home.follow_clock()
        assert home.time_choice.value() == "afternoon"
        tap(home.now_button)  # back to now
        assert not home.pinned and not home.now_button.isVisible()
        assert home.time_choice.value() == "night"
        settle(qtbot, session)
    finally:
        window.close()
        session.close()


def test_late_on_a_school_night_a_child_gets_wind_down_ideas(
    qtbot: QtBot, smith_home: Path, clock: FakeClock
) -> None:
    wall = WallClock(last_wednesday_evening().replace(hour=23))  # Wednesday 23:30
    window, home, session = _open(qtbot, smith_home, clock, wall)
    try:
        qtbot.waitUntil(lambda: home.last_batch is not None, timeout=WAIT_MS)
        tap(home.avatars[0])  # Emma alone
        home.refresh()
        qtbot.waitUntil(lambda: home.note == WIND_DOWN_NOTE, timeout=WAIT_MS)
        settle(qtbot, session)
        assert home.status.text().startswith(WIND_DOWN_NOTE)
        assert home.last_batch is not None
        for card in home.cards.cards:
            assert "fort" not in card.title.text().lower()
    finally:
        window.close()
        session.close()


def test_loading_says_loading(qtbot: QtBot, smith_home: Path, clock: FakeClock) -> None:
    wall = WallClock(last_wednesday_evening())
    session = EngineSession(smith_home, "development", clock=clock, local_clock=wall)
    try:
        home = HomeScreen(session)
        qtbot.addWidget(home)
        assert "Loading" in home.cards.empty.text()
        assert "No family" not in home.cards.empty.text()
    finally:
        session.close()
