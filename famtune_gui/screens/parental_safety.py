"""Parental controls, part 1: the content limits (maximum rating, blocked topics) and the time
limits editor (days, start and end, what is paused: screens first, then the catalog's
categories; windows across midnight read "21:00 → 07:00 next day"). Both edit the profile's
``safetySettings``; the parental screen saves them."""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.app import CATEGORIES, SCREENS, TimeRestriction, normalize_topic
from engine.base.vocabulary import RATINGS
from famtune_gui.fmt import (
    DAY_SHORT,
    SCHOOL_NIGHTS,
    SCREENS_LABEL,
    WEEKEND,
    span_text,
    window_text,
)
from famtune_gui.theme import kinetic, role
from famtune_gui.widgets.chips import ChipEditor, ChipGroup
from famtune_gui.widgets.dialogs import TextPrompt
from famtune_gui.widgets.pickers import Segmented, TimePicker

RATING_TEXT = {"G": "G: everyone", "PG": "PG", "PG-13": "PG-13", "R": "R"}


def scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    kinetic(area)
    return area


def caption(text: str) -> QLabel:
    label = QLabel(text)
    role(label, "small")
    return label


class ContentLimits(QWidget):
    """Maximum content rating (no higher than the configuration's cap) and blocked topics."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 12, 4)
        layout.setSpacing(6)
        layout.addWidget(caption("Highest content rating anyone in the family may see"))
        self.rating = Segmented([(r, RATING_TEXT[r]) for r in RATINGS])
        layout.addWidget(self.rating)
        self.cap_note = caption("")
        layout.addWidget(self.cap_note)
        layout.addWidget(caption("Blocked topics: never suggested to anyone"))
        self.blocked = ChipEditor()
        layout.addWidget(self.blocked)
        layout.addStretch(1)
        self.rating.changed.connect(lambda _v: self.changed.emit())
        self.blocked.changed.connect(self.changed.emit)
        self.blocked.add_requested.connect(self.ask_topic)

    def ask_topic(self) -> TextPrompt:
        """ "+ Add": a topic that is not offered as a chip."""
        prompt = TextPrompt(
            "Block a topic", "A word or two, e.g. 'horror'", max_length=40, parent=self
        )
        prompt.text_entered.connect(self.blocked.add_value)
        prompt.finished.connect(prompt.deleteLater)
        prompt.open()
        return prompt

    def set_cap(self, cap: str) -> None:
        allowed = RATINGS[: RATINGS.index(cap) + 1] if cap in RATINGS else RATINGS
        self.rating.set_allowed(allowed)
        self.cap_note.setText(f"This device allows up to {cap}.")

    def set_suggestions(self, topics: list[str]) -> None:
        for topic in topics:
            self.blocked.add_chip(topic)

    def load(self, safety: dict[str, Any]) -> None:
        self.rating.set_value(str(safety.get("maxContentRating", "PG")))
        self.blocked.set_values(list(safety.get("blockedTopics", [])))

    def dump_into(self, safety: dict[str, Any]) -> None:
        safety["maxContentRating"] = self.rating.value()
        safety["blockedTopics"] = self.blocked.values()


class WindowEditor(QFrame):
    """Editing one time limit. ``done(window)`` or ``cancelled()``."""

    done = Signal(dict)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        role(self, "panel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(caption("Days"))
        days_row = QHBoxLayout()
        self.days = ChipGroup([(str(i), d) for i, d in enumerate(DAY_SHORT)])
        days_row.addWidget(self.days, 1)
        layout.addLayout(days_row)
        quick = QHBoxLayout()
        for label, days in (
            ("Every day", tuple(range(7))),
            ("School nights", SCHOOL_NIGHTS),
            ("Weekends", WEEKEND),
        ):
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, d=days: self._set_days(d))
            quick.addWidget(button)
        quick.addStretch(1)
        layout.addLayout(quick)
        times = QGridLayout()
        times.setHorizontalSpacing(12)
        self.start = TimePicker()
        self.end = TimePicker()
        self.summary = QLabel()
        role(self.summary, "subtitle")
        times.addWidget(caption("From"), 0, 0)
        times.addWidget(self.start, 0, 1)
        times.addWidget(caption("To"), 1, 0)
        times.addWidget(self.end, 1, 1)
        times.addWidget(self.summary, 0, 2)
        self.times_problem = QLabel(" ")  # beside the times it is about
        role(self.times_problem, "error")
        self.times_problem.setWordWrap(True)
        times.addWidget(self.times_problem, 1, 2)
        times.setColumnStretch(2, 1)
        layout.addLayout(times)
        layout.addWidget(caption("Paused during this time"))
        self.categories = ChipGroup(
            [(SCREENS, SCREENS_LABEL)] + [(c, c.replace("_", " ").capitalize()) for c in CATEGORIES]
        )
        layout.addWidget(self.categories)
        self.problem = QLabel()
        role(self.problem, "error")
        buttons = QHBoxLayout()
        buttons.addWidget(self.problem, 1)
        self.cancel_button = QPushButton("Cancel")
        self.done_button = QPushButton("Done")
        role(self.done_button, "primary")
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.done_button)
        layout.addLayout(buttons)
        for signal in (self.days.changed, self.categories.changed):
            signal.connect(self._update)
        self.start.changed.connect(lambda _v: self._update())
        self.end.changed.connect(lambda _v: self._update())
        self.cancel_button.clicked.connect(self.cancelled.emit)
        self.done_button.clicked.connect(lambda: self.done.emit(self.value()))

    def _set_days(self, days: tuple[int, ...]) -> None:
        self.days.set_values([str(d) for d in days])
        self._update()

    def load(self, window: dict[str, Any]) -> None:
        self.days.set_values([str(d) for d in window.get("daysOfWeek", [])])
        self.start.set_value(str(window.get("startTime", "21:00")))
        self.end.set_value(str(window.get("endTime", "07:00")))
        known = set(self.categories.chips)
        self.categories.set_values(
            [  # "Screens" or "Life skills" in an imported profile: the offered chip
                normalize_topic(c) if normalize_topic(c) in known else c
                for c in window.get("restrictedContent", [])
            ]
        )
        self._update()

    def value(self) -> dict[str, Any]:
        return {
            "startTime": self.start.value(),
            "endTime": self.end.value(),
            "daysOfWeek": sorted(int(d) for d in self.days.values()),
            "restrictedContent": self.categories.values(),
        }

    def _update(self) -> None:
        w = self.value()
        self.summary.setText(span_text(w["startTime"], w["endTime"]))
        problem = ""
        if w["startTime"] == w["endTime"]:
            problem = "Start and end must differ."
        elif not w["daysOfWeek"]:
            problem = "Pick at least one day."
        elif not w["restrictedContent"]:
            problem = "Pick what to pause."
        self.problem.setText(problem)
        self.times_problem.setText(problem if w["startTime"] == w["endTime"] else " ")
        self.done_button.setEnabled(not problem)


class TimeLimits(QWidget):
    """The family's time limits: a row per window (edit, remove) and an editor."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.windows: list[dict[str, Any]] = []
        self.editing: int | None = None  # index, or len(windows) for a new one
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 12, 4)
        layout.setSpacing(8)
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(6)
        layout.addLayout(self.rows_box)
        self.none_label = caption("No time limits: everything may be suggested at any hour.")
        layout.addWidget(self.none_label)
        self.add_button = QPushButton("Add a time limit")
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.editor = WindowEditor()
        self.editor.hide()
        layout.addWidget(self.editor)
        layout.addStretch(1)
        self.add_button.clicked.connect(self.add_window)
        self.editor.done.connect(self._edited)
        self.editor.cancelled.connect(self._close_editor)
        self.row_widgets: list[QFrame] = []

    def load(self, windows: list[dict[str, Any]]) -> None:
        self.windows = copy.deepcopy(windows)
        self._close_editor()

    def _rebuild(self) -> None:
        for row in self.row_widgets:
            row.deleteLater()
        self.row_widgets = []
        for i, window in enumerate(self.windows):
            row = QFrame()
            role(row, "panel")
            line = QHBoxLayout(row)
            line.setContentsMargins(12, 4, 8, 4)
            try:
                text = window_text(TimeRestriction.model_validate(window))
            except ValueError:
                text = span_text(str(window.get("startTime")), str(window.get("endTime")))
            label = QLabel(text)
            label.setObjectName("window-text")
            label.setWordWrap(True)
            edit = QPushButton("Edit")
            remove = QPushButton("Remove")
            edit.clicked.connect(lambda _=False, n=i: self.edit_window(n))
            remove.clicked.connect(lambda _=False, n=i: self.remove_window(n))
            line.addWidget(label, 1)
            line.addWidget(edit)
            line.addWidget(remove)
            self.rows_box.addWidget(row)
            self.row_widgets.append(row)
        self.none_label.setVisible(not self.windows)

    def row_texts(self) -> list[str]:
        """What each time limit row says."""
        labels = [row.findChild(QLabel, "window-text") for row in self.row_widgets]
        return [label.text() for label in labels if label is not None]

    def add_window(self) -> None:
        self.editing = len(self.windows)
        self.editor.load(
            {
                "startTime": "21:00",
                "endTime": "07:00",
                "daysOfWeek": list(range(7)),
                "restrictedContent": ["entertainment"],
            }
        )
        self._open_editor()

    def edit_window(self, index: int) -> None:
        self.editing = index
        self.editor.load(self.windows[index])
        self._open_editor()

    def remove_window(self, index: int) -> None:
        del self.windows[index]
        self._close_editor()
        self.changed.emit()

    def _open_editor(self) -> None:
        self.editor.show()
        self.add_button.hide()

    def _close_editor(self) -> None:
        self.editing = None
        self.editor.hide()
        self.add_button.show()
        self._rebuild()

    def _edited(self, window: dict[str, Any]) -> None:
        if self.editing is None:
            return
        if self.editing >= len(self.windows):
            self.windows.append(window)
        else:
            self.windows[self.editing] = window
        self._close_editor()
        self.changed.emit()
