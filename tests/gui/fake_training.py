"""A small training job for GUI tests: a generator of the engine's real training events
(``engine.training.events`` and the pipeline's ``TrainOutcome``) without loading a model,
for what the screens do with them. The real pipeline behind the Models screen is tested in
``test_training_real.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from engine.personalize.events import TrainOutcome
from engine.training import events


def event_class(name: str) -> Any:
    """The engine's event class called ``name`` (Progress, Phase, Done, TrainOutcome...)."""
    return TrainOutcome if name == "TrainOutcome" else getattr(events, name)


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
