"""Live numbers for the metrics screen: a sampler of the machine (psutil, once a second on a
timer: each sample costs well under a millisecond) and a metrics sink the rest of the app
logs into (recommendation latency, tokens/s, training loss). It keeps the last few minutes of
each series; the charts read from it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

import psutil
from PySide6.QtCore import QObject, QTimer, Signal

WINDOW = 300  # samples kept per series
GPU_LOAD_FILES = (  # Jetson: GPU load in per mille
    Path("/sys/devices/platform/gpu.0/load"),
    Path("/sys/devices/gpu.0/load"),
    Path("/sys/devices/platform/17000000.gpu/load"),
)


def _gpu_file() -> Path | None:
    return next((p for p in GPU_LOAD_FILES if p.is_file()), None)


class MetricsHub(QObject):
    """A metrics sink (``log``, ``log_dict``, ``close``) with a built-in machine sampler."""

    sampled = Signal(float)  # monotonic time of the sample
    logged = Signal(str)  # name of a series that got a value

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.series: dict[str, deque[tuple[float, float]]] = {}
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)
        self._gpu = _gpu_file()
        self._cpus = max(1, psutil.cpu_count() or 1)
        self.sample_cost_s = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.sample)

    @property
    def has_gpu(self) -> bool:
        return self._gpu is not None

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    # -- the sink ------------------------------------------------------------------------------

    def log(self, name: str, value: float, step: int | None = None) -> None:
        del step  # the charts plot against time
        buf = self.series.setdefault(name, deque(maxlen=WINDOW))
        buf.append((time.monotonic(), float(value)))
        self.logged.emit(name)

    def log_dict(self, values: Mapping[str, float], step: int | None = None) -> None:
        for name, value in values.items():
            self.log(name, value, step)

    def close(self) -> None:
        self.stop()

    def latest(self, name: str) -> float | None:
        buf = self.series.get(name)
        return buf[-1][1] if buf else None

    # -- the sampler ---------------------------------------------------------------------------

    def sample(self) -> None:
        started = time.perf_counter()
        now = time.monotonic()
        values = {
            "memory.rss_mb": self._process.memory_info().rss / 2**20,
            "memory.available_mb": psutil.virtual_memory().available / 2**20,
            "cpu.system_percent": psutil.cpu_percent(None),
            "cpu.process_percent": self._process.cpu_percent(None) / self._cpus,
        }
        gpu = self._read_gpu()
        if gpu is not None:
            values["gpu.percent"] = gpu
        for name, value in values.items():
            self.series.setdefault(name, deque(maxlen=WINDOW)).append((now, value))
        self.sample_cost_s = time.perf_counter() - started
        self.sampled.emit(now)

    def _read_gpu(self) -> float | None:
        if self._gpu is None:
            return None
        try:
            return int(self._gpu.read_text().strip()) / 10.0
        except (OSError, ValueError):
            return None
