"""First run: a parent sets up their own family in five steps (name, members, PIN, limits
and bedtime, recovery code) while famtune prepares itself in the background; or tries the
demo family, which is then labelled as a demo everywhere."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from engine import app as actions
from engine.domain import audit, families, pin, pin_recovery
from engine.domain.home import Famtune
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.firstrun import FirstRunScreen
from famtune_gui.screens.home import DEMO_NOTE, HomeScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.keyboard import enable_keyboard
from famtune_gui.widgets.pickers import ChoiceButton
from tests.conftest import clone_home
from tests.gui.conftest import WAIT_MS, settle, tap


@pytest.fixture
def keyboard() -> Iterator[None]:
    enable_keyboard(True)
    yield
    enable_keyboard(False)


@pytest.fixture
def fresh(
    tmp_path: Path, template_home: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[str]]:
    """An empty data directory; ``actions.initialize`` stands in for the real one (which
    assembles the base model for a minute) and leaves the template's files behind."""
    home = tmp_path / "fresh"
    said: list[str] = []

    def initialize(ft: Any, say: Callable[[str], None], demo: bool = True) -> dict[str, Any]:
        say("data directory ready")
        time.sleep(0.3)  # the parent is already on step 1 meanwhile
        clone_home(template_home, home)
        if demo:
            Famtune(home, profile="development").load_demo_family()
        say("base model verified")
        said.append("demo" if demo else "own")
        return {"home": str(home)}

    monkeypatch.setattr(actions, "initialize", initialize)
    return home, said


def _choose(button: ChoiceButton, value: str) -> None:
    """Tap the choice button, then the option in the list it opens."""
    tap(button)
    assert button.popup is not None and button.popup.isVisible()
    tap(button.popup.options[value])
    assert button.value() == value


def _window(qtbot: QtBot, session: EngineSession) -> MainWindow:
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1024, 600)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    return win


def test_a_parent_sets_up_their_own_family(
    qtbot: QtBot,
    fresh: tuple[Path, list[str]],
    make_session: Callable[[Path], EngineSession],
    keyboard: None,
) -> None:
    home, said = fresh
    session = make_session(home)
    win = _window(qtbot, session)
    setup = win.first_run
    assert setup is not None and not win.nav_buttons["home"].isVisible()
    tap(setup.start_button)
    assert setup.index == 1 and setup.step_label.text() == "Step 1 of 5"
    assert setup.running  # preparing in the background while the parent types
    # an empty name is refused next to the field
    tap(setup.next_button)
    assert setup.index == 1 and setup.name_page.field.note.text() == "Type your family's name."
    # the name, typed on the on-screen keyboard that opened in the window
    setup.name_page.field.edit.setFocus()
    qtbot.waitUntil(lambda: win.keyboard.isVisible(), timeout=2000)
    win.keyboard.type_text("Rivera")
    assert setup.name_page.name() == "Rivera"
    tap(win.keyboard.key("hide"))
    assert not win.keyboard.isVisible()
    tap(setup.next_button)
    assert setup.index == 2
    members = setup.members_page
    tap(setup.next_button)  # nobody yet
    assert setup.index == 2 and members.name.note.text() == "Add at least one person."
    members.name.edit.setText("Leo")
    members.age.set_value(5)
    _choose(members.role_choice, "child")
    tap(members.interests.chips["animals"])
    tap(members.add_button)
    tap(setup.next_button)  # a child alone is not enough
    assert "grown-up" in members.name.note.text()
    members.name.edit.setText("Ana")
    members.age.set_value(39)
    _choose(members.role_choice, "parent")
    tap(members.add_button)
    assert [m["displayName"] for m in members.members] == ["Leo", "Ana"]
    tap(members.rows[0].findChildren(type(members.add_button))[0])  # Remove Leo...
    assert [m["displayName"] for m in members.members] == ["Ana"]
    members.name.edit.setText("Leo")  # ...and add him back, by tapping Next with his name
    members.age.set_value(5)
    _choose(members.role_choice, "child")
    tap(setup.next_button)
    assert setup.index == 3 and len(members.members) == 2
    pad = setup.pin_page.pad
    tap(setup.next_button)
    assert setup.index == 3 and "twice" in pad.message.text()
    pad.type_pin("2580")
    pad.type_pin("2580")
    tap(setup.next_button)
    assert setup.index == 4
    limits = setup.limits_page
    tap(limits.days.buttons["every"])
    tap(setup.next_button)
    assert setup.index == 5 and setup.next_button.text() == "Finish"
    code = setup.code_page.card.text()
    assert pin_recovery.normalize_code(code)
    tap(setup.back_button)  # back and forth keeps everything
    assert setup.index == 4
    tap(setup.next_button)
    assert setup.code_page.card.text() == code
    tap(setup.next_button)  # Finish
    qtbot.waitUntil(lambda: win.first_run is None, timeout=WAIT_MS)
    settle(qtbot, session)
    assert said == ["own"]
    assert win.nav_buttons["home"].isVisible()
    assert isinstance(win.stack.currentWidget(), HomeScreen)
    assert win.family_label.text() == "Rivera family"
    qtbot.waitUntil(lambda: session.profile is not None, timeout=WAIT_MS)
    assert session.profile is not None and session.profile.family_id == "rivera-family"
    assert session.pin_set
    home_screen = win.screens["home"]
    assert isinstance(home_screen, HomeScreen)
    assert [a.name for a in home_screen.avatars] == ["Ana", "Leo"]
    with session.ft.db.write() as db:
        profile = families.get_profile(db, family_id="rivera-family")
        assert [(m.display_name, m.age, m.role, m.safety_level) for m in profile.members] == [
            ("Ana", 39, "parent", "moderate"),
            ("Leo", 5, "child", "strict"),
        ]
        window = profile.safety_settings.time_restrictions[0]
        assert (window.start_time, window.end_time, len(window.days_of_week)) == (
            "20:00",
            "07:00",
            7,
        )
        assert "games" in window.restricted_content and "reading" not in window.restricted_content
        assert "screens" in window.restricted_content  # calm ideas only, and no screens
        assert pin.check_pin(db, "2580").ok
        kinds = [e.event_type for e in audit.list_events(db, family_id="rivera-family")]
        assert "family_created" in kinds and "profile_imported" not in kinds
        assert pin_recovery.recover_pin(db, code, "1111").ok  # the code shown works


def test_the_demo_family_is_labelled_as_a_demo(
    qtbot: QtBot, fresh: tuple[Path, list[str]], make_session: Callable[[Path], EngineSession]
) -> None:
    home, said = fresh
    session = make_session(home)
    win = _window(qtbot, session)
    assert win.first_run is not None
    tap(win.first_run.demo_button)
    qtbot.waitUntil(lambda: win.first_run is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: session.profile is not None, timeout=WAIT_MS)
    settle(qtbot, session)
    assert said == ["demo"] and session.is_demo
    assert win.family_label.text() == "Demo: Smith family"
    home_screen = win.screens["home"]
    assert isinstance(home_screen, HomeScreen)
    qtbot.waitUntil(lambda: home_screen.last_batch is not None, timeout=WAIT_MS)
    assert DEMO_NOTE in home_screen.status.text()


def test_a_data_directory_without_a_family_starts_the_setup(
    qtbot: QtBot, home: Path, make_session: Callable[[Path], EngineSession]
) -> None:
    session = make_session(home)  # initialized (e.g. by `famtune-engine init --no-demo`)
    win = _window(qtbot, session)
    qtbot.waitUntil(lambda: win.first_run is not None, timeout=WAIT_MS)
    setup = win.first_run
    assert isinstance(setup, FirstRunScreen) and setup.ready
    tap(setup.demo_button)  # nothing to prepare: the demo family is loaded at once
    qtbot.waitUntil(lambda: win.first_run is None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: session.is_demo, timeout=WAIT_MS)
    assert win.family_label.text() == "Demo: Smith family"
