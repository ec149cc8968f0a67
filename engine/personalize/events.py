"""What a training job streams to its caller: the worker's events, then one outcome.

Light on purpose (nothing heavy is imported), so the GUI can type and read the stream
without loading the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.training.events import Event


@dataclass(frozen=True)
class TrainOutcome:
    """The answer of ``famtune-engine train`` (CLI.md)."""

    created: bool
    version: int | None
    activated: bool
    performance_score: float | None
    baseline_score: float | None
    safety_score: float | None
    reason: str

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


TrainingEvent = Event | TrainOutcome
"""One item of a training job's stream; the last one is always a :class:`TrainOutcome`."""
