"""A one-line text field that says what it cut: typing or pasting more than ``limit``
characters keeps the first ``limit`` and shows, right under the field, how many were cut
(Qt's own ``maxLength`` drops them without a word)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QVBoxLayout, QWidget

from famtune_gui.theme import role


class LimitedLineEdit(QLineEdit):
    """``trimmed(n)`` when n characters beyond the limit were dropped."""

    trimmed = Signal(int)

    def __init__(self, text: str = "", *, limit: int = 80, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit = limit
        self.setMaxLength(32767)  # Qt's own limit would cut silently
        self.textChanged.connect(self._trim)
        self.setText(text)

    def _trim(self, text: str) -> None:
        if len(text) <= self.limit:
            return
        dropped = len(text) - self.limit
        self.blockSignals(True)
        self.setText(text[: self.limit])
        self.blockSignals(False)
        self.textEdited.emit(self.text())
        self.trimmed.emit(dropped)


class LimitedField(QWidget):
    """A LimitedLineEdit with its note line (cut text, or an error the owner sets)."""

    def __init__(self, text: str = "", *, limit: int = 80, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.edit = LimitedLineEdit(text, limit=limit)
        self.note = QLabel(" ")
        role(self.note, "error")
        self.note.setWordWrap(True)
        layout.addWidget(self.edit)
        layout.addWidget(self.note)
        self.edit.trimmed.connect(self._cut)
        self.edit.textEdited.connect(self._edited)

    def _cut(self, dropped: int) -> None:
        self.show_note(
            f"That was too long: only the first {self.edit.limit} characters were kept "
            f"({dropped:,} cut)."
        )

    def _edited(self, _text: str) -> None:
        if len(self.edit.text()) < self.edit.limit:
            self.show_note("")

    def show_note(self, text: str) -> None:
        self.note.setText(text or " ")

    def text(self) -> str:
        return self.edit.text()
