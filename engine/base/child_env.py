"""The one environment famtune gives the Python subprocesses it starts (the training worker,
the tokenizer, the training copy's builder): Hugging Face offline and quiet, unbuffered
output, and this project first on ``PYTHONPATH`` so ``python -m engine...`` finds it."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def set_offline_env(env: MutableMapping[str, str] | None = None) -> None:
    """Never let huggingface_hub or transformers reach the network (``os.environ`` when
    ``env`` is None: for code that loads them in this process)."""
    target = os.environ if env is None else env
    target["HF_HUB_OFFLINE"] = "1"
    target["TRANSFORMERS_OFFLINE"] = "1"
    target["HF_DATASETS_OFFLINE"] = "1"
    target.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with famtune's settings for a Python child."""
    env = dict(os.environ if base is None else base)
    set_offline_env(env)
    env.update(
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TQDM_DISABLE="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    return env
