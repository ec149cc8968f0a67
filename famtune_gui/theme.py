"""The one theme (``resources/theme.qss``), the icons (``resources/icon-*.svg``) and the touch
helpers every screen uses: minimum target sizes and kinetic scrolling."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QFont, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QApplication,
    QScroller,
    QScrollerProperties,
    QWidget,
)

from engine.base.paths import resource_path

TARGET = 48  # the smallest thing a finger must hit, in px
ICON = QSize(32, 32)
BASE_FONT_PX = 18

BACKGROUND = QColor("#101418")
SURFACE = QColor("#1c232b")
TEXT = QColor("#f5f7fa")
MUTED = QColor("#b8c4d0")
ACCENT = QColor("#ffd24a")
GOOD = QColor("#3ddc84")
BAD = QColor("#ff6b6b")
INFO = QColor("#5ab0ff")
SERIES = ("#ffd24a", "#5ab0ff", "#3ddc84", "#ff8f5a", "#d58cff")


def stylesheet() -> str:
    return resource_path("theme.qss").read_text(encoding="utf-8")


def apply_theme(app: QApplication) -> None:
    font = QFont("DejaVu Sans")
    font.setPixelSize(BASE_FONT_PX)
    app.setFont(font)
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())


@cache
def icon(name: str) -> QIcon:
    """``resources/icon-<name>.svg`` as an icon (empty when missing)."""
    path = resource_path(f"icon-{name}.svg")
    return QIcon(str(path)) if path.is_file() else QIcon()


def kinetic(view: QAbstractScrollArea) -> None:
    """Drag-to-scroll with momentum (finger or mouse), no overshoot past the ends."""
    viewport = view.viewport()
    QScroller.grabGesture(viewport, QScroller.ScrollerGestureType.LeftMouseButtonGesture)
    scroller = QScroller.scroller(viewport)
    props = scroller.scrollerProperties()
    off = QScrollerProperties.OvershootPolicy.OvershootAlwaysOff
    props.setScrollMetric(QScrollerProperties.ScrollMetric.VerticalOvershootPolicy, off)
    props.setScrollMetric(QScrollerProperties.ScrollMetric.HorizontalOvershootPolicy, off)
    props.setScrollMetric(QScrollerProperties.ScrollMetric.DragStartDistance, 0.004)
    # a tap on a button inside a scrolling list reaches it at once (no press delay): delayed
    # presses made quick taps on card buttons feel lost; a drag still scrolls once the finger
    # has moved DragStartDistance
    props.setScrollMetric(QScrollerProperties.ScrollMetric.MousePressEventDelay, 0.0)
    scroller.setScrollerProperties(props)
    if isinstance(view, QAbstractItemView):
        view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)


def role(widget: QWidget, name: str) -> QWidget:
    """Tag a widget for the style sheet (``[role="primary"]``) and return it."""
    widget.setProperty("role", name)
    return widget


def restyle(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
