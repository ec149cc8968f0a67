"""First run: the data directory is empty, so famtune sets itself up (database, key, base
model, its training copy, the demo family) in the background and shows how far it got."""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from famtune_gui import ops
from famtune_gui.fmt import plain_error
from famtune_gui.session import EngineSession
from famtune_gui.theme import role


class FirstRunScreen(QWidget):
    title = "Welcome"
    done = Signal()
    _said = Signal(str)

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.running = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 32, 48, 32)
        layout.setSpacing(14)
        heading = QLabel("Welcome to famtune")
        role(heading, "title")
        text = QLabel(
            "famtune keeps everything on this device. Setting it up takes a minute "
            "or two: it prepares its small language model and loads a demo family "
            "you can replace with your own."
        )
        text.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.steps = QLabel("")
        self.steps.setWordWrap(True)
        role(self.steps, "muted")
        self.steps.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.start_button = QPushButton("Set up famtune")
        role(self.start_button, "primary")
        self.start_button.setMinimumWidth(260)
        layout.addWidget(heading)
        layout.addWidget(text)
        layout.addWidget(self.progress)
        layout.addWidget(self.steps, 1)
        layout.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.lines: list[str] = []
        self._said.connect(self._say, Qt.ConnectionType.QueuedConnection)
        self.start_button.clicked.connect(self.start)

    def start(self) -> None:
        if self.running:
            return
        self.running = True
        self.start_button.hide()
        self.progress.show()
        self.lines = []
        self._say(f"Setting up in {self.session.ft.data.root}")
        self.session.run(
            partial(ops.initialize, self.session.ft, self._said.emit),
            self._finished,
            self._failed,
            lane="model",
            owner=self,
            what="setting up famtune",
        )

    def _say(self, message: str) -> None:
        self.lines = [*self.lines[-7:], message[:1].upper() + message[1:]]
        marks = ["✓"] * (len(self.lines) - 1) + ["→" if self.running else "✓"]
        self.steps.setText(
            "\n".join(f"{m} {line}" for m, line in zip(marks, self.lines, strict=True))
        )

    def _finished(self, _report: dict[str, Any]) -> None:
        self.running = False
        self.progress.hide()
        self._say("famtune is ready")
        self.done.emit()

    def _failed(self, exc: BaseException) -> None:
        self.running = False
        self.progress.hide()
        self.steps.setText("\n".join([*self.lines, "", plain_error(exc, "setting up famtune")]))
        self.start_button.setText("Try again")
        self.start_button.show()
