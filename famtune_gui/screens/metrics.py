"""Live metrics: memory against the training budget, CPU, GPU (where the board reports it),
inference tokens/s, recommendation latency, training loss, and the integration metrics.
Charts redraw once a second from the metrics hub, and only while this screen is shown."""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine import app as actions
from engine.app.integration import IntegrationMetrics
from famtune_gui.fmt import score
from famtune_gui.session import EngineSession
from famtune_gui.theme import role
from famtune_gui.widgets.charts import TimeSeriesChart

INTEGRATION_EVERY_MS = 5000


class MetricsScreen(QWidget):
    title = "Live metrics"

    def __init__(self, session: EngineSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        hub = session.metrics
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(8)
        strip = QFrame()
        role(strip, "panel")
        row = QHBoxLayout(strip)
        row.setContentsMargins(12, 6, 12, 6)
        self.integration = QLabel("Family models: …")
        self.integration.setWordWrap(True)
        row.addWidget(self.integration)
        layout.addWidget(strip)

        grid = QGridLayout()
        grid.setSpacing(8)
        self.memory = TimeSeriesChart("Memory (MB)", "MB", ["famtune"])
        self.cpu = TimeSeriesChart("CPU (%)", "%", ["device", "famtune"], y_max=100.0)
        self.gpu: TimeSeriesChart | None = None
        gpu_widget: QWidget
        if hub.has_gpu:
            self.gpu = TimeSeriesChart("GPU (%)", "%", ["GPU"], y_max=100.0)
            gpu_widget = self.gpu
        else:
            gpu_widget = QLabel("GPU: no load reading on this machine")
            gpu_widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
            gpu_widget.setWordWrap(True)
            role(gpu_widget, "muted")
        self.tokens = TimeSeriesChart("Tokens per second", "tokens/s", ["answers", "training"])
        self.latency = TimeSeriesChart("Time to ideas (ms)", "ms", ["ideas"])
        self.loss = TimeSeriesChart("Training loss", "", ["loss"])
        for i, widget in enumerate(
            (self.memory, self.cpu, gpu_widget, self.tokens, self.latency, self.loss)
        ):
            grid.addWidget(widget, i // 3, i % 3)
        layout.addLayout(grid, 1)
        self.charts = [self.memory, self.cpu, self.tokens, self.latency, self.loss]
        if self.gpu is not None:
            self.charts.append(self.gpu)

        budget = session.ft.config.max_memory_usage if session.initialized else 1536
        self.memory.set_reference("budget", float(budget))
        self._integration_timer = QTimer(self)
        self._integration_timer.setInterval(INTEGRATION_EVERY_MS)
        self._integration_timer.timeout.connect(self.refresh_integration)
        hub.sampled.connect(self.redraw)

    def on_shown(self) -> None:
        self.redraw(None)
        self.refresh_integration()
        self._integration_timer.start()

    def on_hidden(self) -> None:
        self._integration_timer.stop()

    def redraw(self, now: float | None) -> None:
        if not self.isVisible() and now is not None:
            return
        import time

        t = time.monotonic() if now is None else now
        series = self.session.metrics.series

        def pts(name: str) -> list[tuple[float, float]]:
            return list(series.get(name, ()))

        self.memory.set_points("famtune", pts("memory.rss_mb"), t)
        available = self.session.metrics.latest("memory.available_mb")
        rss = self.session.metrics.latest("memory.rss_mb")
        if rss is not None:
            self.memory.series["famtune"].setName(f"famtune {rss:.0f} MB")
        if available is not None:
            self.memory.chart().setTitle(f"Memory MB · {available / 1024:.1f} GB free")
        self.cpu.set_points("device", pts("cpu.system_percent"), t)
        self.cpu.set_points("famtune", pts("cpu.process_percent"), t)
        if self.gpu is not None:
            self.gpu.set_points("GPU", pts("gpu.percent"), t)
        self.tokens.set_points("answers", pts("inference.tokens_per_s"), t)
        self.tokens.set_points("training", pts("train.tokens_per_s"), t)
        self.latency.set_points("ideas", pts("recommend.latency_ms"), t)
        self.loss.set_points("loss", pts("train.loss"), t)

    def refresh_integration(self) -> None:
        if not self.session.initialized:
            return
        self.session.run(
            partial(actions.integration_metrics, self.session.facade),
            self._integration,
            owner=self,
            what="reading the metrics",
        )

    def _integration(self, m: IntegrationMetrics) -> None:
        self.integration.setText(
            f"Family models: {m.total_family_models} · active: {m.active_models} · "
            f"average score: {score(m.average_performance)} · safety compliance: "
            f"{score(m.safety_compliance)} · engine memory: {m.memory_usage:.0f} MB"
        )
