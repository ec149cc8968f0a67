"""Input limits say what they did, names are required, old errors go away; nothing moves
under a finger (the banner floats over the top bar, the PIN pad keeps room for its message);
a family made with "New family" is named in the header while it is edited, audited as
created, and the form keeps the member being edited after Save."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.domain import audit, families
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.family import FamilyScreen
from famtune_gui.screens.home import HomeScreen
from famtune_gui.screens.parental import ParentalScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.avatar import AvatarButton
from famtune_gui.widgets.dialogs import TextPrompt
from tests.gui.conftest import WAIT_MS, settle, tap


def _family(qtbot: QtBot, window: MainWindow) -> FamilyScreen:
    screen = window.show_screen("family")
    assert isinstance(screen, FamilyScreen)
    qtbot.waitUntil(lambda: screen.doc is not None, timeout=WAIT_MS)
    return screen


def _prompt() -> TextPrompt:
    return next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, TextPrompt) and w.isVisible()
    )


def test_pasted_text_over_the_limit_is_cut_with_a_note(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    tap(screen.add_member_button)
    prompt = _prompt()
    prompt.edit.paste_text = "x" * 10_000  # type: ignore[attr-defined]
    prompt.edit.setText("x" * 10_000)  # what a paste does to the text
    assert len(prompt.edit.text()) == 80
    assert "only the first 80 characters were kept (9,920 cut)" in prompt.field.note.text()
    prompt.edit.setText("")
    tap(prompt.ok_button)  # empty: refused next to the field, the dialog stays
    assert prompt.isVisible() and "Type something" in prompt.field.note.text()
    tap(prompt.cancel_button)
    # the member form's name field says it too, next to the field
    screen.member_form.name.setText("y" * 200)
    assert screen.member_form.name.text() == "y" * 80
    error = screen.member_form.errors["displayName"]
    assert error.isVisibleTo(screen) and "120 were cut" in error.text()
    # a tag prompt: 40 characters
    tap(screen.member_form.interests.add_button)
    tag = _prompt()
    tag.edit.setText("z" * 45)
    assert len(tag.edit.text()) == 40 and "(5 cut)" in tag.field.note.text()
    tap(tag.cancel_button)


def test_an_empty_member_name_is_refused_next_to_the_field(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    screen.add_member("Zed")
    screen.member_form.name.setText("")
    screen.member_form.name.textEdited.emit("")
    tap(screen.save_button)
    settle(qtbot, session)
    error = screen.member_form.errors["displayName"]
    assert error.isVisibleTo(screen) and "needs a name" in error.text()
    assert not window.banner.text.text().startswith("Saved")
    with session.ft.db.read() as db:
        assert len(families.get_profile(db, family_id="smith-family").members) == 2


def test_a_new_import_clears_the_old_error(
    qtbot: QtBot, window: MainWindow, session: EngineSession, tmp_path: Path
) -> None:
    screen = _family(qtbot, window)
    broken = tmp_path / "broken.json"
    broken.write_text(
        '{"familyId": "x", "members": [{"userId": "a", "age": 300, "role": "child"}]}'
    )
    screen.import_file(broken)
    settle(qtbot, session)
    assert screen.member_form.errors["age"].isVisibleTo(screen)
    other = tmp_path / "other.json"
    other.write_text('{"familyId": "y", "members": [{"userId": "b", "age": 9, "role": "pirate"}]}')
    screen.import_file(other)
    settle(qtbot, session)
    error = screen.member_form.errors["role"]  # age, role and learning style share a line
    assert error.isVisibleTo(screen) and "Role" in error.text()
    assert "120" not in error.text()  # the old error is gone


def test_long_names_are_elided_inside_the_avatar_row(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    long = AvatarButton("m", "Bartholomew-Maximilian " * 4)
    assert long.width() <= AvatarButton.MAX_W
    assert long.shown_name().endswith("…") and long.accessibleName().startswith("Bartholomew")
    home = window.screens["home"]
    assert isinstance(home, HomeScreen)
    assert all(a.geometry().right() <= home.who.width() for a in home.avatars)


def test_the_banner_moves_nothing_and_the_pin_pad_keeps_still(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    before = window.stack.geometry()
    session.notify("Saved Rivera. " * 6)
    qtbot.wait(20)
    assert window.banner.isVisible() and window.stack.geometry() == before
    assert window.banner.geometry().top() < window.stack.geometry().top()
    tap(window.banner.ok)
    assert not window.banner.isVisible() and window.stack.geometry() == before
    parents = window.show_screen("parents")
    assert isinstance(parents, ParentalScreen)
    pad = parents.gate.pad
    keys = {k: b.mapTo(window, b.rect().topLeft()) for k, b in pad.keys.items()}
    pad.set_message(
        "Wrong PIN. Wait 8 seconds before trying again. 3 tries left before a 1-hour lockout.\n"
        "Try again in 8 s.",
        error=True,
    )
    qtbot.wait(20)
    assert {k: b.mapTo(window, b.rect().topLeft()) for k, b in pad.keys.items()} == keys


def test_a_new_family_is_named_in_the_header_audited_as_created_and_keeps_its_member(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _family(qtbot, window)
    assert window.family_label.text() == "Smith family"
    screen.new_family("Rivera")
    assert window.family_label.text() == "Rivera family (new, not saved yet)"
    screen.add_member("Leo")
    screen.select_member(1)
    tap(screen.save_button)
    qtbot.waitUntil(lambda: session.family_id == "rivera-family", timeout=WAIT_MS)
    settle(qtbot, session)
    assert screen.current == 1  # still editing Leo
    assert screen.member_form.name.text() == "Leo"
    assert "Rivera" in window.family_choice.text() or "Rivera" in window.family_label.text()
    with session.ft.db.read() as db:
        kinds = [e.event_type for e in audit.list_events(db, family_id="rivera-family")]
    assert kinds == ["family_created"]
    doc = json.dumps(screen.document())
    assert "Leo" in doc
