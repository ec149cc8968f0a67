"""The drill itself: measure each command unkilled, then start, kill and check, again and
again, until the planned kills are done."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scripts.crash.commands import FAMILY, KINDS, ROOT, TRAIN_MODES, engine_cmd, engine_env
from scripts.crash.expect import (
    Acked,
    acked_from,
    after_completion,
    change_failures,
    invariant_failures,
)
from scripts.crash.jobs import catalog_ids, make_job
from scripts.crash.kill import kill_after, kill_training, start, wait_for_orphans
from scripts.crash.observe import observe_in_subprocess
from scripts.crash.prepare import prepare_home, schedule
from scripts.crash.report import Record, describe_change, progress_line, summarize, table


@dataclass
class Drill:
    """What the kills share: the data directory, the random source, the measured timings and
    the acknowledged state."""

    args: argparse.Namespace
    home: Path
    work: Path
    rng: random.Random
    acked: Acked
    items: list[str] = field(default_factory=catalog_ids)
    startup: float = 0.0
    durations: dict[str, list[float]] = field(default_factory=dict)
    misses: Counter[str] = field(default_factory=Counter)

    def measure(self, kinds: list[str]) -> None:
        """The interpreter's start-up, then one unkilled run of each kind but training."""
        t0 = time.monotonic()
        subprocess.run(engine_cmd(self.home, "family", "import", "--help"), capture_output=True,
                       env=engine_env(), cwd=ROOT, check=True)  # fmt: skip
        self.startup = time.monotonic() - t0
        for kind in kinds:
            if kind == "train":
                continue
            job = make_job(kind, self.rng, self.acked, self.work, self.items)
            log = self.work / "logs" / f"measure-{kind}.log"
            t0 = time.monotonic()
            if start(self.home, job, log).wait(timeout=900) != 0:
                raise SystemExit(f"crash drill: {' '.join(job.args)} failed when measured: "
                                 f"{log.read_text()[-2000:]}")  # fmt: skip
            self.durations[kind] = [time.monotonic() - t0]
            self.acked = after_completion(self.acked, job.flight)  # checked at the first kill

    def window(self, kind: str) -> tuple[float, float]:
        """Seconds after the start within which the kill falls (uniformly)."""
        if kind == "train":
            return 0.0, self.args.train_window
        full = 0.95 * statistics.median(self.durations[kind])
        low = 0.0 if self.rng.random() < 0.3 else min(self.startup, full * 0.9)
        return low, full

    def run_one(self, kind: str, mode: str, number: int, seq: int) -> tuple[Record, bool]:
        """Start one command (the ``seq``-th), kill it (the ``number``-th kill), check;
        returns the record and whether the data directory could still be read."""
        acked = self.acked
        job = make_job(kind, self.rng, acked, self.work, self.items, mode)
        window = self.window(kind)
        delay = self.rng.uniform(*window)
        log = self.work / "logs" / f"{seq:03d}-{kind}.log"
        t0 = time.monotonic()
        proc = start(self.home, job, log)
        if kind == "train":
            outcome = kill_training(proc, mode, delay, t0, at_once=self.args.restart_at_once)
            job.mode = outcome.mode
        else:
            outcome = kill_after(proc, delay, t0)
        if not outcome.killed:
            self.misses[kind] += 1
            if kind != "train" and outcome.rc == 0:
                self.durations[kind].append(outcome.at_ms / 1000)
            elif outcome.rc not in (0, None):
                outcome.problems.append(f"{' '.join(job.args)} failed: {log.read_text()[-500:]}")
        c0 = time.monotonic()
        state = observe_in_subprocess(self.home)
        check_s = time.monotonic() - c0
        if outcome.orphans:  # checked while the orphaned worker ran; now see what it leaves
            outcome.problems += wait_for_orphans(outcome)
            left = sorted(p.name for p in (self.home / "models" / FAMILY).glob(".staging-*"))
            if left:
                outcome.problems.append(
                    f"the orphaned training worker wrote {left} after crash recovery had run; "
                    "it stays until the next start")  # fmt: skip
        failures = outcome.problems + invariant_failures(state)
        failures += change_failures(state, acked, job.flight,
                                    completed=not outcome.killed and outcome.rc == 0)  # fmt: skip
        staged = len(state.get("stagingBeforeRecovery", []))
        if staged:
            outcome.note += f"{'; ' if outcome.note else ''}recovery removed {staged} staging dir"
        readable = "observerError" not in state and bool(state.get("active"))
        if readable:
            self.acked = acked_from(state)
        record = Record(number if outcome.killed else 0, kind, job.mode, outcome.killed,
                        outcome.at_ms, (int(window[0] * 1000), int(window[1] * 1000)),
                        outcome.rc, describe_change(state, acked, job.flight), outcome.note,
                        failures, check_s)  # fmt: skip
        return record, readable


def drill(args: argparse.Namespace) -> int:
    started = time.monotonic()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    train_modes = tuple(m.strip() for m in args.train_modes.split(",") if m.strip()) or TRAIN_MODES
    unknown = (set(kinds) - set(KINDS)) | (set(train_modes) - set(TRAIN_MODES))
    if unknown:
        raise SystemExit(f"crash drill: unknown {sorted(unknown)} (kinds: {KINDS}, "
                         f"train modes: {TRAIN_MODES})")
    out = sys.stderr if args.json else sys.stdout  # progress; --json keeps stdout for the JSON

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="crash-drill-"))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    home = prepare_home(args, work, say)
    state = observe_in_subprocess(home)
    setup_bad = invariant_failures(state)
    if setup_bad:
        raise SystemExit(f"crash drill: the prepared data directory fails its checks: {setup_bad}")
    run = Drill(args, home, work, random.Random(args.seed), acked_from(state))
    setup_s = time.monotonic() - started
    say(f"data directory {home} ready in {setup_s:.0f} s: versions {run.acked.versions}, "
        f"active v{run.acked.active}, {run.acked.interactions} interactions, "
        f"{run.acked.audit} audit events")  # fmt: skip
    run.measure(kinds)
    say(f"start-up {run.startup * 1000:.0f} ms; unkilled runs: " + ", ".join(
        f"{k} {v[0] * 1000:.0f} ms" for k, v in run.durations.items()))  # fmt: skip

    records: list[Record] = []
    plan = schedule(run.rng, args, kinds, train_modes)
    while plan:
        kind, _, mode = plan[0].partition("/")
        record, readable = run.run_one(kind, mode, args.kills - len(plan) + 1, len(records) + 1)
        records.append(record)
        say(progress_line(record, args.kills))
        if record.killed:
            plan.pop(0)
        elif run.misses[kind] > 10 + 2 * args.kills:
            raise SystemExit(f"crash drill: {kind} keeps finishing before its kill")
        if not readable:
            break  # the data directory cannot be read: nothing further is meaningful

    summary = summarize(records, run.misses, time.monotonic() - started, setup_s)
    failed = [r for r in records if r.failures]
    if args.json:
        print(json.dumps({"seed": args.seed, "home": str(home), "summary": summary,
                          "kills": [r.to_json() for r in records]}, indent=2))  # fmt: skip
    else:
        print(table(summary))
        for r in failed:
            print(f"FAILED {'kill ' + str(r.n) if r.killed else 'unkilled run'} ({r.kind}"
                  f"{'/' + r.mode if r.mode else ''}, after {r.at_ms} ms): "
                  + "; ".join(r.failures))  # fmt: skip
    if failed or args.keep or args.workdir:
        say(f"data directory kept: {home}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0
