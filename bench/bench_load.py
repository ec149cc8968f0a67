"""Load: 1,000 recommendation requests from several threads while a training job runs.

One shared ``RecommendationService`` (as the app shares it) answers requests for the smith
family from ``--threads`` threads, each request a different moment, audience and activity (a
few repeat, so the cache is exercised too). The same load runs twice in one process: on a
quiet machine, then while ``famtune-engine train`` fine-tunes the family's model in its
worker process. Reported: errors (must be 0), whether every thread finished (no deadlock),
latency percentiles, and each answer checked against the safety validator.

    python bench/bench_load.py [--requests 1000] [--threads 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAMILY = "smith-family"
MEMBERS = ["dad-john", "child-emma"]
FACTORS = [["home"], ["rain"], ["sunny", "outdoors"], ["home", "weekend"], ["snow"], []]
ACTIVITIES = ["breakfast", "homework", "free time", "after dinner", None]


def contexts(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i and rng.random() < 0.1:  # a repeat: served from the cache
            out.append(out[rng.randrange(len(out))])
            continue
        day, hour, minute = rng.randrange(22, 29), rng.randrange(6, 22), rng.randrange(60)
        ctx: dict[str, Any] = {
            "at": f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00",
            "familyMembers": rng.choice([MEMBERS, MEMBERS[:1], MEMBERS[1:]]),
            "environmentalFactors": rng.choice(FACTORS),
        }
        activity = rng.choice(ACTIVITIES)
        if activity:
            ctx["currentActivity"] = activity
        out.append(ctx)
    return out


def run_load(service: Any, validator: Any, profile: Any, requests: list[dict[str, Any]],
             threads: int) -> dict[str, Any]:  # fmt: skip
    from datetime import datetime

    latencies: list[float] = []
    errors: list[str] = []
    unsafe: list[str] = []
    lock = threading.Lock()
    catalog = {item.id: item for item in service.catalog.items()}

    def worker(part: list[dict[str, Any]]) -> None:
        for ctx in part:
            t0 = time.perf_counter()
            try:
                batch = service.recommend(FAMILY, ctx, n=5)
            except Exception as exc:  # counted, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            at = datetime.fromisoformat(ctx["at"])
            bad = [
                r.id
                for r in batch.recommendations
                if not validator.check(
                    profile, {**catalog[r.id].to_json(), "reason": r.reason},
                    context_members=ctx["familyMembers"], at=at,
                ).allowed
            ]  # fmt: skip
            with lock:
                latencies.append(elapsed)
                unsafe.extend(bad)

    parts = [requests[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=worker, args=(p,), daemon=True) for p in parts]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=600)
    hung = sum(t.is_alive() for t in pool)
    wall = time.perf_counter() - started
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 1) if lat else float("nan")

    return {
        "requests": len(requests),
        "answered": len(latencies),
        "errors": len(errors),
        "firstErrors": errors[:3],
        "unsafe": len(unsafe),
        "hungThreads": hung,
        "wallS": round(wall, 2),
        "perSecond": round(len(latencies) / wall, 1),
        "p50Ms": pct(50),
        "p95Ms": pct(95),
        "p99Ms": pct(99),
        "maxMs": round(lat[-1], 1) if lat else None,
        "meanMs": round(statistics.fmean(lat), 1) if lat else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from engine.domain import families
    from engine.domain.home import Famtune
    from engine.recommend.service import RecommendationService
    from engine.safety import SafetyValidator

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), FAMTUNE_PROFILE="development")
    try:
        home = work / "home"
        ft = Famtune(home, profile="development")
        ft.initialize(demo=True, training_cache=True)
        cli = [sys.executable, "-m", "engine.cli.main", "--home", str(home)]
        subprocess.run([*cli, "simulate", "--family", FAMILY, "--interactions", "300",
                        "--seed", "1"], check=True, env=env, capture_output=True)  # fmt: skip
        (home / "famtune.toml").write_text("epochs = 3\n")
        with ft.db.read() as session:
            profile = families.get_profile(session, family_id=FAMILY)
        validator = SafetyValidator()
        requests = contexts(args.requests, args.seed)

        service = RecommendationService(ft)
        quiet = run_load(service, validator, profile, requests, args.threads)
        service.close()

        train = subprocess.Popen(
            [*cli, "train", "--family", FAMILY, "--force"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert train.stderr is not None
        for line in train.stderr:  # wait until the worker is really training
            if " step 1/" in line:
                break
        service = RecommendationService(ft)  # a fresh cache: the same work as the quiet run
        busy = run_load(service, validator, profile, requests, args.threads)
        service.close()
        still_training = train.poll() is None
        train.send_signal(signal.SIGINT)
        train.wait(timeout=300)
        ft.close()
        report = {
            "machine": f"{os.cpu_count()} cores",
            "threads": args.threads,
            "quiet": quiet,
            "whileTraining": {**busy, "trainingRanThroughout": still_training},
            "p50Ratio": round(busy["p50Ms"] / quiet["p50Ms"], 2) if quiet["p50Ms"] else None,
        }
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print(render(report))
        ok = all(r["errors"] == 0 and r["hungThreads"] == 0 and r["unsafe"] == 0
                 for r in (quiet, busy))  # fmt: skip
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['quiet']['requests']} requests from {report['threads']} threads, one shared "
        f"service; {report['machine']}",
        "",
        "| load | answered | errors | unsafe | hung threads | p50 ms | p95 ms | p99 ms | "
        "max ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("quiet", report["quiet"]), ("while training", report["whileTraining"])):
        lines.append(
            f"| {name} | {r['answered']} | {r['errors']} | {r['unsafe']} | {r['hungThreads']} | "
            f"{r['p50Ms']} | {r['p95Ms']} | {r['p99Ms']} | {r['maxMs']} | {r['perSecond']} |"
        )
    lines.append("")
    lines.append(
        f"Training ran throughout: {report['whileTraining']['trainingRanThroughout']}; "
        f"p50 while training / quiet: {report['p50Ratio']}x"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
