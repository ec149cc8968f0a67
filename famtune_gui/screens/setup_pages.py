"""The pages of the first-run setup: the family's name, its members, the parental PIN, the
content limit and bedtime, and the PIN's recovery code. Each page checks itself
(``problem()`` says what is missing, next to the field) and adds its part to the profile
document (``fill(doc)``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.app import CATEGORIES, SCREENS
from engine.base.vocabulary import RATINGS
from famtune_gui.fmt import SCHOOL_NIGHTS, slug, span_text, words
from famtune_gui.recovery import CodeCard
from famtune_gui.theme import role
from famtune_gui.widgets.chips import ChipGroup
from famtune_gui.widgets.keypad import PinPad, PinTwice
from famtune_gui.widgets.limited_edit import LimitedField
from famtune_gui.widgets.pickers import ChoiceButton, Segmented, Stepper, TimePicker

NAME_LIMIT = 80
ROLES = (("parent", "Parent"), ("child", "Child"), ("teen", "Teen"), ("grandparent", "Grandparent"),
         ("other", "Other"))  # fmt: skip
INTERESTS = ("animals", "art", "music", "nature", "science", "sports", "reading", "cooking",
             "games", "building")  # fmt: skip
CALM = ("relaxation", "reading", "music")  # what bedtime leaves on (without screens)
WHY_PIN = (
    "The PIN keeps the parental controls, erasing data and leaving the kiosk for grown-ups."
)
RATING_TEXT = {"G": "G: everyone", "PG": "PG", "PG-13": "PG-13", "R": "R"}


def caption(text: str) -> QLabel:
    label = QLabel(text)
    role(label, "small")
    label.setWordWrap(True)
    return label


def explain(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class SetupPage(QWidget):
    """One step. ``heading`` is its question; ``problem()`` is '' when it is complete."""

    heading = ""
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(8)

    def problem(self) -> str:
        return ""

    def show_problem(self) -> bool:
        """Put what is missing next to its field; True when the page is complete."""
        return not self.problem()

    def fill(self, doc: dict[str, Any]) -> None:
        """Add this page's part to the profile document."""


class NamePage(SetupPage):
    heading = "What is your family called?"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column.addWidget(explain("famtune uses it on the screen, e.g. “Rivera family”."))
        self.field = LimitedField(limit=NAME_LIMIT)
        self.field.edit.setPlaceholderText("Family name")
        self.column.addWidget(self.field)
        self.column.addStretch(1)
        self.field.edit.textEdited.connect(lambda _t: self.changed.emit())

    def name(self) -> str:
        return self.field.text().strip()

    def problem(self) -> str:
        return "" if self.name() else "Type your family's name."

    def show_problem(self) -> bool:
        problem = self.problem()
        if problem:
            self.field.show_note(problem)
        return not problem

    def fill(self, doc: dict[str, Any]) -> None:
        doc["familyName"] = self.name()


class MembersPage(SetupPage):
    heading = "Who is in your family?"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.members: list[dict[str, Any]] = []
        row = QHBoxLayout()
        row.setSpacing(16)
        form = QVBoxLayout()
        form.setSpacing(4)
        form.addWidget(caption("Name"))
        self.name = LimitedField(limit=NAME_LIMIT)
        self.name.edit.setPlaceholderText("First name")
        form.addWidget(self.name)
        form.addWidget(caption("Age"))
        self.age = Stepper(0, 120)
        self.age.set_value(8)
        form.addWidget(self.age, 0, Qt.AlignmentFlag.AlignLeft)
        form.addWidget(caption("Role"))
        self.role_choice = ChoiceButton(ROLES)
        self.role_choice.set_value("child")
        form.addWidget(self.role_choice, 0, Qt.AlignmentFlag.AlignLeft)
        form.addWidget(caption("Interests (optional)"))
        self.interests = ChipGroup([(t, words(t)) for t in INTERESTS])
        form.addWidget(self.interests)
        self.add_button = QPushButton("Add to the family")
        role(self.add_button, "primary")
        form.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        form.addStretch(1)
        row.addLayout(form, 3)
        listing = QVBoxLayout()
        listing.addWidget(caption("In the family"))
        self.list_box = QVBoxLayout()
        self.list_box.setSpacing(4)
        listing.addLayout(self.list_box)
        self.none = caption("Nobody yet. Add each person, grown-ups too.")
        listing.addWidget(self.none)
        listing.addStretch(1)
        row.addLayout(listing, 2)
        self.column.addLayout(row, 1)
        self.add_button.clicked.connect(self.add_member)
        self.name.edit.returnPressed.connect(self.add_member)
        self.rows: list[QFrame] = []

    def add_member(self) -> bool:
        name = self.name.text().strip()
        if not name:
            self.name.show_note("Type a name first.")
            return False
        age = self.age.value()
        member_role = self.role_choice.value() or "other"
        taken = {m["userId"] for m in self.members}
        base, n = slug(name), 2
        user_id = base
        while user_id in taken:
            user_id, n = f"{base}-{n}", n + 1
        adult = age >= 18
        self.members.append(
            {
                "userId": user_id,
                "displayName": name,
                "age": age,
                "role": member_role,
                "safetyLevel": "moderate" if adult else "strict",
                "preferences": {"interests": self.interests.values()},
            }
        )
        self.name.edit.clear()
        self.name.show_note("")
        self.interests.set_values([])
        self._rebuild()
        self.changed.emit()
        return True

    def remove_member(self, index: int) -> None:
        del self.members[index]
        self._rebuild()
        self.changed.emit()

    def _rebuild(self) -> None:
        for row in self.rows:
            self.list_box.removeWidget(row)
            row.hide()
            row.deleteLater()
        self.rows = []
        for i, member in enumerate(self.members):
            row = QFrame()
            role(row, "panel")
            line = QHBoxLayout(row)
            line.setContentsMargins(10, 2, 4, 2)
            label = QLabel(
                f"{member['displayName']} · {member['age']} · {words(member['role'])}"
            )
            label.setObjectName("member-text")
            label.setMinimumWidth(0)
            remove = QPushButton("Remove")
            remove.clicked.connect(lambda _=False, n=i: self.remove_member(n))
            line.addWidget(label, 1)
            line.addWidget(remove)
            self.list_box.addWidget(row)
            self.rows.append(row)
        self.none.setVisible(not self.members)

    def problem(self) -> str:
        if not self.members:
            return "Add at least one person."
        if not any(m["age"] >= 18 for m in self.members):
            return "Add at least one grown-up (18 or older)."
        return ""

    def show_problem(self) -> bool:
        if self.name.text().strip() and not self.add_member():
            return False
        problem = self.problem()
        if problem:
            self.name.show_note(problem)
        return not problem

    def fill(self, doc: dict[str, Any]) -> None:
        doc["members"] = [dict(m) for m in self.members]


class PinPage(SetupPage):
    heading = "Choose a parental PIN"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        choose = "Choose a PIN (4 to 8 digits)"
        self.pad = PinPad(choose, side_by_side=True)
        self.pad.set_message(WHY_PIN)  # in the pad's message lines: the keys fit the step
        self.twice = PinTwice(self.pad, choose, "Enter the same PIN again")
        self.column.addWidget(self.pad)
        self.column.addStretch(1)
        self.pin: str | None = None
        self.pad.submitted.connect(self._entered)

    def _entered(self, typed: str) -> None:
        if not self.twice.confirming:
            self.pin = None
        pin = self.twice.entered(typed)
        if pin is None:
            return
        self.pin = pin
        self.pad.title.setText("PIN chosen")
        self.pad.set_message("Tap Next. (To choose another, type it again.)")
        self.twice.forget()
        self.changed.emit()

    def problem(self) -> str:
        return "" if self.pin else "Type the PIN twice on the keypad."

    def show_problem(self) -> bool:
        problem = self.problem()
        if problem:
            self.pad.set_message(problem, error=True)
        return not problem


class LimitsPage(SetupPage):
    heading = "Content and bedtime"

    def __init__(self, cap: str = "PG-13", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column.addWidget(caption("Highest content rating anyone in the family may see"))
        self.rating = Segmented([(r, RATING_TEXT[r]) for r in RATINGS])
        allowed = RATINGS[: RATINGS.index(cap) + 1] if cap in RATINGS else RATINGS
        self.rating.set_allowed(allowed)
        self.rating.set_value("PG" if "PG" in allowed else allowed[0])
        self.column.addWidget(self.rating)
        self.column.addWidget(
            caption(
                "Children get less than this by their age (up to 6: G, 7-12: PG, 13-16: "
                "PG-13); you can change it later under Parents."
            )
        )
        self.column.addSpacing(8)
        self.column.addWidget(
            caption("Bedtime: only calm ideas (reading, music, relaxing) and no screens")
        )
        times = QGridLayout()
        times.setHorizontalSpacing(12)
        self.start = TimePicker()
        self.start.set_value("20:00")
        self.end = TimePicker()
        self.end.set_value("07:00")
        self.days = Segmented([("school", "School nights"), ("every", "Every night")])
        self.days.set_value("school")
        self.summary = QLabel()
        role(self.summary, "subtitle")
        times.addWidget(caption("From"), 0, 0)
        times.addWidget(self.start, 0, 1)
        times.addWidget(caption("To"), 1, 0)
        times.addWidget(self.end, 1, 1)
        times.addWidget(self.summary, 0, 2, 2, 1)
        times.setColumnStretch(2, 1)
        self.column.addLayout(times)
        self.column.addWidget(self.days)
        self.problem_line = QLabel(" ")
        role(self.problem_line, "error")
        self.column.addWidget(self.problem_line)
        self.column.addStretch(1)
        self.start.changed.connect(lambda _v: self._update())
        self.end.changed.connect(lambda _v: self._update())
        self._update()

    def _update(self) -> None:
        self.summary.setText(span_text(self.start.value(), self.end.value()))
        self.problem_line.setText(self.problem() or " ")

    def problem(self) -> str:
        if self.start.value() == self.end.value():
            return "Bedtime needs a start and an end that differ."
        return ""

    def show_problem(self) -> bool:
        self._update()
        return not self.problem()

    def bedtime_window(self) -> dict[str, Any]:
        days = list(SCHOOL_NIGHTS) if self.days.value() == "school" else list(range(7))
        return {
            "startTime": self.start.value(),
            "endTime": self.end.value(),
            "daysOfWeek": days,
            "restrictedContent": [SCREENS, *(c for c in CATEGORIES if c not in CALM)],
        }

    def fill(self, doc: dict[str, Any]) -> None:
        doc["safetySettings"] = {
            "maxContentRating": self.rating.value() or "PG",
            "blockedTopics": [],
            "timeRestrictions": [self.bedtime_window()],
        }


class CodePage(SetupPage):
    heading = "Your PIN recovery code"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column.addWidget(
            explain(
                "If the PIN is ever forgotten, this code sets a new one (Parents → Forgot the "
                "PIN?). Write it down now and keep it away from the device: it is shown only "
                "once, and famtune keeps only a scrambled copy."
            )
        )
        self.card = CodeCard()
        self.column.addWidget(self.card)
        self.column.addStretch(1)

    def set_code(self, code: str) -> None:
        self.card.setText(code)
