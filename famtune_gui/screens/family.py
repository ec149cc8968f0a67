"""Family: the members and their editor, the family's preferences, import and export of the
seed's profile JSON. Validation errors appear next to the field the engine names."""

from __future__ import annotations

import copy
import re
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import FamilyProfile, name_parts
from engine.base.errors import ValidationFailed
from famtune_gui.fmt import field_words, plain_error, slug, words
from famtune_gui.pin_prompt import with_pin
from famtune_gui.qtmodels import ObjectListModel
from famtune_gui.screens.forms import FamilyForm, Form, MemberForm
from famtune_gui.session import EngineSession
from famtune_gui.theme import icon, kinetic, role
from famtune_gui.widgets.chips import ChipEditor
from famtune_gui.widgets.dialogs import TextPrompt
from famtune_gui.widgets.pickers import Segmented

MEMBER_PATH = re.compile(r"^members\[(\d+)\]\.(.+)$")


def member_label(member: dict[str, Any]) -> str:
    name = (
        member.get("displayName")
        or " ".join(p.capitalize() for p in name_parts(str(member.get("userId", ""))))
        or member.get("userId")
    )
    return f"{name} · {member.get('age', '?')} · {words(str(member.get('role', '')))}"


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    kinetic(area)
    return area


class FamilyScreen(QWidget):
    title = "Family"

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.doc: dict[str, Any] | None = None
        self.saved_ids: set[str] = set()
        self.dirty = False
        self.drafting = False  # a new family made here, not saved yet
        self.members: ObjectListModel[dict[str, Any]] = ObjectListModel(member_label)
        self.current = -1

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)
        top = QHBoxLayout()
        self.page_choice = Segmented([("members", "Members"), ("family", "Whole family")])
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        self.new_button = QPushButton("New family")
        top.addWidget(self.page_choice, 1)
        for button in (self.import_button, self.export_button, self.new_button):
            top.addWidget(button)
        layout.addLayout(top)

        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)
        members_page = QWidget()
        row = QHBoxLayout(members_page)
        row.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        self.member_list = QListView()
        self.member_list.setModel(self.members)
        self.member_list.setFixedWidth(260)
        kinetic(self.member_list)
        self.add_member_button = QPushButton("Add")
        self.add_member_button.setIcon(icon("plus"))
        self.remove_member_button = QPushButton("Remove")
        left.addWidget(self.member_list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_member_button)
        buttons.addWidget(self.remove_member_button)
        left.addLayout(buttons)
        row.addLayout(left)
        self.member_form = MemberForm()
        row.addWidget(scrolled(self.member_form), 1)
        self.family_form = FamilyForm()
        self.empty = self._empty_page()
        self.pages.addWidget(members_page)
        self.pages.addWidget(scrolled(self.family_form))
        self.pages.addWidget(self.empty)

        bottom = QHBoxLayout()
        self.general_error = QLabel()
        role(self.general_error, "error")
        self.general_error.setWordWrap(True)
        self.revert_button = QPushButton("Undo changes")
        self.save_button = QPushButton("Save")
        role(self.save_button, "primary")
        self.save_button.setMinimumWidth(140)
        bottom.addWidget(self.general_error, 1)
        bottom.addWidget(self.revert_button)
        bottom.addWidget(self.save_button)
        layout.addLayout(bottom)

        self.page_choice.set_value("members")
        self.page_choice.changed.connect(self._page)
        self.member_list.clicked.connect(self._member_clicked)
        self.member_form.changed.connect(self._member_edited)
        self.family_form.changed.connect(self._family_edited)
        for form in (self.member_form, self.family_form):
            form.add_tag.connect(self._ask_tag)
        self.add_member_button.clicked.connect(self._ask_new_member)
        self.remove_member_button.clicked.connect(self._remove_member)
        self.import_button.clicked.connect(self._choose_import)
        self.export_button.clicked.connect(self._choose_export)
        self.new_button.clicked.connect(self._ask_new_family)
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self.save)
        session.profile_loaded.connect(self._profile_loaded)
        session.family_selected.connect(self._family_selected)
        session.vocabulary_loaded.connect(self._vocabulary)
        self._vocabulary(session.vocabulary)
        session.load_vocabulary()
        if session.profile is not None:
            self._profile_loaded(session.profile)
        else:
            self._family_selected(session.family_id or "")

    def _empty_page(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addStretch(1)
        text = QLabel(
            "No family yet. Import your family's profile, start a new one, "
            "or try famtune with the demo family."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(text)
        self.demo_button = QPushButton("Load the demo family")
        role(self.demo_button, "primary")
        self.demo_button.clicked.connect(self.load_demo)
        col.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addStretch(2)
        return page

    def _vocabulary(self, vocabulary: actions.Vocabulary) -> None:
        self.member_form.set_suggestions(vocabulary.topics, vocabulary.sensitive)
        self.family_form.set_suggestions(vocabulary.categories)

    # -- loading -------------------------------------------------------------------------------

    def _family_selected(self, family_id: str) -> None:
        if not family_id:
            self.doc = None
            self.members.set_items([])
            self.pages.setCurrentWidget(self.empty)
            self._set_dirty(False)

    def _profile_loaded(self, profile: FamilyProfile) -> None:
        if self.dirty and self.doc is not None and self.doc.get("familyId") == profile.family_id:
            return  # keep the parent's unsaved edits
        same = self.doc is not None and self.doc.get("familyId") == profile.family_id
        self.set_document(profile.to_json(), saved=True, keep=self.current if same else 0)

    def set_document(self, doc: dict[str, Any], *, saved: bool, keep: int = 0) -> None:
        """Show ``doc``; ``keep``: the member to select (the one being edited before)."""
        self.current = -1
        self.doc = copy.deepcopy(doc)
        if saved:
            self.saved_ids = {str(m["userId"]) for m in doc.get("members", [])}
        self.members.set_items(self.doc.get("members", []))
        self.family_form.load(self.doc)
        self._clear_errors()
        self._page(self.page_choice.value() or "members")
        count = len(self.doc.get("members", []))
        self.select_member(min(max(keep, 0), count - 1) if count else -1)
        self._set_dirty(not saved)
        if saved:
            self._set_drafting(False)

    def _set_drafting(self, drafting: bool) -> None:
        self.drafting = drafting
        name = str((self.doc or {}).get("familyName") or "") if drafting else ""
        self.session.draft_changed.emit(name)

    def select_member(self, row: int) -> None:
        self._store_member()
        self.current = row
        if self.doc is None or not 0 <= row < len(self.doc["members"]):
            self.member_form.setEnabled(False)
            return
        self.member_form.setEnabled(True)
        self.member_form.load(self.doc["members"][row])
        self.member_list.setCurrentIndex(self.members.index(row))

    def _page(self, page: str) -> None:
        if self.doc is None:
            self.pages.setCurrentWidget(self.empty)
        else:
            self.pages.setCurrentIndex(0 if page == "members" else 1)

    def _member_clicked(self, index: QModelIndex) -> None:
        self.select_member(index.row())

    # -- editing -------------------------------------------------------------------------------

    def _store_member(self) -> None:
        if self.doc is not None and 0 <= self.current < len(self.doc["members"]):
            self.doc["members"][self.current] = self.member_form.dump()

    def _member_edited(self) -> None:
        self._store_member()
        if self.doc is not None and 0 <= self.current < len(self.doc["members"]):
            self.members.replace(self.current, self.doc["members"][self.current])
        self._set_dirty(True)

    def _family_edited(self) -> None:
        if self.doc is not None:
            self.family_form.dump_into(self.doc)
        self._set_dirty(True)

    def _set_dirty(self, dirty: bool) -> None:
        self.dirty = dirty
        self.save_button.setEnabled(dirty and self.doc is not None)
        self.revert_button.setEnabled(dirty)
        self.export_button.setEnabled(self.doc is not None and not dirty)

    def _ask_tag(self, editor: ChipEditor) -> None:
        prompt = TextPrompt("Add a tag", "A word or two, e.g. 'dinosaurs'", parent=self)
        prompt.text_entered.connect(editor.add_value)
        prompt.finished.connect(prompt.deleteLater)
        prompt.open()

    def _ask_new_member(self) -> None:
        prompt = TextPrompt("Add a member", "Their name", max_length=80, parent=self)
        prompt.text_entered.connect(self.add_member)
        prompt.finished.connect(prompt.deleteLater)
        prompt.open()

    def add_member(self, name: str) -> None:
        if self.doc is None:
            return
        self._store_member()
        taken = {str(m["userId"]).lower() for m in self.doc["members"]}
        base, n = slug(name), 2
        user_id = base
        while user_id.lower() in taken:
            user_id, n = f"{base}-{n}", n + 1
        self.doc["members"].append(
            {
                "userId": user_id,
                "displayName": name,
                "age": 10,
                "role": "child",
                "safetyLevel": "strict",
                "preferences": {},
            }
        )
        self.members.append(self.doc["members"][-1])
        self.select_member(len(self.doc["members"]) - 1)
        self._set_dirty(True)

    def _remove_member(self) -> None:
        if self.doc is None or not 0 <= self.current < len(self.doc["members"]):
            return
        member = self.doc["members"][self.current]
        if member["userId"] in self.saved_ids:
            self.session.notify(
                "To remove a saved member and everything stored about them, "
                "use Parents → Data → Erase a member.",
                "info",
            )
            return
        del self.doc["members"][self.current]
        self.members.remove(self.current)
        self.current = -1
        self.select_member(0)
        self._set_dirty(True)

    def _ask_new_family(self) -> None:
        prompt = TextPrompt("New family", "The family's name", max_length=80, parent=self)
        prompt.text_entered.connect(self.new_family)
        prompt.finished.connect(prompt.deleteLater)
        prompt.open()

    def new_family(self, name: str) -> None:
        known = {r.family_id for r in self.session.families}
        base, n = f"{slug(name)}-family", 2
        family_id = base
        while family_id in known:
            family_id, n = f"{base}-{n}", n + 1
        self.set_document(
            {
                "familyId": family_id,
                "familyName": name,
                "members": [
                    {
                        "userId": "parent",
                        "displayName": "Parent",
                        "age": 35,
                        "role": "parent",
                        "safetyLevel": "moderate",
                        "preferences": {},
                    }
                ],
            },
            saved=False,
        )
        self.saved_ids = set()
        self._set_drafting(True)

    def revert(self) -> None:
        self._set_dirty(False)
        self._set_drafting(False)
        if self.session.profile is not None:
            self.set_document(self.session.profile.to_json(), saved=True)
        else:
            self._family_selected("")

    # -- saving --------------------------------------------------------------------------------

    def document(self) -> dict[str, Any] | None:
        """The edited profile document as it stands."""
        self._store_member()
        if self.doc is not None:
            self.family_form.dump_into(self.doc)
        return copy.deepcopy(self.doc) if self.doc is not None else None

    def save(self) -> None:
        doc = self.document()
        if doc is None:
            return
        self._clear_errors()
        unnamed = next(
            (
                i
                for i, m in enumerate(doc["members"])
                if "displayName" in m and not str(m["displayName"]).strip()
            ),
            None,
        )
        if unnamed is not None:
            self.show_validation_error(
                ValidationFailed(f"members[{unnamed}].displayName", "every member needs a name")
            )
            return
        self.session.run(
            partial(actions.prepare_profile, self.session.ft, doc),
            self._prepared,
            self._refused,
            owner=self,
            what="checking the profile",
        )

    def _prepared(self, change: actions.ProfileChange) -> None:
        commit = partial(self._commit, change.profile)
        if change.needs_pin:
            with_pin(self.session, self, "Saving safety changes", commit)
        else:
            commit()

    def _commit(self, profile: FamilyProfile) -> None:
        created = self.drafting and profile.family_id not in {
            r.family_id for r in self.session.families
        }
        self.session.run(
            partial(actions.save_profile, self.session.ft, profile, created),
            self._saved,
            self._refused,
            owner=self,
            what="saving the profile",
        )

    def _saved(self, profile: FamilyProfile) -> None:
        self._set_dirty(False)
        self.set_document(profile.to_json(), saved=True, keep=self.current)
        self.session.profile_saved(profile)
        self.session.notify(f"Saved {profile.family_name or profile.family_id}.")

    def _clear_errors(self) -> None:
        self.general_error.clear()
        self.member_form.clear_errors()
        self.family_form.clear_errors()

    def _refused(self, exc: BaseException) -> None:
        if not isinstance(exc, ValidationFailed):
            self.session.report(exc, "saving the profile")
            return
        self.show_validation_error(exc)

    def show_validation_error(self, exc: ValidationFailed) -> None:
        """Put the engine's message next to the field it names."""
        match = MEMBER_PATH.match(exc.field)
        shown = False
        form: Form | None = None
        if match:
            self.page_choice.set_value("members")
            self._page("members")
            self.select_member(int(match.group(1)))
            form, key = self.member_form, match.group(2)
        elif exc.field.startswith(("familyName", "preferences")):
            self.page_choice.set_value("family")
            self._page("family")
            form, key = self.family_form, exc.field
        if form is not None:
            shown = form.show_error(key, exc.detail)
        if not shown:
            where = field_words(exc.field)
            self.general_error.setText(f"{where}: {exc.detail}" if where else exc.detail)
        self.session.notify("Not saved: " + plain_error(exc), "error")

    # -- import and export ---------------------------------------------------------------------

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a family profile", str(Path.home()), "Family profile (*.json)"
        )
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        self._clear_errors()

        def read(change: actions.ProfileChange) -> None:
            self.set_document(change.profile.to_json(), saved=False)
            self._prepared(change)

        self.session.run(
            partial(actions.read_profile_file, self.session.ft, path),
            read,
            self._refused,
            owner=self,
            what="importing the profile",
        )

    def _choose_export(self) -> None:
        if self.doc is None:
            return
        name = f"{self.doc['familyId']}.json"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the family profile", str(Path.home() / name), "Family profile (*.json)"
        )
        if path:
            self.export_file(Path(path))

    def export_file(self, path: Path) -> None:
        family_id = self.doc["familyId"] if self.doc else None
        if not family_id:
            return
        self.session.run(
            partial(actions.export_profile, self.session.ft, family_id, path),
            lambda p: self.session.notify(f"Exported to {p}."),
            owner=self,
            what="exporting the profile",
        )

    def load_demo(self) -> None:
        self.session.run(
            partial(actions.load_demo_family, self.session.ft),
            lambda refs: self.session.refresh_families(select="smith-family"),
            owner=self,
            what="loading the demo family",
        )
