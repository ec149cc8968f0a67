"""The family model end to end through the CLI, as a parent's data would take it.

A simulated family (``FamilySimulator`` with moment-dependent tastes) in a fresh data
directory: ``init --no-demo``, ``family import``, ``interactions import`` of its history,
``recommend`` on later moments, ``train`` (the process tree's RSS summed every 0.1 s, with
each process's share at the peak, and the trainer's plan line), the same ``recommend``s
again, then warm requests through the README's facade on the same moments. Each
``recommend`` is judged against the simulator's hidden choice among the ideas it returned:
a hit when that choice is in its top 3 (with a 95% Wilson interval). 2,330 rows make about
400 slates.

    python bench/bench_cli_train.py [--archetype outdoorsy] [--seed 21] [--rows 2000]
                                    [--moments 40] [--home DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.ranker.metrics import wilson  # noqa: E402


def tree_peak(pid: int, stop: threading.Event, out: list[Any]) -> None:
    """The largest sum of RSS over ``pid`` and its descendants, sampled every 0.1 s, in
    ``out[0]``; in ``out[1]`` each process's share of it (MB, by its module or command)."""
    root = psutil.Process(pid)
    while not stop.is_set():
        try:
            tree = [root, *root.children(recursive=True)]
            sizes = [(p, p.memory_info().rss / 2**20) for p in tree]
            total = sum(mb for _, mb in sizes)
            if total > out[0]:
                out[0], out[1] = total, {_name(p): round(mb) for p, mb in sizes}
        except psutil.Error:
            pass
        time.sleep(0.1)


def _name(proc: psutil.Process) -> str:
    """'engine.training.worker' for ``python -m engine.training.worker``, else the program."""
    cmd = proc.cmdline()
    if "-m" in cmd and cmd.index("-m") + 1 < len(cmd):
        return f"{cmd[cmd.index('-m') + 1]} ({proc.pid})"
    return f"{Path(cmd[0]).name if cmd else '?'} ({proc.pid})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archetype", default="outdoorsy")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--moments", type=int, default=40)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from engine.domain.catalog import load_builtin_catalog
    from engine.sim.profiles import synthetic_profile
    from engine.sim.simulator import FamilySimulator

    home = args.home or Path(tempfile.mkdtemp(prefix="famtune-cli-train-"))
    home.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "engine.cli.main", "--home", str(home), "--profile", "jetson",
           "--json"]  # fmt: skip

    def run(*words: str) -> Any:
        done = subprocess.run([*cli, *words], capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"{' '.join(words)} failed: {done.stderr[-800:]}")
        return json.loads(done.stdout)

    family = f"{args.archetype}-{args.seed}"
    profile = synthetic_profile(family, args.archetype, args.seed)
    sim = FamilySimulator(profile, load_builtin_catalog(), args.seed, archetype=args.archetype,
                          moment_tastes=True)  # fmt: skip
    records = sim.simulate(args.rows)
    run("init", "--no-demo")
    (home / "family.json").write_text(json.dumps(profile.to_json()))
    run("family", "import", str(home / "family.json"))
    keep = ("member", "itemId", "outcome", "rating", "context")
    rows = [{k: r[k] for k in keep if r.get(k) is not None} for r in records]
    (home / "history.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    run("interactions", "import", "--family", family, str(home / "history.jsonl"))
    last = max(
        datetime.fromisoformat(r["context"]["at"]) for r in records if r["context"].get("at")
    )
    moments = list(sim.holdout(args.moments * 2, start=last + timedelta(days=1),
                               seed=args.seed + 1, candidates=5))[: args.moments]  # fmt: skip

    def ask() -> dict[str, Any]:
        hits, sources, seconds = [], [], []
        for n, case in enumerate(moments):
            path = home / f"moment-{n}.json"
            path.write_text(json.dumps({**case.context, "familyMembers": case.audience}))
            started = time.monotonic()
            out = run("recommend", "--family", family, "--context", str(path), "-n", "10")
            seconds.append(time.monotonic() - started)
            ids = [r["id"] for r in out["recommendations"]]
            sources.append(out["recommendations"][0]["source"] if ids else "none")
            if len(ids) >= 2:
                hits.append(sim.hidden_choice(case.context, case.audience, ids) in ids[:3])
        lo, hi = wilson(sum(hits), len(hits))
        return {"hitAt3": round(sum(hits) / len(hits), 3), "ci95": [round(lo, 2), round(hi, 2)],
                "hits": sum(hits), "moments": len(hits),
                "sources": {s: sources.count(s) for s in set(sources)},
                "coldCliP50S": round(sorted(seconds)[len(seconds) // 2], 2)}  # fmt: skip

    report: dict[str, Any] = {"family": family, "rows": args.rows, "home": str(home),
                              "before": ask()}  # fmt: skip
    peak: list[Any] = [0.0, {}]
    stop = threading.Event()
    started = time.monotonic()
    proc = subprocess.Popen([*cli, "train", "--family", family], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    sampler = threading.Thread(target=tree_peak, args=(proc.pid, stop, peak), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    result = json.loads(out) if proc.returncode == 0 else err[-800:]
    report["train"] = {"exit": proc.returncode, "wallS": round(time.monotonic() - started, 1),
                       "treePeakMb": round(peak[0]), "treePeakBy": peak[1],
                       "result": result,
                       "plan": [line for line in err.splitlines() if " examples, " in line][:1]}
    report["after"] = ask()
    report["warm"] = warm(home, family, moments)
    print(json.dumps(report, indent=2) if args.json else report)
    return 0


def warm(home: Path, family: str, moments: list[Any]) -> dict[str, Any]:
    """Warm requests through the README's facade on the same moments (the first not counted)."""
    from engine.config import FineTuningConfig
    from engine.core import Famtune
    from engine.integration import SimpleFineTuningIntegration
    from engine.interactions import LLMEnhancedLearningEngine

    facade = SimpleFineTuningIntegration(
        FineTuningConfig(), LLMEnhancedLearningEngine(Famtune(home, profile="jetson"))
    )
    facade.initialize()
    seconds, sources = [], []
    try:
        for n, case in enumerate(moments):
            started = time.perf_counter()
            batch = facade.recommend(family, {**case.context, "familyMembers": case.audience})
            if n:
                seconds.append(time.perf_counter() - started)
            sources.append(batch.source.value)
    finally:
        facade.close()
    seconds.sort()
    return {"requests": len(seconds), "p50S": round(seconds[len(seconds) // 2], 3),
            "p95S": round(seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))], 3),
            "sources": {s: sources.count(s) for s in set(sources)}}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
