"""Personalization: does a family's own model beat the general engine on its held-out choices?

For each simulated family (one archetype each: hidden tastes the profile only partly
states), in a fresh data directory: ``family import`` of a synthetic profile, ``simulate``
N interactions, then ``famtune-engine train`` timed from the outside (wall time from the
command to an active adapter, base model's training copy already prepared). The evaluation
gate's figures are reported: hit@3 of the family model and of the general engine on the same
time-ordered hold-out (the latest sessions; the general engine ranks with the taste it
learned from all earlier interactions), and the relative margin. Goal: +20% or better.

    python bench/bench_personalization.py [--families outdoorsy,bookish-artsy,...]
                                          [--interactions 300] [--profile development] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_FAMILIES = "outdoorsy,bookish-artsy,sporty-competitive"


def _engine(home: Path, profile: str, *args: str, timeout: float = 3600) -> Any:
    env = dict(os.environ, PYTHONPATH=str(ROOT), FAMTUNE_PROFILE=profile)
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "--home", str(home), *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise SystemExit(f"famtune-engine {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def prepare_base(work: Path, profile: str) -> Path:
    """One initialized data dir with the training copy; families get hard-linked clones."""
    from engine.core import Famtune

    base = work / "base-home"
    ft = Famtune(base, profile=profile)
    ft.initialize(demo=False, training_cache=True)
    ft.close()
    return base


def clone(src: Path, dst: Path) -> Path:
    def copy(s: str, d: str) -> None:
        if os.path.getsize(s) > 1 << 20:
            os.link(s, d)
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy)
    return dst


def run_family(base: Path, work: Path, archetype: str, args: argparse.Namespace) -> dict[str, Any]:
    from engine.sim.profiles import synthetic_profile

    family_id = f"{archetype}-family"
    home = clone(base, work / family_id)
    profile_file = work / f"{family_id}.json"
    profile = synthetic_profile(family_id, archetype, args.seed)
    profile_file.write_text(json.dumps(profile.to_json()))
    _engine(home, args.profile, "family", "import", str(profile_file))
    sim = _engine(
        home, args.profile, "simulate", "--family", family_id, "--interactions",
        str(args.interactions), "--seed", str(args.seed), "--archetype", archetype,
    )  # fmt: skip
    started = time.monotonic()
    outcome = _engine(home, args.profile, "train", "--family", family_id)
    wall = time.monotonic() - started
    info = _engine(home, args.profile, "models", "info", family_id)
    version = next((v for v in info["versions"] if v["version"] == outcome["version"]), None)
    manifest: dict[str, Any] = {}
    if version is not None:
        manifest = json.loads((Path(version["path"]) / "manifest.json").read_text())
    metrics = manifest.get("metrics", {})
    fam, gen = outcome.get("performanceScore"), outcome.get("baselineScore")
    margin = (fam - gen) / gen if fam is not None and gen else None
    return {
        "family": family_id,
        "archetype": archetype,
        "members": len(profile.members),
        "simulated": sim,
        "examples": manifest.get("examples"),
        "holdoutCases": metrics.get("holdoutCases"),
        "familyHitAt3": fam,
        "generalHitAt3": gen,
        "relativeMargin": None if margin is None else round(margin, 3),
        "safetyScore": outcome.get("safetyScore"),
        "activated": outcome.get("activated"),
        "reason": outcome.get("reason"),
        "trainWallS": round(wall, 1),
        "trainLoopS": metrics.get("trainSeconds"),
        "steps": metrics.get("steps"),
        "peakRssMb": metrics.get("peakRssMb"),
    }


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.interactions} simulated interactions per family, profile {args.profile}, "
        f"seed {args.seed}, {os.cpu_count()} cores",
        "",
        "| family | examples / hold-out | family model hit@3 | general hit@3 | margin | "
        "safety | activated | train -> active (s) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        margin = "-" if r["relativeMargin"] is None else f"{r['relativeMargin']:+.0%}"
        fam = "-" if r["familyHitAt3"] is None else f"{r['familyHitAt3']:.2f}"
        gen = "-" if r["generalHitAt3"] is None else f"{r['generalHitAt3']:.2f}"
        lines.append(
            f"| {r['archetype']} | {r['examples']} / {r['holdoutCases']} | {fam} | {gen} | "
            f"{margin} | {r['safetyScore']} | {r['activated']} | {r['trainWallS']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=DEFAULT_FAMILIES, help="comma-separated archetypes")
    parser.add_argument("--interactions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="development")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-personalization-"))
    try:
        base = prepare_base(work, args.profile)
        rows = []
        for archetype in args.families.split(","):
            rows.append(run_family(base, work, archetype.strip(), args))
            print(f"  {rows[-1]['family']}: {rows[-1]['reason']}", file=sys.stderr)
        print(json.dumps({"families": rows}, indent=2) if args.json else render(rows, args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
