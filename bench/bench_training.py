"""Training benchmark: famtune's LoRA trainer against a plain ``transformers.Trainer`` + peft
baseline, on the same examples, in one run.

By default both train what ``train`` trains now: the family ranker's pointwise yes/no scorer
on the training slates of a simulated family with 400 logged slates (``bench/ranker_lab.py``),
LoRA r=8 on the upper 8 layers, batches of 16, learning rate 1e-3, one epoch. Ours reads the
answer through the two-row label-only head; the baseline computes the model's own causal-LM
loss over the whole vocabulary with everything but the answer token masked (-100).
``--objective response`` benchmarks the earlier generative objective instead.

Both run in their own subprocess under ``/usr/bin/time -v`` (peak RSS = "Maximum resident
set size"; without /usr/bin/time, ``getrusage(RUSAGE_CHILDREN)`` is read instead and the
report says so). Both get the same pre-tokenized examples (so neither loads the tokenizer
while training), the same batch size, sequence cap, epochs or step cap, learning rate, seed,
torch thread count, ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT``. The baseline is
transformers' defaults: the bf16 base, LoRA through peft, the model's own causal-LM loss
over the full sequence with the prompt labels masked (-100), dynamic padding, no gradient
checkpointing.

Tokens/s counts the prompt + response tokens actually processed (padding excluded) during
the training loop (model loading excluded; wall time is reported separately).

    .venv/bin/python bench/bench_training.py [--interactions 300] [--steps N|auto] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TIME = "/usr/bin/time"
TIME_LIMIT_S = 15 * 60
REASONS = (
    "fits the afternoon",
    "everyone can join",
    "good for the weather",
    "matches their interests",
    "short and easy to set up",
    "calm before dinner",
    "a favourite last week",
    "gets everyone moving",
    "creative and quiet",
)
ROLES = (("parent", 30, 50), ("child", 4, 12), ("teen", 13, 17), ("grandparent", 60, 80))
INTERESTS = (
    "art",
    "music",
    "science",
    "sports",
    "nature",
    "reading",
    "cooking",
    "games",
    "animals",
    "building",
    "dance",
    "puzzles",
)


# -- the examples ------------------------------------------------------------------------


def build_examples(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, response) pairs in the recommendation format, from the catalog."""
    import numpy as np

    from engine.inference.prompts import build_training_example

    catalog = json.loads((ROOT / "resources" / "catalog.json").read_text())["activities"]
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(n):
        audience = []
        for _m in range(int(rng.integers(1, 5))):
            role, lo, hi = ROLES[int(rng.integers(len(ROLES)))]
            picks = rng.choice(len(INTERESTS), size=int(rng.integers(1, 4)), replace=False)
            audience.append(
                {
                    "role": role,
                    "age": int(rng.integers(lo, hi + 1)),
                    "interests": [INTERESTS[i] for i in picks],
                }
            )
        candidates = [
            catalog[i]
            for i in rng.choice(len(catalog), size=int(rng.integers(12, 16)), replace=False)
        ]
        chosen = [candidates[i]["id"] for i in rng.choice(len(candidates), size=3, replace=False)]
        reasons = [REASONS[int(rng.integers(len(REASONS)))] for _ in chosen]
        context = {
            "timeOfDay": str(rng.choice(["morning", "afternoon", "evening"])),
            "dayOfWeek": str(rng.choice(["monday", "wednesday", "saturday", "sunday"])),
            "environmentalFactors": [str(rng.choice(["sunny", "rainy", "cold", "windy"]))],
        }
        examples.append(build_training_example(context, audience, candidates, chosen, reasons))
    return examples


def scorer_examples(slates: int, seed: int) -> list[tuple[str, str]]:
    """The pointwise examples ``train`` makes from a simulated family's training slates."""
    from bench.ranker_lab import make_family
    from engine.ranker.slates import split
    from engine.ranker.training import pointwise_examples

    fam = make_family("outdoorsy", seed, slates=slates, heldout=1)
    return pointwise_examples(split(fam.slates).train, {i.id: i for i in fam.items})


def simulated_examples(work: Path, interactions: int, seed: int) -> list[tuple[str, str]]:
    """The training pairs famtune's own dataset builder makes for the demo family after
    ``interactions`` simulated interactions (what ``train`` would train on)."""
    from engine.cli.main import main as engine_cli
    from engine.domain.home import Famtune
    from engine.personalize.dataset import build_dataset

    home = work / "sim-home"
    ft = Famtune(home, profile="development")
    ft.initialize(demo=True, training_cache=False)
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the report
        code = engine_cli(["--home", str(home), "simulate", "--family", "smith-family",
                           "--interactions", str(interactions), "--seed", str(seed)])  # fmt: skip
    if code != 0:
        raise SystemExit("simulate failed")
    pairs = build_dataset(ft, "smith-family").pairs()
    ft.close()
    return pairs


# -- running a child under /usr/bin/time ---------------------------------------------------


def _time_prefix(out: Path) -> list[str]:
    return [TIME, "-v", "-o", str(out)] if Path(TIME).is_file() else []


def _peak_from_time(path: Path) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if "Maximum resident set size" in line:
                return int(line.rsplit(":", 1)[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def bench_env(threads: int) -> dict[str, str]:
    from engine.training.worker import OMP_SPIN_COUNT

    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads),
        OMP_WAIT_POLICY=env.get("OMP_WAIT_POLICY", "PASSIVE"),
        GOMP_SPINCOUNT=env.get("GOMP_SPINCOUNT", OMP_SPIN_COUNT),
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    return env


def run_ours(
    args: argparse.Namespace, cache: Path, tokens: Path, work: Path, steps: int
) -> dict[str, Any]:
    from engine.training.events import Done, MemoryAdjusted, Phase, Progress
    from engine.training.job import TrainJob
    from engine.training.worker import run_training_subprocess

    job = TrainJob(
        cache_dir=cache,
        out_dir=work / "ours" / "adapter",
        checkpoint_dir=work / "ours" / "ckpt",
        tokenized_path=tokens,
        batch_size=args.batch,
        micro_batch_size=args.micro,
        epochs=args.epochs,
        max_seq_length=args.seq,
        learning_rate=args.lr,
        seed=args.seed,
        max_steps=steps,
        memory_budget_mb=args.budget,
        num_threads=args.threads,
        checkpoint_every=10_000,
        objective=args.objective,
        lora_layers=args.lora_layers,
        gradient_checkpointing=args.objective == "response",
    )
    time_file = work / "ours.time"
    cancel = threading.Event()
    timer = threading.Timer(args.time_cap, cancel.set)
    timer.start()
    started = time.monotonic()
    result: dict[str, Any] = {"name": "famtune trainer", "status": "ok", "adjustments": []}
    losses: list[float] = []
    try:
        for event in run_training_subprocess(
            job, cancel=cancel, wrapper=_time_prefix(time_file), env=bench_env(args.threads)
        ):
            if isinstance(event, Progress):
                losses.append(event.loss)
                result.update(steps=event.step, tokens_per_s=event.tokens_per_s)
                if args.verbose:
                    print(
                        f"  ours step {event.step}/{event.total_steps} loss {event.loss:.3f} "
                        f"{event.tokens_per_s:.0f} tok/s rss {event.rss_mb:.0f} MB",
                        file=sys.stderr,
                    )
            elif isinstance(event, MemoryAdjusted):
                result["adjustments"].append(f"{event.what} {event.old}->{event.new}")
            elif isinstance(event, Phase):
                if event.name == "training":
                    result["plan"] = event.message
                if event.name == "cancelled":
                    result["status"] = f"time cap {args.time_cap:.0f} s reached"
            elif isinstance(event, Done):
                result.update(
                    steps=event.steps,
                    tokens_per_s=event.tokens_per_s,
                    cpu_tokens_per_s=event.cpu_tokens_per_s,
                    gguf=event.gguf_path,
                    inner_peak_mb=event.peak_rss_mb,
                )
    except Exception as exc:  # reported, not hidden
        result["status"] = f"failed: {exc}"
    finally:
        timer.cancel()
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["final_loss"] = losses[-1] if losses else None
    result["first_loss"] = losses[0] if losses else None
    peak = _peak_from_time(time_file)
    result["peak_rss_mb"] = round(peak if peak is not None else _children_peak_mb(), 1)
    result["peak_source"] = "/usr/bin/time -v" if peak is not None else "getrusage(RUSAGE_CHILDREN)"
    return result


def run_baseline(
    args: argparse.Namespace, cache: Path, tokens: Path, work: Path, steps: int
) -> dict[str, Any]:
    spec = work / "baseline.json"
    out = work / "baseline.result.json"
    spec.write_text(
        json.dumps(
            {
                "cache": str(cache),
                "tokens": str(tokens),
                "steps": steps,
                "batch": args.batch,
                "micro": args.micro,
                "seq": args.seq,
                "epochs": args.epochs,
                "lr": args.lr,
                "seed": args.seed,
                "threads": args.threads,
                "objective": args.objective,
                "lora_layers": args.lora_layers,
                "out": str(out),
                "work": str(work / "baseline"),
            }
        )
    )
    time_file = work / "baseline.time"
    cmd = [
        *_time_prefix(time_file),
        sys.executable,
        str(Path(__file__).resolve()),
        "--baseline-worker",
        str(spec),
    ]
    started = time.monotonic()
    result: dict[str, Any] = {"name": "transformers.Trainer + peft", "status": "ok"}
    log = (work / "baseline.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=bench_env(args.threads))
    try:
        code = proc.wait(timeout=args.time_cap * args.baseline_cap_factor)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        result["status"] = (
            f"killed at the time cap ({args.time_cap * args.baseline_cap_factor:.0f} s)"
        )
    log.close()
    result["wall_s"] = round(time.monotonic() - started, 1)
    if out.is_file():
        result.update(json.loads(out.read_text()))
    elif result["status"] == "ok":
        tail = (work / "baseline.log").read_text(errors="replace").strip().splitlines()[-3:]
        oom = ", killed: out of memory?" if code in (-9, 137) else ""
        result["status"] = f"failed (exit {code}{oom}): {' | '.join(tail)}"
    peak = _peak_from_time(time_file)
    result["peak_rss_mb"] = round(peak if peak is not None else _children_peak_mb(), 1)
    result["peak_source"] = "/usr/bin/time -v" if peak is not None else "getrusage(RUSAGE_CHILDREN)"
    return result


# -- the baseline child ------------------------------------------------------------------


def baseline_worker(spec_path: Path) -> int:
    """A plain transformers.Trainer + peft run; writes its figures as JSON."""
    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from engine.training.data import TokenizedData, fit_length
    from engine.training.worker import WORKER_NICENESS

    with contextlib.suppress(OSError):  # the same priority as famtune's worker
        os.nice(WORKER_NICENESS)
    spec = json.loads(spec_path.read_text())
    torch.set_num_threads(int(spec["threads"]))
    data = TokenizedData.load(Path(spec["tokens"]))
    rows = []
    for i in range(len(data)):
        ids, prompt_len = fit_length(*data.example(i), int(spec["seq"]))
        labels = ids.astype(np.int64).copy()
        labels[:prompt_len] = -100
        if spec.get("objective") == "yes_no":
            labels[prompt_len + 1 :] = -100  # only the answer token
        rows.append({"input_ids": ids.astype(np.int64).tolist(), "labels": labels.tolist()})
    counted = {"tokens": 0, "batches": 0}

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[row, :n], labels[row, :n], mask[row, :n] = (
                torch.tensor(b["input_ids"]),
                torch.tensor(b["labels"]),
                1,
            )
        counted["tokens"] += int(mask.sum())
        counted["batches"] += 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    model: Any = AutoModelForCausalLM.from_pretrained(
        spec["cache"], dtype=torch.bfloat16, local_files_only=True
    )
    torch.manual_seed(int(spec["seed"]))
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    layers = spec.get("lora_layers")
    upper = None if layers is None else list(range(18 - int(layers), 18))
    model = get_peft_model(
        model,
        LoraConfig(
            r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets, task_type="CAUSAL_LM",
            layers_to_transform=upper,
        ),
    )
    losses: list[float] = []
    per_step_tokens: list[int] = []

    class Record(TrainerCallback):
        def on_log(  # type: ignore[override]
            self, _args: Any, _state: Any, _control: Any, logs: Any = None, **_kw: Any
        ) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

        def on_step_end(  # type: ignore[override]
            self, _args: Any, _state: Any, _control: Any, **_kw: Any
        ) -> None:
            per_step_tokens.append(counted["tokens"])

    steps = int(spec["steps"])
    training_args = TrainingArguments(
        output_dir=spec["work"],
        per_device_train_batch_size=int(spec["batch"]),
        num_train_epochs=float(spec["epochs"]),
        max_steps=steps,
        learning_rate=float(spec["lr"]),
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=int(spec["seed"]),
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=rows,
        data_collator=collate,
        callbacks=[Record()],
    )
    started, cpu_started = time.monotonic(), time.process_time()
    output = trainer.train()
    train_s, cpu_s = time.monotonic() - started, time.process_time() - cpu_started
    done_steps = int(output.global_step)
    tokens = (
        per_step_tokens[done_steps - 1] if len(per_step_tokens) >= done_steps else counted["tokens"]
    )
    Path(spec["out"]).write_text(
        json.dumps(
            {
                "steps": done_steps,
                "train_s": round(train_s, 1),
                "tokens": tokens,
                "tokens_per_s": round(tokens / train_s, 2),
                "cpu_tokens_per_s": round(tokens / cpu_s, 2),
                "final_loss": losses[-1] if losses else None,
                "first_loss": losses[0] if losses else None,
            }
        )
    )
    return 0


# -- main --------------------------------------------------------------------------------


def _auto_steps(args: argparse.Namespace, n_tokens: int, n_examples: int) -> tuple[int, str]:
    full = math.ceil(n_examples / args.batch) * args.epochs
    if args.steps != "auto":
        return min(full, int(args.steps)), f"--steps {args.steps}"
    # About 60 tokens/s per thread for ours (measured on this 2-core x86), the baseline ~2x slower.
    est = n_tokens * args.epochs / (60.0 * args.threads) * 3
    if est <= TIME_LIMIT_S:
        return full, f"full run ({args.epochs} epochs, estimated {est / 60:.0f} min for both)"
    cap = max(8, int(full * TIME_LIMIT_S * 0.6 / est))
    return min(full, cap), (
        f"auto-capped: the full {full}-step run would take about {est / 60:.0f} "
        f"min here (over {TIME_LIMIT_S // 60} min)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="auto", help="optimizer steps for both runs, or 'auto'")
    parser.add_argument(
        "--interactions",
        type=int,
        default=300,
        help="simulated interactions of the demo family; its dataset is what both train on",
    )
    parser.add_argument(
        "--synthetic", type=int, default=0, help="instead: this many synthetic catalog examples"
    )
    parser.add_argument("--objective", choices=("yes_no", "response"), default="yes_no")
    parser.add_argument("--slates", type=int, default=400,
                        help="yes_no: the simulated family's logged slates")  # fmt: skip
    parser.add_argument("--lora-layers", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--micro", type=int, default=None,
                        help="our prompts per forward/backward pass (the scorer's config: 4)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seq", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--budget", type=int, default=1536, help="our memory budget, MB")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--time-cap", type=float, default=1800.0, help="seconds for our run")
    parser.add_argument("--baseline-cap-factor", type=float, default=3.0)
    parser.add_argument("--home", type=Path, default=None, help="data dir holding the base model")
    parser.add_argument("--only", choices=("ours", "baseline"), default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--baseline-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_worker:
        return baseline_worker(args.baseline_worker)
    from engine.base.config import FineTuningConfig

    config = FineTuningConfig()
    scorer = args.objective == "yes_no"
    defaults = {"batch": 16 if scorer else 4, "epochs": 1 if scorer else 2,
                "seq": 128 if scorer else 512, "lr": 1e-3 if scorer else 1e-4,
                "lora_layers": 8 if scorer else None,
                "micro": config.scorer_micro_batch_size if scorer else None}  # fmt: skip
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)

    from engine import basemodel
    from engine.base.paths import DataDir, default_home
    from engine.training.data import TokenizedData, tokenize_in_subprocess

    data_dir = DataDir(args.home or default_home())
    data_dir.base_dir.mkdir(parents=True, exist_ok=True)
    info = basemodel.assemble_base_model(data_dir)
    cache = basemodel.prepare_training_cache(data_dir, info.path, sha256=info.sha256)
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    try:
        if scorer:
            examples = scorer_examples(args.slates, args.seed)
            source = (f"pointwise scorer examples from the training slates of a simulated "
                      f"family with {args.slates} logged slates")  # fmt: skip
        elif args.synthetic:
            examples, source = build_examples(args.synthetic, args.seed), "synthetic examples"
        else:
            examples = simulated_examples(work, args.interactions, args.seed)
            source = f"the demo family's dataset from {args.interactions} simulated interactions"
        tokens = work / "tokens.npz"
        data = tokenize_in_subprocess(cache, examples, tokens)
        assert isinstance(data, TokenizedData)
        lengths = data.lengths()
        steps, how = _auto_steps(args, int(lengths.sum()), len(data))
        if args.verbose:
            print(f"{len(data)} examples, {how}: {steps} steps", file=sys.stderr)
        results = []
        if args.only in (None, "ours"):
            results.append(run_ours(args, cache, tokens, work, steps))
        if args.only in (None, "baseline"):
            results.append(run_baseline(args, cache, tokens, work, steps))
        report = {
            "machine": f"{os.cpu_count()} cores, {args.threads} torch threads, "
            f"OMP_WAIT_POLICY={bench_env(args.threads)['OMP_WAIT_POLICY']}, "
            f"GOMP_SPINCOUNT={bench_env(args.threads)['GOMP_SPINCOUNT']}",
            "data": {
                "source": source,
                "examples": len(data),
                "tokens_mean": round(float(lengths.mean()), 1),
                "tokens_min": int(lengths.min()),
                "tokens_max": int(lengths.max()),
                "response_mean": round(float((lengths - data.prompt_lens).mean()), 1),
            },
            "settings": {
                "steps": steps,
                "how": how,
                "batch": args.batch,
                "micro": args.micro,
                "epochs": args.epochs,
                "max_seq_length": args.seq,
                "lr": args.lr,
                "budget_mb": args.budget,
                "objective": args.objective,
                "lora_layers": args.lora_layers,
            },
            "results": results,
        }
        if len(results) == 2 and results[0].get("tokens_per_s") and results[1].get("tokens_per_s"):
            report["speedup"] = round(results[0]["tokens_per_s"] / results[1]["tokens_per_s"], 2)
            report["memory_ratio"] = round(results[1]["peak_rss_mb"] / results[0]["peak_rss_mb"], 2)
        print(json.dumps(report, indent=2) if args.json else render(report))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def render(report: dict[str, Any]) -> str:
    d, s = report["data"], report["settings"]
    lines = [
        f"Data: {d['source']}: {d['examples']} examples, "
        f"{d['tokens_min']}-{d['tokens_max']} tokens "
        f"(mean {d['tokens_mean']}, response mean {d['response_mean']}); {report['machine']}",
        f"Run: {s['steps']} steps ({s['how']}), batch {s['batch']}, max {s['max_seq_length']} "
        f"tokens, lr {s['lr']}, our budget {s['budget_mb']} MB",
        "",
        "| run | status | steps | peak RSS (MB) | train tokens/s | wall (s) | loss first -> last |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in report["results"]:
        loss = (
            f"{r['first_loss']:.3f} -> {r['final_loss']:.3f}"
            if r.get("final_loss") is not None and r.get("first_loss") is not None
            else "-"
        )
        lines.append(
            f"| {r['name']} | {r['status']} | {r.get('steps', '-')} | "
            f"{r['peak_rss_mb']:.0f} | {r.get('tokens_per_s', '-')} | {r['wall_s']} | {loss} |"
        )
    if "speedup" in report:
        lines += [
            "",
            f"Speed-up (tokens/s): {report['speedup']}x; baseline/ours peak RSS: "
            f"{report['memory_ratio']}x",
        ]
    sources = {r["peak_source"] for r in report["results"]}
    lines.append(f"Peak RSS from {', '.join(sorted(sources))}.")
    for r in report["results"]:
        if r.get("plan"):
            lines.append(
                f"Our plan: {r['plan']}"
                + (f"; adjusted: {', '.join(r['adjustments'])}" if r.get("adjustments") else "")
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
