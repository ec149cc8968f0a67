"""Throughput of the llama.cpp inference service on the real base model, in one run:

(a) raw llama-cpp-python (``create_completion`` with the same grammar) against
    ``LlamaService.generate_json``, for the same recommendation prompt and schema
    (5 recommendations by default): p50/p95 latency, tokens/s and their ratio;
(b) ``LlamaService`` with a random rank-8 LoRA on all 7 projections of every layer (written
    with ``write_lora_gguf``) against no adapter (goal >= 0.90). Greedy decoding of the base
    model is chaotic (any nonzero adapter changes the text, and so the work), so the
    adapter's own cost is measured by decoding the same answer token by token with and
    without it (``continuation_logprob``); generation with the adapter is reported too.

Runs alternate between the paths and the KV cache is cleared before every generation, so
each evaluates its whole prompt. Besides wall time, tokens per CPU-second of this process
are reported: on a shared machine they are far less noisy (one thread: CPU time ~ work).

    python bench/bench_inference.py [--base FILE] [--threads 2] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import basemodel  # noqa: E402
from engine.base.paths import DataDir, resource_path  # noqa: E402
from engine.gguf.lora import write_lora_gguf  # noqa: E402
from engine.inference.generation import GenerationResult, JsonGenerator  # noqa: E402
from engine.inference.prompts import (  # noqa: E402
    build_recommendation_prompt,
    recommendation_schema,
)

PROJECTIONS = {
    "self_attn.q_proj": (640, 1024),
    "self_attn.k_proj": (640, 256),
    "self_attn.v_proj": (640, 256),
    "self_attn.o_proj": (1024, 640),
    "mlp.gate_proj": (640, 2048),
    "mlp.up_proj": (640, 2048),
    "mlp.down_proj": (2048, 640),
}


def request(n: int, n_candidates: int) -> tuple[str, dict[str, Any]]:
    """The demo family's prompt and schema on a rainy Saturday afternoon."""
    family = json.loads(resource_path("demo_family.json").read_text())
    catalog = json.loads(resource_path("catalog.json").read_text())["activities"]
    youngest = min(m["age"] for m in family["members"])
    candidates = [a for a in catalog if a.get("minAge", 0) <= youngest][:n_candidates]
    context = {
        "timeOfDay": "afternoon",
        "dayOfWeek": "saturday",
        "currentActivity": "lunch",
        "environmentalFactors": ["home", "rainy"],
    }
    prompt = build_recommendation_prompt(context, family["members"], candidates, n, "friendly")
    return prompt, recommendation_schema([c["id"] for c in candidates], n)


def random_adapter(
    path: Path, rank: int = 8, scale: float = 0.01, dtype: Literal["f16", "f32"] = "f16"
) -> Path:
    rng = np.random.default_rng(0)
    tensors = {}
    for layer in range(18):
        for proj, (n_in, n_out) in PROJECTIONS.items():
            name = f"base_model.model.model.layers.{layer}.{proj}"
            tensors[f"{name}.lora_A.weight"] = rng.normal(0, scale, (rank, n_in))
            tensors[f"{name}.lora_B.weight"] = rng.normal(0, scale, (n_out, rank))
    write_lora_gguf(path, tensors, alpha=2.0 * rank, n_layers=18, dtype=dtype)
    return path


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def summarize(label: str, runs: list[tuple[GenerationResult, float]]) -> dict[str, Any]:
    """``runs``: (result, CPU seconds of this process during the call)."""
    results = [r for r, _ in runs]
    p50, p95 = percentiles([r.seconds for r in results])
    return {
        "path": label,
        "runs": len(results),
        "tokens_mean": statistics.fmean(r.tokens for r in results),
        "prompt_tokens": results[0].prompt_tokens,
        "p50_s": p50,
        "p95_s": p95,
        "tokens_per_s": statistics.median(r.tokens_per_s for r in results),
        "tokens_per_cpu_s": statistics.median(r.tokens / max(cpu, 1e-9) for r, cpu in runs),
        "valid_json": sum(r.parsed is not None for r in results),
    }


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as scratch:
        base = args.base or basemodel.assemble_base_model(DataDir(Path(scratch) / "home")).path
        adapter = random_adapter(Path(scratch) / "random-r8.gguf", dtype=args.lora_dtype)
        prompt, schema = request(args.n, args.candidates)
        t0 = time.perf_counter()
        svc = JsonGenerator(base, n_threads=args.threads, n_ctx=2048)
        load_s = time.perf_counter() - t0
        paths: dict[str, Callable[[], GenerationResult]] = {
            "raw llama-cpp-python": lambda: svc.raw_generate(
                prompt, schema, max_tokens=args.max_tokens
            ),
            "LlamaService": lambda: svc.generate_json(prompt, schema, max_tokens=args.max_tokens),
            "LlamaService + LoRA r=8": lambda: svc.generate_json(
                prompt, schema, adapter=adapter, max_tokens=args.max_tokens
            ),
        }
        runs: dict[str, list[tuple[GenerationResult, float]]] = {label: [] for label in paths}
        forced: dict[str, list[tuple[float, float]]] = {"none": [], "lora": []}
        try:
            for index in range(args.warmup + args.runs):
                for label, generate in paths.items():
                    svc.clear_kv_cache()
                    result, _, cpu = timed(generate)
                    if index >= args.warmup:
                        runs[label].append((result, cpu))
            # The same tokens decoded with and without the adapter: the adapter's own cost.
            answer = runs["LlamaService"][0][0].text
            for index in range(args.warmup + args.runs):
                for key, path in (("none", None), ("lora", adapter)):
                    svc.continuation_logprob(prompt, "x", adapter=path)  # prompt cached
                    score = functools.partial(
                        svc.continuation_logprob, prompt, answer, adapter=path
                    )
                    (_, n_tokens, decode_s), _, cpu = timed(score)
                    if index >= args.warmup:
                        forced[key].append((n_tokens / decode_s, n_tokens / cpu))
            texts = {label: {r.text for r, _ in rs} for label, rs in runs.items()}
        finally:
            svc.close()
    rows = [summarize(label, rs) for label, rs in runs.items()]
    raw, service, lora = rows

    def ratio(key: str, index: int) -> float:
        return statistics.median(v[index] for v in forced[key])

    return {
        "threads": args.threads,
        "n_recommendations": args.n,
        "candidates": args.candidates,
        "max_tokens": args.max_tokens,
        "lora_dtype": args.lora_dtype,
        "load_s": load_s,
        "load_average": os.getloadavg()[0],
        "rows": rows,
        "service_vs_raw_tokens_per_s": service["tokens_per_s"] / raw["tokens_per_s"],
        "service_vs_raw_tokens_per_cpu_s": service["tokens_per_cpu_s"] / raw["tokens_per_cpu_s"],
        "service_vs_raw_p50_latency": service["p50_s"] / raw["p50_s"],
        "same_text_service_and_raw": texts["LlamaService"] == texts["raw llama-cpp-python"],
        "lora_vs_base_generation_tokens_per_s": lora["tokens_per_s"] / service["tokens_per_s"],
        "same_text_with_and_without_lora": texts["LlamaService"]
        == texts["LlamaService + LoRA r=8"],
        "forced_decode_tokens_per_s": {"none": ratio("none", 0), "lora": ratio("lora", 0)},
        "forced_decode_tokens_per_cpu_s": {"none": ratio("none", 1), "lora": ratio("lora", 1)},
        "lora_vs_base_decode_tokens_per_s": ratio("lora", 0) / ratio("none", 0),
        "lora_vs_base_decode_tokens_per_cpu_s": ratio("lora", 1) / ratio("none", 1),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"threads {report['threads']}, {report['n_recommendations']} recommendations from "
        f"{report['candidates']} candidates, prompt {report['rows'][0]['prompt_tokens']} tokens, "
        f"base load {report['load_s']:.2f} s, load average {report['load_average']:.2f}",
        "",
        "| path | runs | tokens | p50 s | p95 s | tokens/s | tokens/CPU-s | valid JSON |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['path']} | {row['runs']} | {row['tokens_mean']:.0f} | {row['p50_s']:.2f} "
            f"| {row['p95_s']:.2f} | {row['tokens_per_s']:.1f} | {row['tokens_per_cpu_s']:.1f} "
            f"| {row['valid_json']}/{row['runs']} |"
        )
    wall, cpu = report["forced_decode_tokens_per_s"], report["forced_decode_tokens_per_cpu_s"]
    lines += [
        f"| forced decode of the same answer, no adapter | | | | | {wall['none']:.1f} "
        f"| {cpu['none']:.1f} | |",
        f"| forced decode of the same answer, LoRA r=8 ({report['lora_dtype']}) | | | | "
        f"| {wall['lora']:.1f} | {cpu['lora']:.1f} | |",
        "",
        f"- (a) service / raw: tokens/s {report['service_vs_raw_tokens_per_s']:.2f}, "
        f"tokens/CPU-s {report['service_vs_raw_tokens_per_cpu_s']:.2f}, p50 latency "
        f"{report['service_vs_raw_p50_latency']:.2f}; same text: "
        f"{report['same_text_service_and_raw']}",
        f"- (b) LoRA / no adapter, same tokens: tokens/s "
        f"{report['lora_vs_base_decode_tokens_per_s']:.2f}, tokens/CPU-s "
        f"{report['lora_vs_base_decode_tokens_per_cpu_s']:.2f} (goal >= 0.90); in generation "
        f"{report['lora_vs_base_generation_tokens_per_s']:.2f} (same text: "
        f"{report['same_text_with_and_without_lora']})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", type=Path, help="base GGUF (default: assemble the bundled one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--n", type=int, default=5, help="recommendations per request")
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=800)
    parser.add_argument("--lora-dtype", choices=("f16", "f32"), default="f16")
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = parser.parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2) if args.json else markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
