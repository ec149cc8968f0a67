"""Recommendation latency without a family model: the general engine over the whole catalog
and a cache hit of the recommendation service, measured in one run.

    python bench/bench_recommend.py [--runs 200] [--json]

Goals (issue: recommendations): general engine p50 <= 20 ms for 5 items over the whole
catalog; a cache hit <= 5 ms. The service figures include the SQLite reads a request makes
(profile, interaction count, active model, catalog version).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.domain.catalog import load_builtin_catalog  # noqa: E402
from engine.domain.home import Famtune  # noqa: E402
from engine.general.ranking import GeneralEngine  # noqa: E402
from engine.recommend.service import RecommendationService  # noqa: E402
from engine.schema.context import parse_context  # noqa: E402
from engine.schema.profiles import parse_profile_text  # noqa: E402

CONTEXTS = [
    {
        "timeOfDay": t,
        "dayOfWeek": d,
        "familyMembers": ["dad-john", "child-emma"],
        "environmentalFactors": f,
        "at": at,
    }
    for t, d, f, at in [
        ("morning", "saturday", ["home", "weekend"], "2026-11-28T09:00:00"),
        ("afternoon", "tuesday", ["rain"], "2026-11-24T15:00:00"),
        ("evening", "friday", ["guests"], "2026-11-27T19:00:00"),
        ("night", "sunday", ["home"], "2026-11-22T22:30:00"),
    ]
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    profile = parse_profile_text((ROOT / "resources" / "demo_family.json").read_bytes())
    items = load_builtin_catalog()
    engine = GeneralEngine()
    contexts = [parse_context(c) for c in CONTEXTS]
    for ctx in contexts:  # warm the parsed safety items
        engine.recommend(profile, ctx, items, n=5)
    general: list[float] = []
    for i in range(args.runs):
        ctx = contexts[i % len(contexts)]
        t0 = time.perf_counter()
        engine.recommend(profile, ctx, items, n=5)
        general.append((time.perf_counter() - t0) * 1000)

    with tempfile.TemporaryDirectory() as tmp:
        ft = Famtune(Path(tmp) / "home", profile="development")
        ft.initialize(demo=True, training_cache=False)
        service = RecommendationService(ft)
        misses: list[float] = []
        hits: list[float] = []
        for i, raw in enumerate(CONTEXTS * 3):
            batch = service.recommend("smith-family", raw)
            (hits if batch.cache_hit else misses).append(batch.latency_ms)
            if i < len(CONTEXTS):
                assert not batch.cache_hit
        for i in range(args.runs):
            t0 = time.perf_counter()
            batch = service.recommend("smith-family", CONTEXTS[i % len(CONTEXTS)])
            assert batch.cache_hit
            hits.append((time.perf_counter() - t0) * 1000)
        service.close()
        ft.close()

    rows = [
        (f"general engine, 5 of {len(items)} items", general, 20.0),
        ("service, cache miss (general)", misses, None),
        ("service, cache hit", hits, 5.0),
    ]
    report = {
        name: {
            "p50_ms": round(statistics.median(v), 2),
            "p95_ms": round(percentile(v, 0.95), 2),
            "runs": len(v),
            "goal_ms": goal,
        }
        for name, v, goal in rows
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("| measurement | p50 ms | p95 ms | runs | goal |\n| --- | ---: | ---: | ---: | --- |")
        for name, r in report.items():
            goal = f"p50 <= {r['goal_ms']:g} ms" if r["goal_ms"] else "-"
            print(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | {r['runs']} | {goal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
