"""The way back from a forgotten PIN, on the touch screen: the recovery code (typed with the
on-screen keyboard), the new PIN twice on the keypad, then the new recovery code that
replaces the used one, shown once. Wrong codes wait and lock out like wrong PINs."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine import app as actions
from engine.app import Recovery
from famtune_gui.fmt import plain_error
from famtune_gui.session import EngineSession
from famtune_gui.theme import role
from famtune_gui.widgets.dialogs import TouchDialog
from famtune_gui.widgets.keypad import PinPad, PinTwice
from famtune_gui.widgets.limited_edit import LimitedField

CODE_LENGTH = 19  # ABCD-EFGH-JKMN-PQRS
NEW_PIN = "Choose a new PIN (4 to 8 digits)"


class CodeCard(QLabel):
    """A recovery code, large and spaced, to copy onto paper."""

    def __init__(self, code: str = "", parent: QWidget | None = None) -> None:
        super().__init__(code, parent)
        role(self, "recovery-code")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)


class RecoveryDialog(TouchDialog):
    """Step ``code`` -> ``pin`` -> ``done``."""

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__("Forgot the PIN?", parent)
        self.session = session
        self.code = ""
        self.new_code: str | None = None
        self.steps = QStackedWidget()
        self.layout_.addWidget(self.steps, 1)

        code_page = QWidget()
        col = QVBoxLayout(code_page)
        col.setContentsMargins(0, 0, 0, 0)
        text = QLabel(
            "Type the recovery code you wrote down when the PIN was set "
            "(16 letters and digits; dashes and spaces do not matter)."
        )
        text.setWordWrap(True)
        self.code_field = LimitedField(limit=CODE_LENGTH + 6)
        self.code_field.edit.setPlaceholderText("ABCD-EFGH-JKMN-PQRS")
        col.addWidget(text)
        col.addWidget(self.code_field)
        col.addStretch(1)
        self.steps.addWidget(code_page)

        self.pad = PinPad(NEW_PIN)
        self.twice = PinTwice(self.pad, NEW_PIN)
        self.steps.addWidget(self.pad)

        done_page = QWidget()
        col = QVBoxLayout(done_page)
        col.setContentsMargins(0, 0, 0, 0)
        said = QLabel(
            "The new PIN is set. Your old recovery code is used up; this is the new one. "
            "Write it down and keep it away from the device. It is shown only now."
        )
        said.setWordWrap(True)
        self.card = CodeCard()
        col.addWidget(said)
        col.addWidget(self.card)
        col.addStretch(1)
        self.steps.addWidget(done_page)

        self.cancel_button = QPushButton("Cancel")
        self.next_button = QPushButton("Next")
        role(self.next_button, "primary")
        self.buttons(self.cancel_button, self.next_button)
        self.cancel_button.clicked.connect(self.reject)
        self.next_button.clicked.connect(self.next)
        self.code_field.edit.returnPressed.connect(self.next)
        self.pad.submitted.connect(self._pin)
        self.setMinimumWidth(620)
        self.steps.currentChanged.connect(lambda _i: self._fit_pages())
        self._fit_pages()
        QTimer.singleShot(0, self.code_field.edit.setFocus)

    def _fit_pages(self) -> None:
        """The dialog is as tall as the step it shows (not as its tallest step)."""
        current = self.steps.currentWidget()
        for i in range(self.steps.count()):
            page = self.steps.widget(i)
            if page is None:
                continue
            policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
            page.setSizePolicy(policy, policy)
        QTimer.singleShot(0, self._fit)

    @property
    def step(self) -> str:
        return ("code", "pin", "done")[self.steps.currentIndex()]

    def next(self) -> None:
        if self.step == "code":
            text = self.code_field.text().strip()
            if len(text.replace("-", "").replace(" ", "")) != 16:
                self.code_field.show_note("A recovery code has 16 letters and digits.")
                return
            self.code = text
            self.keyboard.detach()
            self.steps.setCurrentWidget(self.pad)
            self.next_button.hide()
        elif self.step == "done":
            self.accept()

    def _pin(self, entered: str) -> None:
        pin = self.twice.entered(entered)
        if pin is None:
            return
        self.pad.set_message("Checking the code…")
        self.pad.setEnabled(False)
        self.session.run(
            partial(actions.recover_pin, self.session.ft, self.code, pin, self.session.clock()),
            self._answered,
            self._failed,
            owner=self,
            what="checking the recovery code",
        )

    def _answered(self, result: Recovery) -> None:
        self.pad.setEnabled(True)
        if result.ok and result.new_code:
            self.new_code = result.new_code
            self.card.setText(result.new_code)
            self.steps.setCurrentIndex(2)
            self.cancel_button.hide()
            self.next_button.setText("I wrote it down")
            self.next_button.show()
            self.session.set_pin_state(True)
            self.session.notify("New PIN set with the recovery code.")
            return
        # a wrong code: back to the code, with the engine's words and its wait
        self.twice.start_over()
        self.pad.set_message("")
        self.steps.setCurrentIndex(0)
        self.next_button.show()
        note = result.message
        if result.retry_after_s > 0:
            self.next_button.setEnabled(False)
            QTimer.singleShot(result.retry_after_s * 1000, self, self._wait_over)
        self.code_field.show_note(note)

    def _wait_over(self) -> None:
        self.next_button.setEnabled(True)
        self.code_field.show_note("You can try again now.")

    def _failed(self, exc: BaseException) -> None:
        self.pad.setEnabled(True)
        self.twice.start_over()
        self.steps.setCurrentIndex(0)
        self.next_button.show()
        self.code_field.show_note(plain_error(exc, "checking the recovery code"))


class CodeDialog(TouchDialog):
    """A new recovery code, shown once."""

    def __init__(self, code: str, parent: QWidget | None = None) -> None:
        super().__init__("Your PIN recovery code", parent)
        text = QLabel(
            "If the PIN is ever forgotten, this code sets a new one (Parents → Forgot the "
            "PIN?). Write it down and keep it away from the device. It is shown only now."
        )
        text.setWordWrap(True)
        self.card = CodeCard(code)
        self.layout_.addWidget(text)
        self.layout_.addWidget(self.card)
        self.ok_button = QPushButton("I wrote it down")
        role(self.ok_button, "primary")
        self.ok_button.clicked.connect(self.accept)
        self.buttons(self.ok_button)
        self.setMinimumWidth(620)


def show_code(code: str, parent: QWidget) -> CodeDialog:
    dialog = CodeDialog(code, parent)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def open_recovery(session: EngineSession, parent: QWidget) -> RecoveryDialog:
    dialog = RecoveryDialog(session, parent)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
