"""How a training event reads on screen. The engine's events (``engine.training.events``:
Progress, Phase, Checkpointed, MemoryAdjusted, Done, and the pipeline's final TrainOutcome)
are recognized by their names and fields, so the GUI needs nothing from the training
package at import time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

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


def _fields(event: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(event) and not isinstance(event, type):
        return dataclasses.asdict(event)
    return dict(getattr(event, "__dict__", {}))


def describe(event: Any) -> TrainingUpdate:
    name = type(event).__name__
    if name == "Progress":
        step, total = int(event.step), int(event.total_steps)
        loss = float(event.loss) if event.loss is not None else None
        parts = [f"Step {step} of {total}"]
        if loss is not None:
            parts.append(f"loss {loss:.3f}")
        tps = getattr(event, "tokens_per_s", None)
        if tps:
            parts.append(f"{tps:.0f} tokens/s")
        rss = getattr(event, "rss_mb", None)
        if rss:
            parts.append(f"{rss:.0f} MB")
        return TrainingUpdate(
            "progress",
            " · ".join(parts),
            fraction=step / total if total else None,
            loss=loss,
            eta_s=getattr(event, "eta_s", None),
            tokens_per_s=tps,
            rss_mb=rss,
        )
    to_json = getattr(event, "to_json", None)
    if name == "TrainOutcome" or (callable(to_json) and hasattr(event, "activated")):
        doc = dict(to_json()) if callable(to_json) else _fields(event)
        return TrainingUpdate("outcome", outcome_text(doc), fraction=1.0, outcome=doc)
    message = getattr(event, "message", None) or ""
    if name == "Phase":
        phase = str(getattr(event, "name", ""))
        text = message or PHASES.get(phase, phase.replace("_", " "))
        return TrainingUpdate("phase", text[:1].upper() + text[1:])
    if name == "MemoryAdjusted":
        what = str(getattr(event, "what", "a setting")).replace("_", " ")
        detail = f"{what} {getattr(event, 'old', '?')} → {getattr(event, 'new', '?')}"
        reason = getattr(event, "reason", "")
        return TrainingUpdate(
            "memory", f"Adjusted to fit in memory: {detail}" + (f" ({reason})" if reason else "")
        )
    if name == "Checkpointed":
        return TrainingUpdate("checkpoint", f"Saved a checkpoint at step {event.step}")
    if name == "Done":
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
    return TrainingUpdate("other", str(message or name))
