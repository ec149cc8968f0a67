"""Resumable training checkpoints, written so a power cut leaves the old one or the new one.

A checkpoint is a directory ``<run dir>/state`` with ``lora.safetensors`` (the trainable
weights), ``trainer.pt`` (optimizer state and the torch RNG state) and ``meta.json`` (step,
memory plan, data order, loss so far; written last). Saving writes a temporary directory,
fsyncs every file and the directory, then swaps it in with two renames
(``state`` -> ``state.old``, ``tmp`` -> ``state``); a crash between the two leaves
``state.old``, which :func:`load_checkpoint` falls back to.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.base.errors import FamtuneError
from engine.base.fileio import swap_dir

if TYPE_CHECKING:
    import torch

STATE, OLD = "state", "state.old"
META, WEIGHTS, TRAINER = "meta.json", "lora.safetensors", "trainer.pt"
FORMAT = 1


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    trainer: dict[str, Any]


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    with contextlib.suppress(OSError):
        fd = os.open(path, flags)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(
    run_dir: Path,
    *,
    step: int,
    weights: dict[str, torch.Tensor],
    trainer: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Atomically replace the run's checkpoint; returns its path."""
    import torch
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".state.", suffix=".tmp"))
    final, old = run_dir / STATE, run_dir / OLD
    try:
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS))
        torch.save(trainer, tmp / TRAINER)
        (tmp / META).write_text(
            json.dumps({"format": FORMAT, "step": step, **meta}, indent=1), encoding="utf-8"
        )
        for name in (WEIGHTS, TRAINER, META):
            _fsync(tmp / name)
        _fsync(tmp)
        swap_dir(tmp, final, old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _read(path: Path) -> Checkpoint:
    import torch
    from safetensors.torch import load_file

    meta = json.loads((path / META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"unknown checkpoint format {meta.get('format')!r}")
    weights = load_file(str(path / WEIGHTS))
    trainer = torch.load(path / TRAINER, weights_only=True)
    return Checkpoint(
        path=path, step=int(meta["step"]), meta=meta, weights=weights, trainer=trainer
    )


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The run's checkpoint (or the previous one if a swap was cut short); None if there is
    none. A checkpoint that cannot be read is ignored, the run then starts over."""
    for name in (STATE, OLD):
        path = run_dir / name
        if (path / META).is_file():
            try:
                return _read(path)
            except (OSError, ValueError, KeyError, RuntimeError):
                continue
    return None


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run's checkpoint without loading it (no torch import)."""
    for name in (STATE, OLD):
        try:
            meta = json.loads((run_dir / name / META).read_text(encoding="utf-8"))
            return int(meta["step"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def remove_run(run_dir: Path) -> None:
    if run_dir.exists():
        shutil.rmtree(run_dir, ignore_errors=True)


def require_same_job(meta: dict[str, Any], job_key: str) -> None:
    if meta.get("job_key") != job_key:
        raise FamtuneError("the checkpoint belongs to another training job")
