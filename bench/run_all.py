"""``make bench``: every benchmark, one after the other, and one table in docs/benchmarks.md.

Each script runs as its own process with ``--json``; its full JSON is kept next to the table
(``docs/benchmarks.json``) and the headline figures go into the table with their goals.
A script that fails is reported as such and the others still run. ``--only`` picks some.

    python bench/run_all.py [--only training,gui,...] [--quick]

``--quick`` shortens the long ones (fewer steps, runs and requests) for a smoke run; the
table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
Row = tuple[str, str, str, str]  # what, measured, goal, met
Extract = Callable[[dict[str, Any]], list[Row]]


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def training(d: dict[str, Any]) -> list[Row]:
    ours, base = d["results"][0], d["results"][1] if len(d["results"]) > 1 else {}
    peak = ours["peak_rss_mb"]
    data, settings = d["data"], d["settings"]
    stretch = "stretch met" if peak <= 1024 else "stretch not met"
    rows: list[Row] = [
        (f"training run: {data['source']}", f"{data['examples']} examples, "
         f"{settings['steps']} steps of batch {settings['batch']}", "-", "-"),
        ("training peak RSS, famtune trainer (/usr/bin/time -v)", f"{peak:.0f} MB ({stretch})",
         "<= 1536 MB (stretch <= 1024)", _met(peak <= 1536)),
        ("training tokens/s, famtune trainer (per CPU-second)",
         f"{ours.get('tokens_per_s')} ({ours.get('cpu_tokens_per_s')})", "-", "-"),
    ]  # fmt: skip
    if base:
        rows.append(("training peak RSS, transformers.Trainer + peft baseline",
                     f"{base['peak_rss_mb']:.0f} MB ({base['status']})", "-", "-"))  # fmt: skip
        rows.append(("training tokens/s, baseline (per CPU-second)",
                     f"{base.get('tokens_per_s')} ({base.get('cpu_tokens_per_s')})", "-", "-"))
        if ours.get("cpu_tokens_per_s") and base.get("cpu_tokens_per_s"):
            cpu = ours["cpu_tokens_per_s"] / base["cpu_tokens_per_s"]
            rows.append(("training speed-up per CPU-second (less sensitive to other load)",
                         f"{cpu:.2f}x", ">= 1.5x", _met(cpu >= 1.5)))  # fmt: skip
    if "speedup" in d:
        rows.append(("training speed-up over the baseline (tokens/s, same data and settings)",
                     f"{d['speedup']}x", ">= 1.5x", _met(d["speedup"] >= 1.5)))  # fmt: skip
    return rows


def inference(d: dict[str, Any]) -> list[Row]:
    service = d["rows"][1]
    forced = d["forced_decode_tokens_per_cpu_s"]
    overhead = forced["lora"] / forced["none"]
    ratio = d["service_vs_raw_p50_latency"]
    return [
        ("JSON generation (not served since the ranker) / raw llama-cpp-python, same prompt",
         f"{ratio:.2f}", "<= 1.15", _met(ratio <= 1.15)),
        ("JSON generation of 5 picks p50 (base model, CPU; the v1 family-model path)",
         f"{service['p50_s']:.1f} s", "-", "-"),
        ("LoRA adapter overhead (tokens per CPU-second, with / without)", f"{overhead:.2f}",
         ">= 0.90", _met(overhead >= 0.90)),
    ]  # fmt: skip


def recommend(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, r in d.items():
        goal = r.get("goal_ms")
        rows.append((name, f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms",
                     f"p50 <= {goal:g} ms" if goal else "-",
                     _met(r["p50_ms"] <= goal) if goal else "-"))  # fmt: skip
    return rows


def privacy(d: dict[str, Any]) -> list[Row]:
    lat = d["latencyMs"]
    return [
        ("PII filter recall", f"{d['recall']:.3f} ({d['piiSpans']} spans)", ">= 0.95",
         _met(d["recall"] >= 0.95)),
        ("family-member names removed", f"{d['memberNameRecall']:.3f}", "1.0",
         _met(d["memberNameRecall"] >= 1.0)),
        ("PII filter latency per sentence", f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms",
         "p50 <= 20 ms", _met(lat["p50"] <= 20.0)),
    ]  # fmt: skip


def gui(d: dict[str, Any]) -> list[Row]:
    c, t = d["coldStart"], d["whileTraining"]
    return [
        ("GUI cold start to the first screen", f"median {c['medianS']} s, max {c['maxS']} s",
         "<= 3 s", _met(c["maxS"] <= 3.0)),
        ("GUI heartbeat max stall while a training job runs",
         f"{t['maxStallMs']} ms (p99 {t['p99GapMs']} ms, {t['seconds']:.0f} s)", "<= 50 ms",
         _met(t["maxStallMs"] <= 50.0)),
    ]  # fmt: skip


def load(d: dict[str, Any]) -> list[Row]:
    q, b = d["quiet"], d["whileTraining"]
    ok = all(r["errors"] == 0 and r["hungThreads"] == 0 and r["unsafe"] == 0 for r in (q, b))
    return [
        (f"{q['requests']} requests, {d['threads']} threads, while training",
         f"p50 {b['p50Ms']} ms, p95 {b['p95Ms']} ms, p99 {b['p99Ms']} ms; errors "
         f"{b['errors']}, unsafe {b['unsafe']}, hung {b['hungThreads']}",
         "no error, no deadlock", _met(ok)),
        ("the same load without a training job", f"p50 {q['p50Ms']} ms, p99 {q['p99Ms']} ms",
         "-", "-"),
    ]  # fmt: skip


def personalization(d: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for f in d["families"]:
        s = f["scores"]
        fam, gen = s["family"]["hitAt3"], s["general"]["hitAt3"]
        cl = max((s[n]["hitAt3"] for n in ("classical", "trees") if n in s),
                 key=lambda r: r["mean"])  # the better classical learner
        rel = f["relativeToGeneral"]
        diff = f["familyMinusGeneralHitAt3"]
        ok = rel >= 0.2 and diff[1] > 0 and fam["mean"] >= cl["mean"]
        rows.append((f"hit@3 family model vs general engine, {f['archetype']} "
                     f"({f['heldout']} fresh moments, {f['candidates']} candidates, random "
                     f"{f['random']['hitAt3']:.2f})",
                     f"{fam['mean']:.2f} [{fam['ci95'][0]:.2f}, {fam['ci95'][1]:.2f}] vs "
                     f"{gen['mean']:.2f} ({rel:+.0%}; difference {diff[0]:+.2f}, 95% CI "
                     f"[{diff[1]:+.2f}, {diff[2]:+.2f}]); best classical learner {cl['mean']:.2f}",
                     ">= +20%, CI above 0, not below the classical learner", _met(ok)))
        parts = ", ".join(f"{name} {s[name]['hitAt3']['mean']:.2f}"
                          for name in ("classical", "trees", "zero-shot", "lora") if name in s)
        rows.append((f"hit@3 of the parts, {f['archetype']}", parts, "-", "-"))
        t = f["training"]
        if t:
            rows.append((f"LoRA scorer training, {f['archetype']} ({t['examples']} examples)",
                         f"{t['seconds']:.0f} s, {t['steps']} steps, peak {t['peakRssMb']:.0f} MB",
                         "-", "-"))  # fmt: skip
    return rows


def latency(d: dict[str, Any]) -> list[Row]:
    return [
        ("warm recommendation with an active family model (every part of the blend)",
         f"p50 {d['p50S']:.2f} s, p95 {d['p95S']:.2f} s ({d['requests']} requests, "
         f"sources {d['sources']})", "p50 <= 1.0 s, p95 <= 2.0 s",
         _met(d["p50S"] <= 1.0 and d["p95S"] <= 2.0)),
        (f"that / one raw llama-cpp-python forward pass over the same {d['tokensPerRequest']} "
         "tokens", f"{d['ratioToRaw']:.2f} ({d['rawForwardS']:.2f} s)", "<= 1.2",
         _met(d["ratioToRaw"] <= 1.2)),
    ]  # fmt: skip


BENCHES: dict[str, tuple[list[str], list[str], Extract]] = {
    # name: (arguments, --quick arguments, extractor); the headline figures first
    "training": (["bench_training.py"], ["--steps", "4"], training),
    "personalization": (
        ["bench_ranker.py", "--plot", "docs/learning-curve.png"],
        ["--families", "outdoorsy:11", "--slates", "60", "--heldout", "30", "--curve", "25,60"],
        personalization,
    ),
    "latency": (["bench_family_latency.py"], ["--requests", "10", "--slates", "30"], latency),
    "gui": (["bench_gui.py"], ["--seconds", "10", "--runs", "1"], gui),
    "load": (["bench_load.py"], ["--requests", "200"], load),
    # one llama.cpp thread: fastest here whenever the other core is busy (see README)
    "inference": (
        ["bench_inference.py", "--threads", "1"],
        ["--runs", "2", "--warmup", "1"],
        inference,
    ),
    "recommend": (["bench_recommend.py"], ["--runs", "50"], recommend),
    "privacy": (["bench_privacy.py"], [], privacy),
}


def machine() -> str:
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    return (f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} cores{mem}, "
            f"Python {platform.python_version()}; load average before: "
            f"{os.getloadavg()[0]:.2f}")  # fmt: skip


def run(names: list[str], quick: bool) -> dict[str, Any]:
    """Run the benchmarks; each one's JSON report (or its failure) by name."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    results: dict[str, Any] = {}
    for name in names:
        script, quick_args, _extract = BENCHES[name]
        cmd = [sys.executable, str(ROOT / "bench" / script[0]), *script[1:], "--json",
               *(quick_args if quick else [])]  # fmt: skip
        print(f"== {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        seconds = round(time.monotonic() - started)
        try:
            results[name] = {"seconds": seconds, "exit": done.returncode,
                             "report": json.loads(done.stdout)}  # fmt: skip
        except ValueError as exc:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            results[name] = {"seconds": seconds, "exit": done.returncode,
                             "error": f"{type(exc).__name__}: {exc}", "stderr": tail}  # fmt: skip
        print(f"   {seconds} s", file=sys.stderr, flush=True)
    return results


def render(document: dict[str, Any]) -> str:
    """docs/benchmarks.md from the saved reports."""
    table: list[str] = []
    for name, result in document["results"].items():
        script, _quick, extract = BENCHES[name]
        try:
            rows = extract(result["report"])
        except (KeyError, IndexError, TypeError, ZeroDivisionError):
            detail = result.get("stderr", "no report")
            rows = [(f"{name} benchmark", f"failed (exit {result['exit']}): {detail}", "-", "-")]
        table += [f"| {w} | {m} | {g} | {ok} | `{script[0]}` |" for w, m, g, ok in rows]
    quick = " --quick" if document["quick"] else ""
    reruns = [
        f"Rerun on its own since: {name}, {result['at']} (`{result['command']}`)."
        for name, result in document["results"].items()
        if "at" in result
    ]
    return "\n".join([
        "# famtune benchmarks",
        "",
        f"Written by `make bench` (`bench/run_all.py{quick}`) on {document['at']}.",
        f"Machine: {document['machine']}.",
        "Every figure was measured in this run; ratios compare runs made in the same process "
        "or one after the other. The raw reports are in `docs/benchmarks.json`.",
        *reruns,
        "",
        "| what | measured | goal | met | script |",
        "| --- | --- | --- | --- | --- |",
        *table,
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite docs/benchmarks.md from docs/benchmarks.json")  # fmt: skip
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if args.render_only:
        document = json.loads((DOCS / "benchmarks.json").read_text())
    else:
        header = machine()
        results = run(names, args.quick)
        saved = DOCS / "benchmarks.json"
        if set(names) != set(BENCHES) and saved.is_file():  # --only: keep the others' reports
            results = {**json.loads(saved.read_text()).get("results", {}), **results}
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        document = {"machine": header, "quick": args.quick, "at": stamp, "results": results}
        DOCS.mkdir(exist_ok=True)
        (DOCS / "benchmarks.json").write_text(json.dumps(document, indent=2))
    text = render(document)
    (DOCS / "benchmarks.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
