"""Touch dialogs: a confirmation with big buttons, a PIN dialog on the keypad and a one-line
text prompt (the app's own on-screen keyboard opens inside the dialog for it). All are opened
with ``open()``, never ``exec()``: the event loop keeps running and results come back as
signals. Each has a Cancel button: no dialog needs Escape to close."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
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
from famtune_gui.widgets.keyboard import KeyboardHost, OnScreenKeyboard, keyboard_enabled
from famtune_gui.widgets.keypad import PinPad
from famtune_gui.widgets.limited_edit import LimitedField

KEYBOARD_DIALOG_WIDTH = 860


class TouchDialog(QDialog, KeyboardHost):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        body = QWidget()
        self.layout_ = QVBoxLayout(body)
        self.layout_.setContentsMargins(24, 18, 24, 18)
        self.layout_.setSpacing(12)
        self.heading = QLabel(title)
        role(self.heading, "title")
        self.heading.setWordWrap(True)
        self.layout_.addWidget(self.heading)
        outer.addWidget(body, 1)
        self.keyboard = OnScreenKeyboard()
        outer.addWidget(self.keyboard)
        self.keyboard.hidden.connect(self.keyboard_hidden)
        self._width_before_keyboard = 0

    def buttons(self, *buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        for button in buttons:
            button.setMinimumWidth(140)
            row.addWidget(button)
        self.layout_.addLayout(row)
        return row

    def open(self) -> None:
        """With the on-screen keyboard on, a dialog with a text field opens with its keys
        already showing: its first size holds them, so the compositor places (centres) the
        whole dialog on the screen; a Wayland client cannot move its window later."""
        if keyboard_enabled():
            field = next((e for e in self.findChildren(QLineEdit) if not e.isHidden()), None)
            if field is not None and not field.isReadOnly():
                self.keyboard.attach(field)
                self.keyboard_shown()
                self.adjustSize()
        super().open()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Return and Enter belong to the field that has them (``returnPressed``): QDialog
        would also press its first button (Cancel) with them."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyboard_shown(self) -> None:
        """Grow to hold the keys (no wider than the screen) and stay centred on the parent."""
        if not self._width_before_keyboard:
            self._width_before_keyboard = self.minimumWidth()
        screen = self.screen().availableGeometry() if self.screen() else None
        width = KEYBOARD_DIALOG_WIDTH if screen is None else min(
            KEYBOARD_DIALOG_WIDTH, screen.width() - 16
        )
        self.setMinimumWidth(width)
        QTimer.singleShot(0, self._fit)

    def keyboard_hidden(self) -> None:
        QTimer.singleShot(0, self._fit)

    def _fit(self) -> None:
        self.adjustSize()
        parent = self.parentWidget()
        anchor = parent.window() if parent is not None else None
        if anchor is not None and anchor.isVisible():
            center = anchor.frameGeometry().center()
            frame = self.frameGeometry()
            frame.moveCenter(center)
            self.move(frame.topLeft())

    def done(self, result: int) -> None:
        self.keyboard.detach()
        super().done(result)


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
    forgot = Signal()

    def __init__(
        self,
        title: str,
        prompt: str = "Enter the parental PIN",
        parent: QWidget | None = None,
        *,
        can_recover: bool = False,
    ) -> None:
        super().__init__(title, parent)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pad = PinPad(prompt)
        self.layout_.addWidget(self.pad)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.forgot_button = QPushButton("Forgot the PIN?")
        self.forgot_button.setVisible(can_recover)
        self.forgot_button.clicked.connect(self._forgot)
        row = self.buttons(self.cancel_button)
        row.insertWidget(0, self.forgot_button)
        self.pad.submitted.connect(self._submitted)

    def _forgot(self) -> None:
        self.reject()
        self.forgot.emit()

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
    """One line of text; ``text_entered(text)`` on OK. Text beyond ``max_length`` is cut
    with a note under the field; an empty answer is refused there too."""

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
        self.field = LimitedField(text, limit=max_length)
        self.edit = self.field.edit
        self.layout_.addWidget(hint)
        self.layout_.addWidget(self.field)
        self.cancel_button = QPushButton("Cancel")
        self.ok_button = QPushButton("OK")
        role(self.ok_button, "primary")
        self.cancel_button.clicked.connect(self.reject)
        self.ok_button.clicked.connect(self._ok)
        self.edit.returnPressed.connect(self._ok)
        self.buttons(self.cancel_button, self.ok_button)
        self.setMinimumWidth(560)

    def _ok(self) -> None:
        text = self.edit.text().strip()
        if not text:
            self.field.show_note("Type something first, or tap Cancel.")
            return
        self.text_entered.emit(text)
        self.accept()
