"""The list a ChoiceButton opens: drawn inside the window (a panel over a dim veil), in as
many columns as the window's height needs, so it never reaches past the screen's edge, and
works the same under cage, where a client cannot place a pop-up window itself. A tap on an
option picks it; a tap beside the panel closes it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPoint, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QPushButton, QWidget

from famtune_gui.theme import role

ROW_H = 52
MARGIN = 8


class ChoicePopup(QWidget):
    """Covers its window; ``picked(value)`` when an option is tapped."""

    picked = Signal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("choice-popup")
        self.panel = QFrame(self)
        role(self.panel, "choice-panel")
        self.grid = QGridLayout(self.panel)
        self.grid.setContentsMargins(6, 6, 6, 6)
        self.grid.setSpacing(4)
        self.options: dict[str, QPushButton] = {}
        self.hide()

    def open_for(
        self, anchor: QWidget, options: Sequence[tuple[str, str]], current: str | None
    ) -> None:
        window = self.parentWidget()
        if window is None:
            return
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        self.options = {}
        self.setGeometry(window.rect())
        room = self.rect().adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
        per_column = max(1, (room.height() - 12) // (ROW_H + 4))
        for i, (value, label) in enumerate(options):
            button = QPushButton(label)
            role(button, "choice-item")
            button.setCheckable(True)
            button.setChecked(value == current)
            button.setMinimumHeight(ROW_H - 4)
            button.clicked.connect(lambda _=False, v=value: self._pick(v))
            self.grid.addWidget(button, i % per_column, i // per_column)
            self.options[value] = button
        self.panel.adjustSize()
        hint = self.panel.sizeHint()
        width = min(max(hint.width(), anchor.width()), room.width())
        height = min(hint.height(), room.height())
        corner = anchor.mapTo(window, QPoint(0, 0))
        top = corner.y() + anchor.height() + 2  # below the button...
        if top + height > room.bottom():
            top = corner.y() - height - 2  # ...or above it...
        # ...and never past the window's edges
        left = min(max(room.left(), corner.x()), room.right() - width + 1)
        top = min(max(room.top(), top), room.bottom() - height + 1)
        self.panel.setGeometry(left, top, width, height)
        self.show()
        self.raise_()

    @property
    def columns(self) -> int:
        return math.ceil(len(self.options) / max(1, self.grid.rowCount())) if self.options else 0

    def _pick(self, value: str) -> None:
        self.hide()
        self.picked.emit(value)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self.panel.geometry().contains(event.position().toPoint()):
            self.hide()
        event.accept()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 110))
        painter.end()
