"""A banner over the top of the window for errors and notices, in plain words. It floats
over the top bar (it is not in a layout), so it never pushes the page down. It hides itself
after a while; a tap on "OK" hides it at once."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from famtune_gui.theme import restyle, role

LEVEL_ROLE = {"error": "banner-error", "info": "banner-info", "ok": "banner-ok"}
LEVEL_TIMEOUT_MS = {"error": 9000, "info": 5000, "ok": 4000}


class Banner(QFrame):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        role(self, "banner-info")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 6, 8, 6)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.ok = QPushButton("OK")
        self.ok.clicked.connect(self.hide)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.ok)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.level = "info"
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        self.level = level
        role(self, LEVEL_ROLE.get(level, "banner-info"))
        restyle(self)
        self.text.setText(text)
        self.changed.emit()
        self.show()
        self.raise_()
        self._timer.start(LEVEL_TIMEOUT_MS.get(level, 5000))
