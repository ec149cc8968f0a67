"""Forms for the family screen: labelled fields with an error line under each (filled from
``ValidationFailed.field``), the member editor and the family-preferences editor. They edit
the seed's camelCase profile document; the engine validates it on save."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, get_args

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.app import CommunicationStyle, Difficulty, LearningStyle, Role, SafetyLevel
from famtune_gui.fmt import words
from famtune_gui.theme import role
from famtune_gui.widgets.chips import ChipEditor
from famtune_gui.widgets.limited_edit import LimitedLineEdit
from famtune_gui.widgets.pickers import ChoiceButton, Segmented, Stepper

NAME_LIMIT = 80


def cut_text(dropped: int) -> str:
    return f"Names have at most {NAME_LIMIT} characters: {dropped:,} were cut."


def options(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(v, words(v)) for v in values]


def field_key(path: str) -> str:
    """'preferences.interests[2]' -> 'preferences.interests'."""
    return re.sub(r"\[\d+\]$", "", path)


class Form(QWidget):
    """Rows of (label, widget, error line). ``show_error(key, message)`` finds the row."""

    changed = Signal()
    add_tag = Signal(object)  # the ChipEditor that wants a typed tag

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = QVBoxLayout(self)
        self.rows.setContentsMargins(4, 4, 12, 4)
        self.rows.setSpacing(4)
        self.errors: dict[str, QLabel] = {}
        self._captions: dict[str, str] = {}  # for error lines shared by several fields
        self._loading = False

    def section(self, text: str) -> None:
        label = QLabel(text)
        role(label, "subtitle")
        self.rows.addWidget(label)

    def add(self, key: str, label: str, widget: QWidget, *, note: str = "") -> QWidget:
        caption = QLabel(label + (f"  ({note})" if note else ""))
        role(caption, "small")
        error = QLabel()
        role(error, "error")
        error.setWordWrap(True)
        error.hide()
        self.rows.addWidget(caption)
        self.rows.addWidget(widget)
        self.rows.addWidget(error)
        self.errors[key] = error
        if isinstance(widget, ChipEditor):
            widget.add_requested.connect(lambda w=widget: self.add_tag.emit(w))
        return widget

    def pair(self, *fields: tuple[str, str, QWidget]) -> QWidget:
        """Several small fields (key, caption, widget) side by side, with one error line
        under the row for all of them."""
        box = QWidget()
        outer = QVBoxLayout(box)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(16)
        error = QLabel()
        role(error, "error")
        error.setWordWrap(True)
        error.hide()
        for key, label, widget in fields:
            col = QVBoxLayout()
            col.setSpacing(4)
            caption = QLabel(label)
            role(caption, "small")
            col.addWidget(caption)
            col.addWidget(widget)
            row.addLayout(col)
            self.errors[key] = error
            self._captions[key] = label
        row.addStretch(1)
        outer.addLayout(row)
        outer.addWidget(error)
        self.rows.addWidget(box)
        return box

    def show_error(self, key: str, message: str) -> bool:
        label = self.errors.get(field_key(key))
        if label is None:
            return False
        caption = self._captions.get(field_key(key))
        label.setText(f"{caption}: {message}" if caption else message)
        label.show()
        return True

    def clear_errors(self) -> None:
        for label in self.errors.values():
            label.hide()

    def _edited(self, *_args: Any) -> None:
        if not self._loading:
            self.changed.emit()


class MemberForm(Form):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = LimitedLineEdit(limit=NAME_LIMIT)
        self.name.setPlaceholderText("Name")
        self.name.trimmed.connect(lambda n: self.show_error("displayName", cut_text(n)))
        self.id_label = QLabel()
        role(self.id_label, "small")
        self.age = Stepper(0, 120)
        self.role_choice = ChoiceButton(options(get_args(Role)))
        self.learning = ChoiceButton(options(get_args(LearningStyle)))
        self.difficulty = Segmented(options(get_args(Difficulty)))
        self.safety = Segmented(options(get_args(SafetyLevel)))
        self.interests = ChipEditor()
        self.preferred = ChipEditor()
        self.avoided = ChipEditor()

        self.add("displayName", "Name", self.name)
        self.rows.addWidget(self.id_label)
        self.pair(("age", "Age", self.age), ("role", "Role", self.role_choice))
        self.add("preferences.learningStyle", "Learns best by", self.learning)
        self.add("preferences.difficultyLevel", "Difficulty", self.difficulty)
        self.add("safetyLevel", "Safety level", self.safety, note="parental PIN")
        self.add("preferences.interests", "Interests", self.interests)
        self.add("preferences.preferredTopics", "Favourite topics", self.preferred)
        self.add("preferences.avoidedTopics", "Topics to avoid", self.avoided, note="parental PIN")
        self.rows.addStretch(1)

        self.name.textEdited.connect(self._edited)
        self.age.changed.connect(self._edited)
        self.role_choice.changed.connect(self._edited)
        self.learning.changed.connect(self._edited)
        self.difficulty.changed.connect(self._edited)
        self.safety.changed.connect(self._edited)
        for chips in (self.interests, self.preferred, self.avoided):
            chips.changed.connect(self._edited)
        self._doc: dict[str, Any] = {}

    def set_suggestions(self, topics: Sequence[str], sensitive: Sequence[str]) -> None:
        for value in topics[:18]:
            self.interests.add_chip(value)
            self.preferred.add_chip(value)
        for value in sensitive:
            self.avoided.add_chip(value)

    def load(self, member: dict[str, Any]) -> None:
        self._loading = True
        self._doc = dict(member)
        prefs = dict(member.get("preferences") or {})
        self.name.setText(str(member.get("displayName") or ""))
        self.id_label.setText(f"Member id: {member.get('userId', '')}")
        self.age.set_value(int(member.get("age", 0)))
        self.role_choice.set_value(str(member.get("role", "other")))
        self.learning.set_value(str(prefs.get("learningStyle", "mixed")))
        self.difficulty.set_value(str(prefs.get("difficultyLevel", "beginner")))
        self.safety.set_value(str(member.get("safetyLevel", "moderate")))
        self.interests.set_values(list(prefs.get("interests", [])))
        self.preferred.set_values(list(prefs.get("preferredTopics", [])))
        self.avoided.set_values(list(prefs.get("avoidedTopics", [])))
        self.clear_errors()
        self._loading = False

    def dump(self) -> dict[str, Any]:
        doc = dict(self._doc)
        name = self.name.text().strip()
        if name or "displayName" in doc:
            doc["displayName"] = name  # a name cleared by the parent stays empty: refused
        else:
            doc.pop("displayName", None)
        doc["age"] = self.age.value()
        doc["role"] = self.role_choice.value()
        doc["safetyLevel"] = self.safety.value()
        doc["preferences"] = {
            **dict(doc.get("preferences") or {}),
            "interests": self.interests.values(),
            "learningStyle": self.learning.value(),
            "difficultyLevel": self.difficulty.value(),
            "preferredTopics": self.preferred.values(),
            "avoidedTopics": self.avoided.values(),
        }
        return doc


class FamilyForm(Form):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.family_name = LimitedLineEdit(limit=NAME_LIMIT)
        self.family_name.trimmed.connect(lambda n: self.show_error("familyName", cut_text(n)))
        self.id_label = QLabel()
        role(self.id_label, "small")
        self.style_choice = ChoiceButton(options(get_args(CommunicationStyle)))
        self.categories = ChipEditor()
        self.focus = ChipEditor()
        self.add("familyName", "Family name", self.family_name)
        self.rows.addWidget(self.id_label)
        self.add("preferences.communicationStyle", "How famtune talks", self.style_choice)
        self.add("preferences.contentCategories", "Kinds of activities", self.categories)
        self.add("preferences.educationalFocus", "Learning focus", self.focus)
        self.rows.addStretch(1)
        self.family_name.textEdited.connect(self._edited)
        self.style_choice.changed.connect(self._edited)
        self.categories.changed.connect(self._edited)
        self.focus.changed.connect(self._edited)
        for value in (
            "stem",
            "creativity",
            "literacy",
            "science",
            "math",
            "fitness",
            "languages",
            "music",
            "nature",
        ):
            self.focus.add_chip(value)

    def set_suggestions(self, categories: Sequence[str]) -> None:
        for value in categories:
            self.categories.add_chip(value)

    def load(self, doc: dict[str, Any]) -> None:
        self._loading = True
        prefs = dict(doc.get("preferences") or {})
        self.family_name.setText(str(doc.get("familyName") or ""))
        self.id_label.setText(f"Family id: {doc.get('familyId', '')}")
        self.style_choice.set_value(str(prefs.get("communicationStyle", "friendly")))
        self.categories.set_values(list(prefs.get("contentCategories", [])))
        self.focus.set_values(list(prefs.get("educationalFocus", [])))
        self.clear_errors()
        self._loading = False

    def dump_into(self, doc: dict[str, Any]) -> None:
        name = self.family_name.text().strip()
        if name:
            doc["familyName"] = name
        else:
            doc.pop("familyName", None)
        doc["preferences"] = {
            **dict(doc.get("preferences") or {}),
            "communicationStyle": self.style_choice.value(),
            "contentCategories": self.categories.values(),
            "educationalFocus": self.focus.values(),
        }
