"""A small training job for GUI tests: a generator of the engine's training events.

It uses the real dataclasses from ``engine.training.events`` when that module exists, and
stand-ins with the same names and fields otherwise (the training package is being written
alongside the GUI). Nothing here loads a model."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - depends on the state of engine/training
        return None


_real = _module("engine.training.events")  # Progress, Phase, ...
_pipeline = _module("engine.training.pipeline")  # TrainOutcome


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    epoch: int
    loss: float
    learning_rate: float
    tokens_per_s: float
    eta_s: float | None
    rss_mb: float


@dataclass(frozen=True)
class Phase:
    name: str
    message: str


@dataclass(frozen=True)
class TrainOutcome:
    created: bool
    version: int | None
    activated: bool
    performance_score: float | None = None
    baseline_score: float | None = None
    safety_score: float | None = None
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "version": self.version,
            "activated": self.activated,
            "performanceScore": self.performance_score,
            "baselineScore": self.baseline_score,
            "safetyScore": self.safety_score,
            "reason": self.reason,
        }


def event_class(name: str) -> Any:
    for module in (_real, _pipeline):
        found = getattr(module, name, None) if module is not None else None
        if found is not None:
            return found
    return globals()[name]


USING_REAL_EVENTS = _real is not None and _pipeline is not None


class FakeJob:
    """``job(family_id, cancel, force)`` is a TrainFactory for ``EngineSession``."""

    def __init__(self, steps: int = 6, pause_s: float = 0.01) -> None:
        self.steps = steps
        self.pause_s = pause_s
        self.produced = 0
        self.closed = False
        self.cancel_seen = False

    def __call__(self, family_id: str, cancel: threading.Event, force: bool) -> Iterator[Any]:
        del family_id, force
        try:
            yield event_class("Phase")("dataset", "Preparing the training examples")
            for step in range(1, self.steps + 1):
                if cancel.is_set():
                    self.cancel_seen = True
                    return
                time.sleep(self.pause_s)
                self.produced = step
                yield event_class("Progress")(
                    step=step,
                    total_steps=self.steps,
                    epoch=1,
                    loss=2.0 / step,
                    learning_rate=1e-4,
                    tokens_per_s=300.0,
                    eta_s=(self.steps - step) * 0.5,
                    rss_mb=900.0,
                )
            yield event_class("TrainOutcome")(
                True,
                1,
                True,
                0.6,
                0.4,
                0.99,
                "it beat the general ideas and passed the safety suite",
            )
        finally:
            self.closed = True
            self.cancel_seen = self.cancel_seen or cancel.is_set()
