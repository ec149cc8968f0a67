"""Starting a command and killing it: SIGKILL after a delay, or for training the CLI, its
worker or the whole process group; and waiting for an orphaned worker to stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.crash.commands import ROOT, WORKER_MODULE, engine_cmd, engine_env
from scripts.crash.jobs import Job


@dataclass
class Outcome:
    killed: bool
    at_ms: int
    rc: int | None
    note: str = ""
    problems: list[str] = field(default_factory=list)
    mode: str = ""
    orphans: list[Any] = field(default_factory=list)  # psutil.Process


def _workers(pid: int) -> list[Any]:
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if WORKER_MODULE in " ".join(child.cmdline()):
                found.append(child)
    return found


def start(home: Path, job: Job, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(engine_cmd(home, *job.args, "--json"), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=engine_env(), cwd=ROOT, start_new_session=True)  # fmt: skip


def kill_after(proc: subprocess.Popen[bytes], delay: float, t0: float) -> Outcome:
    """SIGKILL the command ``delay`` seconds after ``t0``, unless it has finished by then."""
    while True:
        left = t0 + delay - time.monotonic()
        if proc.poll() is not None:
            return Outcome(False, int((time.monotonic() - t0) * 1000), proc.returncode)
        if left <= 0:
            break
        time.sleep(min(left, 0.005))
    proc.send_signal(signal.SIGKILL)
    at_ms = int((time.monotonic() - t0) * 1000)
    proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:  # it exited in the same instant
        return Outcome(False, at_ms, proc.returncode)
    return Outcome(True, at_ms, proc.returncode)


def kill_training(
    proc: subprocess.Popen[bytes], mode: str, delay: float, t0: float, *, at_once: bool = False
) -> Outcome:
    """``cli``: kill the CLI and wait for its orphaned worker to checkpoint and stop (with
    ``at_once``, leave it running: the caller checks first, as an app restarted at once would);
    ``worker``: kill the worker (once it exists) and wait for the CLI to report;
    ``group``: kill both at once. A worker that has already finished (the CLI is
    evaluating) cannot be killed: the CLI is killed instead."""
    import psutil

    seen, note = False, ""
    while True:
        if proc.poll() is not None:
            return Outcome(False, int((time.monotonic() - t0) * 1000), proc.returncode,
                           f"train ended before the {mode} kill", mode=mode)  # fmt: skip
        workers = _workers(proc.pid)
        seen = seen or bool(workers)
        if time.monotonic() >= t0 + delay:
            if mode != "worker" or workers:
                break
            if seen:
                mode, note = "cli", "the worker had finished: the CLI was killed instead; "
                break
        time.sleep(0.05)
    workers = _workers(proc.pid)
    at_ms = int((time.monotonic() - t0) * 1000)
    problems: list[str] = []
    if mode == "worker":
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                worker.send_signal(signal.SIGKILL)
        try:
            rc: int | None = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(timeout=60)
            problems.append("train did not end within 300 s of its worker's SIGKILL")
        if rc != 0:
            problems.append(f"train exited {rc} after its worker was killed (expected 0)")
        return Outcome(True, at_ms, rc, f"worker pid {workers[0].pid} killed", problems, mode)
    if mode == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    note += f"{len(workers)} worker(s) {'killed too' if mode == 'group' else 'left to stop'}"
    outcome = Outcome(True, at_ms, proc.returncode, note, problems, mode, workers)
    if not at_once:
        outcome.problems += wait_for_orphans(outcome)
    return outcome


def wait_for_orphans(outcome: Outcome) -> list[str]:
    """Wait for a killed CLI's training worker to finish its step and stop."""
    import psutil

    problems = []
    _gone, alive = psutil.wait_procs(outcome.orphans, timeout=300)
    for worker in alive:
        problems.append(f"the orphaned training worker {worker.pid} still ran after 300 s")
        with contextlib.suppress(psutil.Error):
            worker.kill()
    outcome.orphans = []
    return problems
