"""Latency of a warm recommendation with an active family model, against one raw
llama-cpp-python forward pass over the same tokens.

A family with a logged history (the ranker lab's simulated family) gets a version built the
way ``train`` builds one: a LoRA scorer trained on its slates (worker subprocess), the
contextual learner fitted on them, published through the model store and activated. The
blend is set to use every part (general engine, learner and LoRA scorer), the slowest
serving path. Then ``RecommendationService.recommend`` answers ``--requests`` distinct
moments (no cache hits; the first request, which loads the model, is not counted).

The reference: llama-cpp-python's ``Llama`` with the same base and adapter (``lora_path``)
evaluating, in one ``eval`` call, exactly the tokens the service evaluates for one request
(the moment's prefix and every candidate's suffix), from an empty cache.

    python bench/bench_family_latency.py [--requests 60] [--slates 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--slates", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="print where the measured requests spent their time (cProfile)")
    args = parser.parse_args(argv)

    from bench.bench_ranker import prepare_home, train_scorer
    from bench.ranker_lab import make_family
    from engine.base.config import FineTuningConfig
    from engine.domain import families
    from engine.domain.home import Famtune
    from engine.domain.modelstore import ModelStore
    from engine.ranker.blend import Blend
    from engine.ranker.family_ranker import RankerSpec
    from engine.ranker.prompts import prefix, suffix
    from engine.ranker.training import fit_on, pointwise_examples
    from engine.recommend.service import RecommendationService

    with tempfile.TemporaryDirectory(prefix="famtune-latency-") as tmp:
        work = Path(tmp)
        home, cache, base = prepare_home(work)
        fam = make_family("outdoorsy", 21, slates=args.slates, heldout=args.requests + 1)
        by_id = {i.id: i for i in fam.items}
        trained = train_scorer(cache, pointwise_examples(fam.slates, by_id), work / "scorer")
        ft = Famtune(home, profile="jetson")
        ft.use_config(FineTuningConfig(inference_threads=os.cpu_count() or 1))
        with ft.db.write() as session:
            families.save_profile(session, profile=fam.profile)
        store = ModelStore(ft)
        staged = store.staging_dir(fam.name)
        (staged / "adapter.gguf").write_bytes(Path(trained["adapter"]).read_bytes())
        fitted = fit_on(fam.slates, by_id)
        spec = RankerSpec(fitted.learner,
                          Blend({"general": 1.0, "learner": 1.0, "trees": 1.0, "lora": 1.0}),
                          trees=fitted.trees)  # fmt: skip
        record = ft.last_base_model()
        assert record is not None
        store.commit(fam.name, staged, {"ranker": spec.to_json(), "baseSha256": record.sha256},
                     activate=True, status="active", reason=None,
                     scores={"safetyScore": 1.0}, interactions_used=0)  # fmt: skip
        service = RecommendationService(ft)
        latencies: list[float] = []
        sources: dict[str, int] = {}
        tokens: list[int] = []
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        try:
            for n, case in enumerate(fam.heldout[: args.requests + 1]):
                context = {**case.context, "familyMembers": case.audience}
                if n == 1 and args.profile:
                    profiler.enable()
                started = time.perf_counter()
                batch = service.recommend(fam.name, context, n=5)
                elapsed = time.perf_counter() - started
                sources[batch.source] = sources.get(batch.source, 0) + 1
                if n > 0:
                    latencies.append(elapsed)
                    text = prefix(case.moment) + "".join(
                        suffix(by_id[i]) for i in case.candidates[: spec.candidates]
                    )
                    tokens.append(len(service.llama().tokenize(text)))
        finally:
            profiler.disable()
            service.close()
            ft.close()
        if args.profile:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
        raw = raw_forward(Path(base), Path(trained["adapter"]), int(statistics.median(tokens)))
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    report: dict[str, Any] = {
        "requests": len(latencies), "sources": sources, "p50S": round(p50, 3),
        "p95S": round(p95, 3), "maxS": round(max(latencies), 3),
        "tokensPerRequest": int(statistics.median(tokens)), "rawForwardS": round(raw, 3),
        "ratioToRaw": round(p50 / raw, 3), "threads": os.cpu_count(),
        "scorer": trained,
    }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"p50 {p50:.3f} s, p95 {p95:.3f} s over {len(latencies)} requests "
              f"({sources}); raw forward over {report['tokensPerRequest']} tokens {raw:.3f} s; "
              f"ratio {report['ratioToRaw']}")  # fmt: skip
    return 0


def raw_forward(base: Path, adapter: Path, n_tokens: int, runs: int = 7) -> float:
    """Median seconds of one llama-cpp-python ``eval`` over ``n_tokens`` tokens."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(base), lora_path=str(adapter), n_ctx=2048,
                          n_threads=os.cpu_count() or 1, n_threads_batch=os.cpu_count() or 1,
                          verbose=False)  # fmt: skip
    text = "Family: parent 40, child 8. When: Saturday, morning, weekend. " * 40
    ids = llm.tokenize(text.encode())[:n_tokens]
    times = []
    for _ in range(runs):
        llm.reset()
        llm._ctx.kv_cache_clear()
        started = time.perf_counter()
        llm.eval(ids)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
