"""How a training event reads on screen: one sentence (and the numbers a chart wants) for
each kind of :data:`engine.app.TrainingEvent` (the worker's Progress, Phase,
Checkpointed, MemoryAdjusted and Done, then the job's TrainOutcome). Those modules are
light: nothing of the training stack loads with the GUI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.app import (
    Checkpointed,
    MemoryAdjusted,
    TrainingEvent,
    TrainingPhase,
    TrainingProgress,
    TrainOutcome,
)
from famtune_gui.fmt import score


@dataclass(frozen=True)
class TrainingUpdate:
    kind: str  # progress, phase, memory, checkpoint, done, outcome or other
    message: str
    fraction: float | None = None
    loss: float | None = None
    eta_s: float | None = None
    tokens_per_s: float | None = None
    rss_mb: float | None = None
    outcome: dict[str, Any] | None = None


PHASES = {
    "waiting": "waiting for the device to be free",
    "dataset": "preparing this family's examples",
    "tokenizing": "preparing the examples for the model",
    "loading": "loading the model",
    "training": "training",
    "saving": "saving the new model",
    "exporting": "packing the new model",
    "evaluating": "checking the new model for safety and quality",
    "cancelled": "cancelled",
}


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"about {hours} h {minutes:02d} min left"
    return f"about {minutes} min {secs:02d} s left" if minutes else f"about {secs} s left"


def outcome_text(doc: dict[str, Any]) -> str:
    version = doc.get("version")
    reason = str(doc.get("reason") or "").strip().rstrip(".")
    if doc.get("activated"):
        return (
            f"Version {version} is now active: it scored {score(doc.get('performanceScore'))}"
            f" against {score(doc.get('baselineScore'))} for the general ideas."
        )
    if doc.get("created"):
        return f"Version {version} was trained but not used: {reason or 'it did not pass'}."
    return f"No new model: {reason or 'nothing to train'}."


def describe(event: TrainingEvent) -> TrainingUpdate:
    if isinstance(event, TrainingProgress):
        step, total = event.step, event.total_steps
        parts = [f"Step {step} of {total}", f"loss {event.loss:.3f}"]
        if event.tokens_per_s:
            parts.append(f"{event.tokens_per_s:.0f} tokens/s")
        if event.rss_mb:
            parts.append(f"{event.rss_mb:.0f} MB")
        return TrainingUpdate(
            "progress",
            " · ".join(parts),
            fraction=step / total if total else None,
            loss=event.loss,
            eta_s=event.eta_s,
            tokens_per_s=event.tokens_per_s or None,
            rss_mb=event.rss_mb or None,
        )
    if isinstance(event, TrainOutcome):
        doc = event.to_json()
        return TrainingUpdate("outcome", outcome_text(doc), fraction=1.0, outcome=doc)
    if isinstance(event, TrainingPhase):
        text = event.message or PHASES.get(event.name, event.name.replace("_", " "))
        return TrainingUpdate("phase", text[:1].upper() + text[1:])
    if isinstance(event, MemoryAdjusted):
        detail = f"{event.what.replace('_', ' ')} {event.old} → {event.new}"
        reason = f" ({event.reason})" if event.reason else ""
        return TrainingUpdate("memory", f"Adjusted to fit in memory: {detail}{reason}")
    if isinstance(event, Checkpointed):
        return TrainingUpdate("checkpoint", f"Saved a checkpoint at step {event.step}")
    parts = [
        f"{event.steps} steps",
        f"final loss {event.final_loss:.3f}",
        f"peak {event.peak_rss_mb:.0f} MB",
        f"{event.seconds:.0f} s",
    ]
    return TrainingUpdate(
        "done",
        "Training finished: " + ", ".join(parts) + ". Checking the new model…",
        fraction=1.0,
        rss_mb=event.peak_rss_mb,
    )
