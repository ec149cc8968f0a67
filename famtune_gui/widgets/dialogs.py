"""Touch dialogs: a confirmation with big buttons, a PIN dialog on the keypad and a one-line
text prompt (the virtual keyboard opens for it). All are opened with ``open()``, never
``exec()``: the event loop keeps running and results come back as signals."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from famtune_gui.theme import role
from famtune_gui.widgets.keypad import PinPad


class TouchDialog(QDialog):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(24, 18, 24, 18)
        self.layout_.setSpacing(12)
        self.heading = QLabel(title)
        role(self.heading, "title")
        self.heading.setWordWrap(True)
        self.layout_.addWidget(self.heading)

    def buttons(self, *buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        for button in buttons:
            button.setMinimumWidth(140)
            row.addWidget(button)
        self.layout_.addLayout(row)
        return row


class ConfirmDialog(TouchDialog):
    """ "Are you sure?" with the consequence spelled out; ``accepted`` when confirmed."""

    def __init__(
        self,
        title: str,
        text: str,
        confirm: str,
        *,
        danger: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        self.body = QLabel(text)
        self.body.setWordWrap(True)
        self.layout_.addWidget(self.body)
        self.cancel_button = QPushButton("Cancel")
        self.confirm_button = QPushButton(confirm)
        role(self.confirm_button, "danger" if danger else "primary")
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button.clicked.connect(self.accept)
        self.buttons(self.cancel_button, self.confirm_button)
        self.setMinimumWidth(560)


class PinDialog(TouchDialog):
    """The keypad in a dialog. ``pin_entered(pin)``; the owner checks it (in the background)
    and calls ``refused()`` or ``accept()``."""

    pin_entered = Signal(str)

    def __init__(
        self, title: str, prompt: str = "Enter the parental PIN", parent: QWidget | None = None
    ) -> None:
        super().__init__(title, parent)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pad = PinPad(prompt)
        self.layout_.addWidget(self.pad)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.buttons(self.cancel_button)
        self.pad.submitted.connect(self._submitted)

    def _submitted(self, pin: str) -> None:
        self.pad.set_message("Checking…")
        self.pad.setEnabled(False)
        self.pin_entered.emit(pin)

    def refused(self, message: str, retry_after_s: int = 0) -> None:
        self.pad.setEnabled(True)
        if retry_after_s > 0:
            self.pad.pause(retry_after_s, message)
        else:
            self.pad.set_message(message, error=True)


class TextPrompt(TouchDialog):
    """One line of text; ``text_entered(text)`` on OK."""

    text_entered = Signal(str)

    def __init__(
        self,
        title: str,
        label: str,
        text: str = "",
        *,
        max_length: int = 40,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, parent)
        hint = QLabel(label)
        role(hint, "muted")
        self.edit = QLineEdit(text)
        self.edit.setMaxLength(max_length)
        self.layout_.addWidget(hint)
        self.layout_.addWidget(self.edit)
        cancel = QPushButton("Cancel")
        ok = QPushButton("OK")
        role(ok, "primary")
        cancel.clicked.connect(self.reject)
        ok.clicked.connect(self._ok)
        self.edit.returnPressed.connect(self._ok)
        self.buttons(cancel, ok)
        self.setMinimumWidth(560)

    def _ok(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.text_entered.emit(text)
            self.accept()
