"""Tappable chips that wrap onto as many lines as they need: for interests, topics, factors,
categories and days. ``ChipEditor`` adds a "+ Add" chip for a tag that is not offered."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QLayout, QLayoutItem, QPushButton, QSizePolicy, QWidget

from famtune_gui.fmt import words
from famtune_gui.theme import role
from famtune_gui.widgets.pickers import Options


class FlowLayout(QLayout):
    """Lays items out left to right and wraps to the next line (Qt's flow layout example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 8) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _place(self, rect: QRect, *, move: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        for item in self._items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() + 1 and line > 0:
                x, y, line = rect.x(), y + line + self._spacing, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y()


class ChipGroup(QWidget):
    """Chips for a set of values. ``exclusive`` allows at most one (tap again to clear);
    ``exclusive_sets`` makes only the values within each set exclude each other."""

    changed = Signal()

    def __init__(
        self,
        options: Options = (),
        *,
        exclusive: bool = False,
        exclusive_sets: Sequence[frozenset[str]] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.exclusive = exclusive
        self.exclusive_sets = list(exclusive_sets)
        self.flow = FlowLayout(self)
        self.chips: dict[str, QPushButton] = {}
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        for value, label in options:
            self.add_chip(value, label)

    def add_chip(
        self, value: str, label: str | None = None, *, checked: bool = False
    ) -> QPushButton:
        chip = self.chips.get(value)
        if chip is None:
            chip = QPushButton(label or words(value))
            chip.setCheckable(True)
            role(chip, "chip")
            chip.clicked.connect(lambda on, v=value: self._tapped(v, on))
            self._insert(chip)
            self.chips[value] = chip
        chip.setChecked(checked or chip.isChecked())
        return chip

    def _insert(self, chip: QPushButton) -> None:
        self.flow.addWidget(chip)

    def _tapped(self, value: str, on: bool) -> None:
        if on:
            rivals: set[str] = set(self.chips) if self.exclusive else set()
            for group in self.exclusive_sets:
                if value in group:
                    rivals |= group
            for other in rivals - {value}:
                if other in self.chips:
                    self.chips[other].setChecked(False)
        self.changed.emit()

    def values(self) -> list[str]:
        return [v for v, chip in self.chips.items() if chip.isChecked()]

    def set_values(self, values: Sequence[str]) -> None:
        for value in values:
            if value not in self.chips:
                self.add_chip(value)
        for value, chip in self.chips.items():
            chip.setChecked(value in values)

    def heightForWidth(self, width: int) -> int:
        return self.flow.heightForWidth(width)

    def hasHeightForWidth(self) -> bool:
        return True


class ChipEditor(ChipGroup):
    """A ChipGroup with a final "+ Add" chip; ``add_requested`` asks the owner for a tag."""

    add_requested = Signal()

    def __init__(
        self, options: Options = (), *, add_label: str = "+ Add", parent: QWidget | None = None
    ) -> None:
        self.add_button = QPushButton(add_label)
        role(self.add_button, "chip-add")
        super().__init__(options, parent=parent)
        self.flow.addWidget(self.add_button)
        self.add_button.clicked.connect(self.add_requested.emit)

    def _insert(self, chip: QPushButton) -> None:
        # keep "+ Add" last
        index = self.flow.indexOf(self.add_button)
        if index < 0:
            self.flow.addWidget(chip)
            return
        item = self.flow.takeAt(index)
        self.flow.addWidget(chip)
        if item is not None:
            self.flow.addItem(item)

    def add_value(self, value: str) -> None:
        """Add a tag the user typed (normalized like the engine's topics) and select it."""
        tag = "_".join(value.strip().lower().replace("-", " ").split())
        if tag:
            self.add_chip(tag, checked=True)
            self.changed.emit()
