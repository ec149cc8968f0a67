"""How long the base model takes to load for training, and how much memory it takes.

Each case runs in a fresh subprocess (so imports, page cache and allocator state do not
carry over from one case to the next in the same interpreter) and the child's peak RSS is
taken from ``os.wait4`` (``ru_maxrss``):

* ``gguf``: ``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` in bf16 plus
  ``AutoTokenizer.from_pretrained(dir, gguf_file=...)``: what training would cost without
  the cache (dequantization and tokenizer conversion on every run);
* ``cache``: ``engine.basemodel.load_training_model`` from the training copy (bf16
  safetensors, memory-mapped, and the fast tokenizer).

The base model is assembled and the training copy prepared first if needed (not timed).

    python bench/bench_base_load.py [--home DIR] [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import basemodel  # noqa: E402
from engine.base.paths import DataDir  # noqa: E402

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
mode, target = sys.argv[1], sys.argv[2]
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
import torch
import transformers
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
t_import = time.perf_counter()
if mode == "gguf":
    from transformers import AutoModelForCausalLM, AutoTokenizer
    directory, name = os.path.dirname(target), os.path.basename(target)
    model = AutoModelForCausalLM.from_pretrained(
        directory, gguf_file=name, dtype=torch.bfloat16, local_files_only=True)
    t_model = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name, local_files_only=True)
else:
    from engine import basemodel
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(
        target, dtype=torch.bfloat16, local_files_only=True)
    t_model = time.perf_counter()
    tokenizer = basemodel.load_training_tokenizer(target)
t_tok = time.perf_counter()
assert len(tokenizer) == 262144 and model.config.vocab_size == 262144
rss_kb = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
print(json.dumps({
    "import_s": t_import - t0,
    "model_s": t_model - t_import,
    "tokenizer_s": t_tok - t_model,
    "load_s": t_tok - t_import,
    "in_process_s": t_tok - t0,
    "rss_after_load_mb": rss_kb / 1024,
}))
"""

CASES = {
    "gguf": "GGUF via transformers (dequantize + tokenizer conversion)",
    "cache": "training cache (bf16 safetensors, mmapped + tokenizer.json)",
}


def run_case(mode: str, target: Path) -> dict[str, Any]:
    from engine.base.child_env import child_env

    env = child_env()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, mode, str(target)], stdout=out, stderr=err, env=env
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed ({proc.returncode}):\n{stderr[-2000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/famtune-bench-home"))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (median shown)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--cases", default="gguf,cache", help="comma-separated: gguf,cache")
    args = parser.parse_args(argv)

    data = DataDir(args.home)
    data.base_dir.mkdir(parents=True, exist_ok=True)
    info = basemodel.assemble_base_model(data)
    t = time.perf_counter()
    cache = basemodel.prepare_training_cache(data, info.path, sha256=info.sha256)
    prepare_s = time.perf_counter() - t

    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "base_model": str(info.path),
        "training_cache": str(cache),
        "prepare_cache_s": round(prepare_s, 2),
        "cases": {},
    }
    for mode in [m.strip() for m in args.cases.split(",") if m.strip()]:
        target = info.path if mode == "gguf" else cache
        runs = [run_case(mode, target) for _ in range(max(args.repeat, 1))]
        summary = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
        summary["peak_rss_mb_max"] = round(max(run["peak_rss_mb"] for run in runs), 1)
        summary["runs"] = len(runs)
        summary["description"] = CASES.get(mode, mode)
        results["cases"][mode] = summary

    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"base model: {info.path} ({info.size_bytes / 1e6:.0f} MB); {os.cpu_count()} CPUs")
    print(f"training cache: {cache} (prepared in {prepare_s:.1f} s this run)\n")
    print(
        "| case | wall (s) | imports (s) | model (s) | tokenizer (s) | peak RSS (MB) "
        "| RSS after load (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, row in results["cases"].items():
        print(
            f"| {mode}: {row['description']} | {row['wall_s']:.1f} | {row['import_s']:.1f} "
            f"| {row['model_s']:.1f} | {row['tokenizer_s']:.1f} | {row['peak_rss_mb']:.0f} "
            f"| {row['rss_after_load_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
