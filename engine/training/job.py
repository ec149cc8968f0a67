"""A training job: what to train on, where the results go, and the knobs.

A :class:`TrainJob` is plain data (JSON in and out) so the worker subprocess can be handed
one as a file. :meth:`TrainJob.config_hash` covers every field that changes the numbers a
run produces; with the dataset hash it names the run's checkpoint directory, so a restarted
job finds its own checkpoint and nothing else's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.base.errors import ConfigError

if TYPE_CHECKING:
    from engine.base.config import FineTuningConfig

Device = Literal["auto", "cpu", "cuda"]
Objective = Literal["response", "yes_no"]
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Fields that do not change what a run computes (only how, where, or how fast).
_NOT_HASHED = frozenset(
    {
        "cache_dir",
        "out_dir",
        "checkpoint_dir",
        "examples",
        "tokenized_path",
        "memory_budget_mb",
        "gradient_checkpointing",
        "checkpoint_every",
        "num_threads",
        "micro_batch_size",
        "wait_timeout_s",
        "min_seq_length",
        "export_gguf",
        "metrics_path",
        "name",
        "keep_checkpoint",
    }
)


@dataclass(frozen=True)
class TrainJob:
    """One LoRA fine-tune of the base model's training copy."""

    cache_dir: Path
    """The training copy of the base (``engine.basemodel.prepare_training_cache``)."""
    out_dir: Path
    """Receives ``adapter_model.safetensors``, ``adapter_config.json`` and ``adapter.gguf``."""
    checkpoint_dir: Path
    """Holds the tokenized data, resumable checkpoints and the worker's log."""
    examples: tuple[tuple[str, str], ...] | None = None
    """(prompt, response) texts; tokenized in a short-lived subprocess."""
    tokenized_path: Path | None = None
    """Instead of ``examples``: an ``.npz`` written by ``engine.training.data``."""
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = DEFAULT_TARGETS
    learning_rate: float = 1e-4
    epochs: int = 2
    batch_size: int = 4
    """Examples per optimizer step (the effective batch)."""
    max_seq_length: int = 512
    seed: int = 42
    memory_budget_mb: int = 1536
    """Peak resident memory the whole training process may use."""
    gradient_checkpointing: bool = True
    """Allow recomputing layers in the backward pass where the budget needs it."""
    device: Device = "auto"
    checkpoint_every: int = 10
    """Optimizer steps between checkpoints (one is also written on cancel)."""
    max_steps: int | None = None
    """Stop after this many steps (None: ``epochs`` full passes)."""
    num_threads: int | None = None
    """CPU threads for torch (None: the machine's cores)."""
    micro_batch_size: int | None = None
    """Examples per forward pass (None: up to ``batch_size``, as the memory plan allows)."""
    wait_timeout_s: float = 900.0
    """How long to wait for free memory before giving up."""
    min_seq_length: int = 64
    """The shortest sequence the memory plan may cut to."""
    export_gguf: bool = True
    keep_checkpoint: bool = False
    """Keep the run's checkpoint directory after a successful run."""
    metrics_path: Path | None = None
    """Also append metrics as JSON lines here."""
    name: str | None = None
    objective: Objective = "response"
    """``response``: cross-entropy of the response tokens over the whole vocabulary.
    ``yes_no``: every response is one answer token (" Yes" or " No"); the loss is the
    cross-entropy over those answer tokens only (the label-only head), read at the last
    prompt position: a pointwise scorer."""
    lora_layers: int | None = None
    """LoRA on the upper ``lora_layers`` decoder layers only (None: every layer). The lower
    layers then need no backward pass at all."""

    def __post_init__(self) -> None:
        if (self.examples is None) == (self.tokenized_path is None):
            raise ConfigError("give exactly one of examples and tokenized_path")
        if self.examples is not None and not self.examples:
            raise ConfigError("no training examples")
        checks = {
            "lora_rank": self.lora_rank >= 1,
            "lora_alpha": self.lora_alpha > 0,
            "lora_dropout": 0.0 <= self.lora_dropout < 1.0,
            "learning_rate": self.learning_rate > 0,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "max_seq_length": self.max_seq_length >= 8,
            "memory_budget_mb": self.memory_budget_mb >= 64,
            "checkpoint_every": self.checkpoint_every >= 1,
            "max_steps": self.max_steps is None or self.max_steps >= 1,
            "micro_batch_size": self.micro_batch_size is None or self.micro_batch_size >= 1,
            "min_seq_length": 8 <= self.min_seq_length <= self.max_seq_length,
            "device": self.device in ("auto", "cpu", "cuda"),
            "lora_target_modules": bool(self.lora_target_modules),
            "objective": self.objective in ("response", "yes_no"),
            "lora_layers": self.lora_layers is None or self.lora_layers >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(f"invalid training job settings: {', '.join(bad)}")

    @classmethod
    def from_config(
        cls,
        config: FineTuningConfig,
        *,
        cache_dir: Path,
        out_dir: Path,
        checkpoint_dir: Path,
        examples: list[tuple[str, str]] | None = None,
        tokenized_path: Path | None = None,
        **overrides: Any,
    ) -> TrainJob:
        """A job with the fine-tuning settings of ``config`` (``use_cuda`` off -> cpu)."""
        device: Device = {"on": "cuda", "off": "cpu"}.get(config.use_cuda, "auto")  # type: ignore[assignment]
        values: dict[str, Any] = {
            "lora_rank": config.lora_rank,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout,
            "lora_target_modules": tuple(config.lora_target_modules),
            "learning_rate": config.learning_rate,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "max_seq_length": config.max_seq_length,
            "seed": config.seed,
            "memory_budget_mb": config.max_memory_usage,
            "gradient_checkpointing": config.gradient_checkpointing,
            "device": device,
        }
        values.update(overrides)
        return cls(
            cache_dir=Path(cache_dir),
            out_dir=Path(out_dir),
            checkpoint_dir=Path(checkpoint_dir),
            examples=tuple((str(p), str(r)) for p, r in examples) if examples else None,
            tokenized_path=Path(tokenized_path) if tokenized_path else None,
            **values,
        )

    def replace(self, **changes: Any) -> TrainJob:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainJob:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown training job fields: {', '.join(sorted(unknown))}")
        values = dict(data)
        for key in ("cache_dir", "out_dir", "checkpoint_dir", "tokenized_path", "metrics_path"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        if values.get("examples") is not None:
            values["examples"] = tuple((str(p), str(r)) for p, r in values["examples"])
        if "lora_target_modules" in values:
            values["lora_target_modules"] = tuple(values["lora_target_modules"])
        return cls(**values)

    def config_hash(self, base_sha256: str = "") -> str:
        """sha256 of everything that changes the run's numbers, and of the base model."""
        values = {k: v for k, v in self.to_json().items() if k not in _NOT_HASHED}
        values["base"] = base_sha256
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
