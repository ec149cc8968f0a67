"""Idle handling for the kiosk: a watcher of taps and keys, and the dimming overlay that fades
in after a while without any and fades out at the next tap (which it swallows, so waking the
screen never presses a button underneath)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

ACTIVITY_EVENTS = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.TouchBegin,
        QEvent.Type.KeyPress,
        QEvent.Type.Wheel,
        QEvent.Type.TabletPress,
    }
)
DIM_ALPHA = 215


class IdleWatcher(QObject):
    """Emits ``idle`` after ``idle_ms`` without a tap or key, ``active`` at the next one, and
    ``activity`` on every tap (throttled to once a second)."""

    idle = Signal()
    active = Signal()
    activity = Signal()

    def __init__(self, idle_ms: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(idle_ms)
        self._timer.timeout.connect(self._went_idle)
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(1000)
        self.is_idle = False

    def start(self) -> None:
        self._timer.start()

    def set_idle_ms(self, idle_ms: int) -> None:
        self._timer.setInterval(idle_ms)
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in ACTIVITY_EVENTS:
            self.poke()
        return False

    def poke(self) -> None:
        """Count as activity now."""
        self._timer.start()
        if self.is_idle:
            self.is_idle = False
            self.active.emit()
        if not self._throttle.isActive():
            self._throttle.start()
            self.activity.emit()

    def _went_idle(self) -> None:
        self.is_idle = True
        self.idle.emit()


class DimOverlay(QWidget):
    """A black veil over its parent that fades in (``dim``) and out (``wake``)."""

    woken = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._alpha = 0
        self._anim = QVariantAnimation(self)
        self._anim.valueChanged.connect(self._set_alpha)
        self._anim.finished.connect(self._settled)
        parent.installEventFilter(self)
        self.hide()

    @property
    def dimmed(self) -> bool:
        return self.isVisible()

    @property
    def alpha(self) -> int:
        return self._alpha

    def dim(self, duration_ms: int = 1500) -> None:
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.show()
        self.raise_()
        self._fade(DIM_ALPHA, duration_ms)

    def wake(self, duration_ms: int = 250) -> None:
        if self.isVisible():
            self._fade(0, duration_ms)
            self.woken.emit()

    def _fade(self, target: int, duration_ms: int) -> None:
        self._anim.stop()
        self._anim.setStartValue(self._alpha)
        self._anim.setEndValue(target)
        self._anim.setDuration(max(1, duration_ms))
        self._anim.start()

    def _set_alpha(self, value: object) -> None:
        self._alpha = int(value) if isinstance(value, int | float) else 0
        self.update()

    def _settled(self) -> None:
        if self._alpha == 0:
            self.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        parent = self.parentWidget()
        if event.type() == QEvent.Type.Resize and parent is not None and watched is parent:
            self.setGeometry(parent.rect())
        return False

    def mousePressEvent(self, event: QMouseEvent) -> None:
        event.accept()
        self.wake()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, self._alpha))
        painter.end()
