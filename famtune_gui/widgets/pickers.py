"""Touch pickers: segmented choices, a choice button with a big menu, a +/- stepper, a time
picker and an on/off switch. Nothing here needs a keyboard."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from famtune_gui.theme import icon, role
from famtune_gui.widgets.choice_popup import ChoicePopup

Options = Sequence[tuple[str, str]]  # (value, label)


class Segmented(QWidget):
    """A row of buttons of which exactly one is on."""

    changed = Signal(str)

    def __init__(self, options: Options, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        for value, label in options:
            button = QPushButton(label)
            button.setCheckable(True)
            button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
            self._group.addButton(button)
            layout.addWidget(button)
            self.buttons[value] = button
            button.clicked.connect(lambda _=False, v=value: self.changed.emit(v))
        layout.addStretch(1)

    def value(self) -> str | None:
        return next((v for v, b in self.buttons.items() if b.isChecked()), None)

    def set_value(self, value: str | None) -> None:
        button = self.buttons.get(value or "")
        if button is not None:
            button.setChecked(True)

    def set_allowed(self, allowed: Sequence[str]) -> None:
        for value, button in self.buttons.items():
            button.setEnabled(value in allowed)


class ChoiceButton(QPushButton):
    """A button showing the current choice; a tap opens its options inside the window
    (``ChoicePopup``), in columns when they are many."""

    changed = Signal(str)

    def __init__(self, options: Options, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._options = list(options)
        self._value: str | None = None
        self.popup: ChoicePopup | None = None
        self.clicked.connect(self._open)
        self.set_options(options)

    def set_options(self, options: Options) -> None:
        self._options = list(options)
        if self._value not in {v for v, _ in self._options}:
            self._value = self._options[0][0] if self._options else None
        self._show()

    def value(self) -> str | None:
        return self._value

    def set_value(self, value: str | None) -> None:
        if value is not None and value not in {v for v, _ in self._options}:
            return
        self._value = value
        self._show()

    def _pick(self, value: str) -> None:
        if value != self._value:
            self._value = value
            self._show()
            self.changed.emit(value)

    def _show(self) -> None:
        label = next((lbl for v, lbl in self._options if v == self._value), "")
        self.setText(f"{label}  ▾")
        metrics = self.fontMetrics()
        widest = max(
            (metrics.horizontalAdvance(f"{lbl}  ▾") for _v, lbl in self._options), default=0
        )
        self.setMinimumWidth(widest + 44)

    def options(self) -> list[tuple[str, str]]:
        return list(self._options)

    def _open(self) -> None:
        window = self.window()
        if self.popup is None or self.popup.parentWidget() is not window:
            self.popup = ChoicePopup(window)
            self.popup.picked.connect(self._pick)
        self.popup.open_for(self, self._options, self._value)


class Stepper(QWidget):
    """[-] value [+] for a bounded integer."""

    changed = Signal(int)

    def __init__(
        self,
        minimum: int,
        maximum: int,
        step: int = 1,
        *,
        width: int = 64,
        fmt: str = "{}",
        wrap: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.step, self.fmt, self.wrap = (
            minimum,
            maximum,
            step,
            fmt,
            wrap,
        )
        self._value = minimum
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.minus = QPushButton()
        self.plus = QPushButton()
        for button, name in ((self.minus, "minus"), (self.plus, "plus")):
            button.setIcon(icon(name))
            button.setIconSize(QSize(24, 24))
            button.setAutoRepeat(True)
            button.setFixedWidth(60)
        self.label = QLabel()
        role(self.label, "value")
        self.label.setMinimumWidth(width)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.minus)
        layout.addWidget(self.label)
        layout.addWidget(self.plus)
        self.minus.clicked.connect(lambda: self._bump(-self.step))
        self.plus.clicked.connect(lambda: self._bump(self.step))
        self._show()

    def value(self) -> int:
        return self._value

    def set_value(self, value: int) -> None:
        self._value = max(self.minimum, min(self.maximum, value))
        self._show()

    def _bump(self, delta: int) -> None:
        value = self._value + delta
        if self.wrap:
            span = self.maximum - self.minimum + 1
            value = self.minimum + (value - self.minimum) % span
        value = max(self.minimum, min(self.maximum, value))
        if value != self._value:
            self._value = value
            self._show()
            self.changed.emit(value)

    def _show(self) -> None:
        self.label.setText(self.fmt.format(self._value))


class TimePicker(QWidget):
    """HH:MM with an hour stepper and a minute stepper (5-minute steps); wraps around."""

    changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.hours = Stepper(0, 23, 1, width=40, fmt="{:02d}", wrap=True)
        self.minutes = Stepper(0, 55, 5, width=40, fmt="{:02d}", wrap=True)
        colon = QLabel(":")
        role(colon, "value")
        layout.addWidget(self.hours)
        layout.addWidget(colon)
        layout.addWidget(self.minutes)
        self.hours.changed.connect(lambda _v: self.changed.emit(self.value()))
        self.minutes.changed.connect(lambda _v: self.changed.emit(self.value()))

    def value(self) -> str:
        return f"{self.hours.value():02d}:{self.minutes.value():02d}"

    def set_value(self, hhmm: str) -> None:
        hours, minutes = (int(p) for p in hhmm.split(":"))
        self.hours.set_value(hours)
        self.minutes.maximum = 59 if minutes % 5 else 55
        self.minutes.set_value(minutes)


class Switch(QPushButton):
    """An on/off toggle that says which it is."""

    def __init__(
        self, on_text: str = "On", off_text: str = "Off", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._texts = (off_text, on_text)
        self.setCheckable(True)
        self.setMinimumWidth(120)
        self.toggled.connect(self._show)
        self._show(False)

    def _show(self, on: bool) -> None:
        self.setText(self._texts[int(on)])
