"""What a training run tells its caller: small frozen events, and where metrics go.

:func:`engine.training.trainer.train_lora` yields these; the worker subprocess writes them
as JSON lines (:func:`event_to_json`) and the parent turns them back
(:func:`event_from_json`). Metrics also go through the :class:`MetricSink` protocol
(``log``, ``log_dict``, ``close``); :class:`JsonlSink` appends them to a file, and the GUI's
live chart is another implementation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Progress:
    """One optimizer step finished."""

    step: int
    """Steps done so far (1-based: the first step reports 1)."""
    total_steps: int
    epoch: float
    """Fractional epoch, e.g. 1.5 half-way through the second pass."""
    loss: float
    """Mean cross-entropy over the response tokens of this step."""
    learning_rate: float
    tokens_per_s: float
    """Prompt + response tokens processed per second, averaged over this run's steps."""
    eta_s: float
    rss_mb: float


@dataclass(frozen=True)
class Phase:
    """The run entered a phase: waiting, tokenizing, loading, training, saving, exporting,
    or cancelled."""

    name: str
    message: str = ""


@dataclass(frozen=True)
class Checkpointed:
    """A resumable checkpoint of ``step`` steps was written (atomically) to ``path``."""

    step: int
    path: str


@dataclass(frozen=True)
class MemoryAdjusted:
    """A setting was lowered to stay within the memory budget."""

    what: str
    """``micro_batch_size``, ``max_seq_length`` or ``checkpointed_layers``."""
    old: int
    new: int
    reason: str


@dataclass(frozen=True)
class Done:
    """Training finished; the adapter is saved and exported."""

    adapter_dir: str
    gguf_path: str | None
    steps: int
    final_loss: float
    peak_rss_mb: float
    seconds: float
    tokens_per_s: float
    """Prompt + response tokens per second of training-loop time (loading excluded)."""
    cpu_tokens_per_s: float = 0.0
    """The same per second of the loop's process CPU time (less sensitive to a busy machine)."""


Event = Progress | Phase | Checkpointed | MemoryAdjusted | Done
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls for cls in (Progress, Phase, Checkpointed, MemoryAdjusted, Done)
}


def event_to_json(event: Event) -> dict[str, Any]:
    """``{"event": "Progress", "step": 3, ...}``."""
    return {"event": type(event).__name__, **dataclasses.asdict(event)}


def event_from_json(data: Mapping[str, Any]) -> Event:
    """The event :func:`event_to_json` wrote. Raises ValueError for anything else."""
    kind = data.get("event")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown event {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise ValueError(f"malformed {kind} event: {exc}") from exc


@runtime_checkable
class MetricSink(Protocol):
    """Where training metrics go (torchtune's metric-logger shape)."""

    def log(self, name: str, value: float, step: int) -> None: ...

    def log_dict(self, values: Mapping[str, float], step: int) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """Appends ``{"step": 3, "time": ..., "loss": 2.1, ...}`` lines to a file, flushed per line."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = self.path.open("a", encoding="utf-8")

    def log(self, name: str, value: float, step: int) -> None:
        self.log_dict({name: value}, step)

    def log_dict(self, values: Mapping[str, float], step: int) -> None:
        if self._handle is None:
            raise ValueError("the sink is closed")
        record = {
            "step": step,
            "time": round(time.time(), 3),
            **{k: float(v) for k, v in values.items()},
        }
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
