"""A member's avatar: a colored circle with initials and the name under it; tap to mark
the member present (filled and ringed) or away (dim)."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QPushButton, QWidget

from famtune_gui.theme import ACCENT, MUTED, TEXT, role

PALETTE = ("#e8833a", "#4aa3df", "#57c785", "#c77dda", "#e05d6f", "#d9b64a", "#4ac7c0")


def initials(name: str) -> str:
    parts = [p for p in name.replace("-", " ").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


class AvatarButton(QPushButton):
    """Checkable; ``isChecked()`` means present."""

    SIZE = 56
    MAX_W = 120  # a long name is elided (the whole name is its accessible name)

    def __init__(self, member_id: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.member_id = member_id
        self.name = name
        role(self, "avatar")
        self.setCheckable(True)
        self.setChecked(True)
        self.setAccessibleName(name)
        self.setToolTip(name)
        digest = hashlib.sha256(member_id.encode()).digest()[0]
        self.color = QColor(PALETTE[digest % len(PALETTE)])
        self.setFixedSize(self.sizeHint())

    def sizeHint(self) -> QSize:
        width = min(self.MAX_W, max(76, self._text_w() + 8))
        return QSize(width, self.SIZE + 30)

    def _name_font(self) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(15)
        font.setBold(True)
        return font

    def _text_w(self) -> int:
        return QFontMetrics(self._name_font()).horizontalAdvance(self.name)

    def shown_name(self) -> str:
        """The name as drawn: elided to fit the button."""
        metrics = QFontMetrics(self._name_font())
        return metrics.elidedText(self.name, Qt.TextElideMode.ElideRight, self.width() - 6)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        present = self.isChecked()
        d = self.SIZE
        circle = QRectF((self.width() - d) / 2 + 3, 3, d - 6, d - 6)
        fill = QColor(self.color) if present else QColor("#2a3440")
        painter.setBrush(fill)
        painter.setPen(QPen(ACCENT if present else QColor("#4a5868"), 4 if present else 2))
        painter.drawEllipse(circle)
        font = QFont(self.font())
        font.setPixelSize(20)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#101418") if present else MUTED)
        painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, initials(self.name))
        font.setPixelSize(15)
        font.setBold(present)
        painter.setFont(font)
        painter.setPen(TEXT if present else MUTED)
        painter.drawText(
            QRectF(0, d, self.width(), 26), Qt.AlignmentFlag.AlignCenter, self.shown_name()
        )
        painter.end()
