"""First run: the data directory is empty. famtune prepares itself (database, key, base model
and its training copy) in the background while a parent sets up their own family in five
short steps: the family's name, its members, the parental PIN, the content limit and
bedtime, and the PIN's recovery code. "Try with a demo family" is the second choice; the
demo family is then labelled as a demo everywhere."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import FamilyProfile, fresh_recovery_code
from famtune_gui.fmt import plain_error, slug
from famtune_gui.screens.setup_pages import (
    CodePage,
    LimitsPage,
    MembersPage,
    NamePage,
    PinPage,
    SetupPage,
)
from famtune_gui.session import EngineSession
from famtune_gui.theme import kinetic, role


class FirstRunScreen(QWidget):
    title = "Welcome"
    done = Signal()
    _said = Signal(str)

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.running = False
        self.demo = False
        self.finishing = False
        self.lines: list[str] = []
        self.created: FamilyProfile | None = None
        self.ready = session.initialized  # a data directory without a family: only the steps
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 16, 40, 12)
        layout.setSpacing(10)
        self.heading = QLabel("Welcome to famtune")
        role(self.heading, "title")
        self.heading.setWordWrap(True)
        self.step_label = QLabel("")
        role(self.step_label, "small")
        head = QHBoxLayout()
        head.addWidget(self.heading, 1)
        head.addWidget(self.step_label, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(head)

        self.pages = QStackedWidget()
        layout.addWidget(self.pages, 1)
        self.welcome = self._welcome_page()
        self.pages.addWidget(self.welcome)
        self.name_page = NamePage()
        self.members_page = MembersPage()
        self.pin_page = PinPage()
        cap = _rating_cap(session)
        self.limits_page = LimitsPage(cap)
        self.code_page = CodePage()
        self.steps: list[SetupPage] = [
            self.name_page,
            self.members_page,
            self.pin_page,
            self.limits_page,
            self.code_page,
        ]
        for page in self.steps:
            self.pages.addWidget(_scrolled(page))

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.progress.hide()
        self.state = QLabel(" ")
        role(self.state, "muted")
        self.state.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.state)

        nav = QHBoxLayout()
        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        role(self.next_button, "primary")
        self.next_button.setMinimumWidth(180)
        nav.addWidget(self.back_button)
        nav.addStretch(1)
        nav.addWidget(self.next_button)
        layout.addLayout(nav)
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        self._said.connect(self._say, Qt.ConnectionType.QueuedConnection)
        self.name_page.field.edit.returnPressed.connect(self.next)
        self._show_step()

    def _welcome_page(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(14)
        text = QLabel(
            "famtune suggests things to do together, checks every idea against your "
            "family's rules, and learns what your family enjoys. Everything stays on this "
            "device.\n\nSetting up takes five short steps: your family's name, who is in it, "
            "a parental PIN, and the content limit and bedtime."
        )
        text.setWordWrap(True)
        col.addWidget(text)
        self.start_button = QPushButton("Set up my family")
        role(self.start_button, "primary")
        self.start_button.setMinimumWidth(300)
        self.demo_button = QPushButton("Try with a demo family")
        self.demo_button.setMinimumWidth(300)
        col.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        col.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignLeft)
        note = QLabel("The demo family (the Smiths) is only for looking around; you can set up "
                      "your own family later under Family.")  # fmt: skip
        note.setWordWrap(True)
        role(note, "small")
        col.addWidget(note)
        col.addStretch(1)
        self.start_button.clicked.connect(self.start)
        self.demo_button.clicked.connect(self.start_demo)
        return page

    # -- steps ---------------------------------------------------------------------------------

    @property
    def page(self) -> SetupPage | None:
        index = self.index
        return self.steps[index - 1] if index > 0 else None

    @property
    def index(self) -> int:
        """0: welcome, 1-5: the steps."""
        return self.pages.currentIndex()

    def _show_step(self) -> None:
        index = self.index
        on_welcome = index == 0
        # the bar only where there is nothing else to do: the steps keep their room
        self.progress.setVisible(self.running and (on_welcome or self.finishing))
        self.back_button.setVisible(not on_welcome and not self.demo)
        self.next_button.setVisible(not on_welcome and not self.demo)
        self.back_button.setEnabled(not self.finishing)
        if on_welcome:
            self.heading.setText("Welcome to famtune")
            self.step_label.setText("")
            return
        page = self.steps[index - 1]
        self.heading.setText(page.heading)
        self.step_label.setText(f"Step {index} of {len(self.steps)}")
        last = index == len(self.steps)
        self.next_button.setText("Finish" if last else "Next")
        if page is self.code_page and not self.code_page.card.text():
            self.code_page.set_code(fresh_recovery_code())
        focus = getattr(page, "field", None) or getattr(page, "name", None)
        edit = getattr(focus, "edit", None)
        if edit is not None:
            edit.setFocus()

    def go(self, index: int) -> None:
        self.pages.setCurrentIndex(max(0, min(index, len(self.steps))))
        self._show_step()

    def next(self) -> None:
        index = self.index
        if index == 0:
            self.start()
            return
        page = self.steps[index - 1]
        if not page.show_problem():
            return
        if index < len(self.steps):
            self.go(index + 1)
        else:
            self.finish()

    def back(self) -> None:
        if self.index > 0 and not self.finishing:
            self.go(self.index - 1)

    def document(self) -> dict[str, Any]:
        """The profile the steps describe (the seed's camelCase shape)."""
        doc: dict[str, Any] = {"familyId": "", "members": []}
        for page in self.steps:
            page.fill(doc)
        known = {r.family_id for r in self.session.families}
        base, n = f"{slug(doc.get('familyName', 'my'))}-family", 2
        family_id = base
        while family_id in known:
            family_id, n = f"{base}-{n}", n + 1
        doc["familyId"] = family_id
        return doc

    # -- preparing the data directory ----------------------------------------------------------

    def start(self) -> None:
        """Set up my family: prepare in the background, go to step 1."""
        self._prepare(demo=False)
        self.go(1)

    def start_demo(self) -> None:
        self.demo = True
        self.start_button.hide()
        self.demo_button.hide()
        self._show_step()
        if not self.ready:
            self._prepare(demo=True)
            return
        self._say("Loading the demo family…")
        self.session.run(
            partial(actions.load_demo_family, self.session.ft),
            lambda _refs: self.done.emit(),
            self._failed,
            owner=self,
            what="loading the demo family",
        )

    def _prepare(self, *, demo: bool) -> None:
        if self.running or self.ready:
            return
        self.running = True
        self.progress.show()
        self.lines = []
        self._say("getting ready")
        self.session.run(
            partial(actions.initialize, self.session.ft, self._said.emit, demo),
            self._prepared,
            self._failed,
            lane="model",
            owner=self,
            what="setting up famtune",
        )

    def _say(self, message: str) -> None:
        """What the set-up in the background is doing: kept (``lines``, for the log), shown
        in plain words."""
        self.lines = [*self.lines[-3:], message[:1].upper() + message[1:]]
        if self.running:
            self.state.setText("Getting famtune ready in the background (a minute or two)…")
        else:
            self.state.setText(self.lines[-1])

    def _prepared(self, _report: dict[str, Any]) -> None:
        self.running = False
        self.ready = True
        self.progress.hide()
        if self.demo:
            self._say("famtune is ready with the demo family")
            self.done.emit()
            return
        self._say("famtune is ready in the background.")
        if self.finishing:
            self._save()

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        self.progress.hide()
        self.finishing = False
        self.state.setText(plain_error(exc, "setting up famtune") + " Tap Next to try again.")
        self.back_button.setEnabled(True)
        self.next_button.setEnabled(True)
        self.start_button.setText("Try again")
        self.start_button.show()
        self.demo_button.show()
        self.demo = False
        self._show_step()

    # -- finishing -----------------------------------------------------------------------------

    def finish(self) -> None:
        self.finishing = True
        self.next_button.setEnabled(False)
        self.back_button.setEnabled(False)
        if self.ready:
            self._save()
        else:
            self._say("Almost there: famtune is still getting ready…")
            self.progress.show()
            self.state.setText("Almost there: famtune is still getting ready…")
            if not self.running:
                self._prepare(demo=False)

    def _save(self) -> None:
        pin = self.pin_page.pin or ""
        code = self.code_page.card.text()
        self._say("Saving your family…")
        self.session.run(
            partial(
                actions.create_family,
                self.session.ft,
                self.document(),
                pin,
                code,
                self.session.clock(),
            ),
            self._saved,
            self._not_saved,
            owner=self,
            what="saving your family",
        )

    def _saved(self, profile: FamilyProfile) -> None:
        self.created = profile
        self.session.prefs.set("family", profile.family_id)
        self.session.set_pin_state(True)
        self._say(f"Welcome, {profile.family_name} family!")
        self.done.emit()

    def _not_saved(self, exc: BaseException) -> None:
        self.finishing = False
        self.next_button.setEnabled(True)
        self.back_button.setEnabled(True)
        self.state.setText(plain_error(exc, "saving your family"))


def _rating_cap(session: EngineSession) -> str:
    """The highest rating this device allows (its configuration), PG-13 if unknown yet."""
    try:
        return str(session.ft.config.max_content_rating_cap)
    except Exception:  # the configuration cannot be read before set-up: the safe default
        return "PG-13"


def _scrolled(page: QWidget) -> QScrollArea:
    """A step in a scroll area: with the on-screen keyboard up nothing is squeezed."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    kinetic(area)
    return area
