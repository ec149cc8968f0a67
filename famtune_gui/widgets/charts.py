"""Live time-series charts (QtCharts): a fixed window of the last N seconds, a y axis that
grows to fit, and an optional dashed reference line (the memory budget). A chart without
data says "No data yet" (no axis of zeros); a single point is drawn as a dot; step axes have
whole-number ticks."""

from __future__ import annotations

import math
from collections.abc import Iterable

from PySide6.QtCharts import QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, QPointF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

from famtune_gui.theme import BACKGROUND, MUTED, SERIES, SURFACE, TEXT

Points = Iterable[tuple[float, float]]


class TimeSeriesChart(QChartView):
    """A line per series name; x is seconds relative to now (-window .. 0)."""

    def __init__(
        self,
        title: str,
        unit: str,
        names: Iterable[str],
        *,
        window_s: float = 120.0,
        y_min: float = 0.0,
        y_max: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        chart = QChart()
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(150)
        self.window_s = window_s
        self.unit = unit
        self._fixed_max = y_max
        self._y_min = y_min
        chart.setTitle(title)
        title_font = QFont("DejaVu Sans")
        title_font.setPixelSize(17)
        title_font.setBold(True)
        chart.setTitleFont(title_font)
        chart.setTitleBrush(TEXT)
        chart.setBackgroundBrush(SURFACE)
        chart.setBackgroundRoundness(12)
        chart.setMargins(QMargins(4, 2, 4, 2))
        chart.legend().setLabelColor(TEXT)
        legend_font = QFont("DejaVu Sans")
        legend_font.setPixelSize(13)
        chart.legend().setFont(legend_font)
        chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
        self.setBackgroundBrush(BACKGROUND)

        axis_font = QFont("DejaVu Sans")
        axis_font.setPixelSize(14)
        self.x_axis = QValueAxis()
        self.x_axis.setRange(-window_s, 0)
        self.x_axis.setLabelFormat("%d s")
        self.x_axis.setTickCount(5)
        self.y_axis = QValueAxis()
        self.y_axis.setRange(y_min, y_max if y_max is not None else 1.0)
        self.y_axis.setLabelFormat("%.0f")
        self.y_axis.setTickCount(5 if y_max is not None else 4)
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsFont(axis_font)
            axis.setLabelsColor(MUTED)
            axis.setGridLineColor(QColor("#2f3a46"))
            axis.setLinePenColor(QColor("#4a5868"))
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)

        self.series: dict[str, QLineSeries] = {}
        for i, name in enumerate(names):
            series = QLineSeries()
            series.setName(name)
            series.setPen(QPen(QColor(SERIES[i % len(SERIES)]), 3))
            chart.addSeries(series)
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
            self.series[name] = series
        chart.legend().setVisible(len(self.series) > 1)
        self._reference: QLineSeries | None = None
        self._reference_value: float | None = None
        self._peaks: dict[str, float] = {}
        self._shown_max = y_max if y_max is not None else 1.0
        self.empty_label = QLabel("No data yet", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setStyleSheet("color: #b8c4d0; background: transparent;")
        self.empty_label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._show_empty()

    @property
    def empty(self) -> bool:
        return all(series.count() == 0 for series in self.series.values())

    def _show_empty(self) -> None:
        """No data: say so instead of drawing axes of zeros; one point: draw it as a dot."""
        empty = self.empty
        self.empty_label.setVisible(empty)
        for axis in (self.x_axis, self.y_axis):
            axis.setLabelsVisible(not empty)
        for series in self.series.values():
            series.setPointsVisible(series.count() == 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.empty_label.setGeometry(self.rect())
    def set_reference(self, name: str, value: float) -> None:
        """A dashed horizontal line (e.g. the memory budget)."""
        if self._reference is None:
            self._reference = QLineSeries()
            pen = QPen(QColor("#ff6b6b"), 2)
            pen.setStyle(Qt.PenStyle.DashLine)
            self._reference.setPen(pen)
            self.chart().addSeries(self._reference)
            self._reference.attachAxis(self.x_axis)
            self._reference.attachAxis(self.y_axis)
            self.chart().legend().setVisible(True)
        self._reference.setName(name)
        self._reference_value = value
        self._reference.replace([QPointF(-self.window_s, value), QPointF(0, value)])
        self._rescale()

    def set_points(self, name: str, points: Points, now: float) -> None:
        """Show ``(t, value)`` samples (t in seconds, monotonic) relative to ``now``."""
        series = self.series[name]
        shown = [QPointF(t - now, v) for t, v in points if now - t <= self.window_s]
        series.replace(shown)
        self._peaks[name] = max((p.y() for p in shown), default=0.0)
        self._rescale()
        self._show_empty()

    def _rescale(self) -> None:
        if self._fixed_max is not None:
            return
        top = max([*self._peaks.values(), self._reference_value or 0.0, 1e-9])
        nice = _nice_ceiling(top * 1.1)
        if abs(self._shown_max - nice) > 1e-9:
            self._shown_max = nice
            self.y_axis.setRange(self._y_min, nice)
            self.y_axis.applyNiceNumbers()
            self.y_axis.setLabelFormat("%.1f" if nice < 5 else "%.0f")


def _nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


class StepChart(TimeSeriesChart):
    """One line against training steps (the live loss curve); the x axis grows with it."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(title, "", [name], window_s=10.0, parent=parent)
        self.name = name
        self.x_axis.setLabelFormat("%d")
        self.x_axis.setTitleText("step")
        self.x_axis.setTitleBrush(MUTED)
        self.x_axis.setRange(0, 10)
        self._whole_ticks(10)
        self._points: list[QPointF] = []
        self.setBackgroundBrush(SURFACE)
        self.setStyleSheet("background: #1c232b;")
        self.chart().setBackgroundVisible(False)

    def clear(self) -> None:
        self._points = []
        self.series[self.name].clear()
        self.x_axis.setRange(0, 10)
        self._whole_ticks(10)
        self._peaks[self.name] = 0.0
        self._rescale()
        self._show_empty()

    def _whole_ticks(self, top: float) -> None:
        """Steps are whole numbers: ticks every 1, 2, 5, 10... steps, never at 2.5."""
        interval = max(1, math.ceil(top / 5))
        for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
            if nice >= interval:
                interval = nice
                break
        self.x_axis.setTickType(QValueAxis.TickType.TicksDynamic)
        self.x_axis.setTickAnchor(0)
        self.x_axis.setTickInterval(interval)

    def append(self, x: float, y: float) -> None:
        self._points.append(QPointF(x, y))
        self.series[self.name].append(x, y)
        if x > self.x_axis.max():
            top = max(10.0, float(math.ceil(_nice_ceiling(x))))
            self.x_axis.setRange(0, top)
            self._whole_ticks(top)
        self._peaks[self.name] = max(self._peaks.get(self.name, 0.0), y)
        self._rescale()
        self._show_empty()

    @property
    def points(self) -> list[QPointF]:
        return list(self._points)
