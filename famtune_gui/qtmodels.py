"""Thin Qt models over engine objects: they adapt, they do not own or compute. The engine
object of a row is handed out under ``OBJECT_ROLE``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)

from engine.app import AuditEvent
from famtune_gui.audit_words import details_words, event_words
from famtune_gui.fmt import local

T = TypeVar("T")
OBJECT_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


class ObjectListModel(QAbstractListModel, Generic[T]):
    """A list of engine objects shown through ``label(obj)``."""

    def __init__(self, label: Callable[[T], str], items: Sequence[T] = ()) -> None:
        super().__init__()
        self._label = label
        self._items: list[T] = list(items)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._label(item)
        if role == OBJECT_ROLE:
            return item
        return None

    def items(self) -> list[T]:
        return list(self._items)

    def item(self, row: int) -> T:
        return self._items[row]

    def set_items(self, items: Sequence[T]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def append(self, item: T) -> None:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()

    def replace(self, row: int, item: T) -> None:
        self._items[row] = item
        index = self.index(row)
        self.dataChanged.emit(index, index)

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._items[row]
        self.endRemoveRows()


class AuditTableModel(QAbstractTableModel):
    """The audit trail, newest first: when, what, which family, who, details."""

    HEADERS = ("When", "Event", "Family", "By", "Details")

    def __init__(self) -> None:
        super().__init__()
        self._events: list[AuditEvent] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._events)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._events):
            return None
        event = self._events[index.row()]
        if role == OBJECT_ROLE:
            return event
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return local(event.created_at).strftime("%d %b %H:%M:%S")
        if column == 1:
            return event_words(event.event_type)
        if column == 2:
            return event.family_id or ""
        if column == 3:
            return event.actor
        return details_words(dict(event.details or {}))

    def set_events(self, events: Sequence[AuditEvent]) -> None:
        self.beginResetModel()
        self._events = list(events)
        self.endResetModel()

    def events(self) -> list[AuditEvent]:
        return list(self._events)
