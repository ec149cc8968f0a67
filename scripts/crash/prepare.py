"""Set-up: the data directory the drill starts from (the smith family, a history, a PIN
and two committed model versions) and the plan of which kind each kill is."""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
from pathlib import Path
from typing import Any

from scripts.crash.commands import CONFIG, FAMILY, PIN, PROFILE_FILE, run_engine


def copy_home(src: Path, dst: Path) -> None:
    """Copy a data directory; the base model files (never rewritten in place) are linked."""

    def copy_file(s: str, d: str) -> None:
        if Path(s).stat().st_size > (1 << 20) and "base" in Path(s).relative_to(src).parts[:1]:
            try:
                os.link(s, d)
                return
            except OSError:
                pass
        shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy_file, ignore=shutil.ignore_patterns("*.lock"))


def commit_random_version(home: Path, seed: int) -> None:
    """A small random LoRA adapter for the first layers of Gemma 3 270M, committed and active."""
    import numpy as np

    from engine.domain.home import Famtune
    from engine.domain.modelstore import ModelStore
    from engine.gguf import ADAPTER_GGUF
    from engine.gguf.lora import write_lora_gguf

    dims = {"q_proj": (640, 1024), "k_proj": (640, 256), "v_proj": (640, 256),
            "o_proj": (1024, 640), "gate_proj": (640, 2048), "up_proj": (640, 2048),
            "down_proj": (2048, 640)}  # fmt: skip
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(2):
        for proj, (n_in, n_out) in dims.items():
            part = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            name = f"base_model.model.model.layers.{layer}.{part}.{proj}"
            tensors[f"{name}.lora_A.weight"] = rng.normal(0, 0.01, (8, n_in))
            tensors[f"{name}.lora_B.weight"] = rng.normal(0, 0.01, (n_out, 8))
    ft = Famtune(home, profile="development")
    try:
        store = ModelStore(ft)
        staged = store.staging_dir(FAMILY)
        write_lora_gguf(staged / ADAPTER_GGUF, tensors, alpha=16.0, n_layers=18)
        store.commit(FAMILY, staged, {}, activate=True, status="active", reason=None,
                     scores={"safetyScore": 1.0}, interactions_used=0)  # fmt: skip
    finally:
        ft.close()


def prepare_home(args: argparse.Namespace, work: Path, say: Any) -> Path:
    home = work / "home"
    if args.home:
        say(f"copying {args.home} to {home}")
        copy_home(Path(args.home), home)
    if not args.no_init:
        say("famtune-engine init (assembles the base model and the training copy)")
        run_engine(home, "init", "--no-demo", timeout=1800)
    (home / "famtune.toml").write_text(CONFIG)
    run_engine(home, "family", "import", str(PROFILE_FILE))
    run_engine(home, "simulate", "--family", FAMILY, "--interactions", "90", "--seed", "3")
    run_engine(home, "pin", "set", stdin=PIN + "\n")
    commit_random_version(home, 1)
    commit_random_version(home, 2)
    return home


def schedule(
    rng: random.Random, args: argparse.Namespace, kinds: list[str], train_modes: tuple[str, ...]
) -> list[str]:
    """Which kind each kill is (``train/<mode>`` for training): training and activation
    capped, training modes taken in turn, the rest spread evenly; in a random order. With
    only training and activation asked for, no caps."""
    heavy = [f"train/{m}" for m in train_modes] if "train" in kinds else []
    heavy += ["rollback"] if "rollback" in kinds else []
    plan: list[str] = []
    if not [k for k in kinds if k not in ("train", "rollback")]:
        plan = [heavy[i % len(heavy)] for i in range(args.kills)]
        rng.shuffle(plan)
        return plan
    if "train" in kinds:
        count = min(args.max_train, math.ceil(args.kills * 0.16))
        plan += [f"train/{train_modes[i % len(train_modes)]}" for i in range(count)]
    if "rollback" in kinds:
        plan += ["rollback"] * min(args.max_rollback, math.ceil(args.kills * 0.2))
    cheap = [k for k in kinds if k not in ("train", "rollback")]
    rest = args.kills - len(plan)
    plan += [cheap[i % len(cheap)] for i in range(rest)] if rest > 0 else []
    plan = plan[: args.kills]
    rng.shuffle(plan)
    return plan
