"""What the crash drill kills and how it runs the engine: a fresh ``famtune-engine``
process with the development profile, offline, and the drill's PIN in its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "crash_drill.py"  # the entry point (its --observe runs the checks)

FAMILY = "smith-family"
PROFILE_FILE = ROOT / "tests" / "data" / "smith-family.json"
PIN = "4826"
CONFIG = "epochs = 1\ninferenceDeadlineS = 300.0\n"
KINDS = ("profile", "safety", "interactions", "interaction", "rollback", "train")
CHEAP_KINDS = KINDS[:-1]
AUDIT_EVENT = {"profile": "profile_updated", "safety": "settings_changed",
               "rollback": "model_rolled_back"}  # fmt: skip
TRAIN_MODES = ("cli", "worker", "group")
WORKER_MODULE = "engine.training.worker"


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), FAMTUNE_PROFILE="development", PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", FAMTUNE_PIN=PIN)  # fmt: skip
    env.pop("FAMTUNE_HOME", None)
    return env


def engine_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli.main", "--home", str(home), *args]


def run_engine(home: Path, *args: str, timeout: float = 900, stdin: str | None = None) -> Any:
    """An unkilled engine command; returns its --json document (fails loudly otherwise)."""
    done = subprocess.run(engine_cmd(home, *args, "--json"), capture_output=True, text=True,
                          env=engine_env(), cwd=ROOT, timeout=timeout, input=stdin)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"crash drill: set-up step {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None
