"""Training in its own process, so the caller (GUI or engine) never carries the training
peak, and the peak measured from outside is the worker's alone.

Parent: :func:`run_training_subprocess` writes the job as JSON, starts
``python -m engine.training.worker JOBFILE`` and yields the events the worker prints, one
JSON object per line on its stdout. Cancelling writes ``cancel`` to the worker's stdin; the
worker stops between steps and keeps its checkpoint. If the parent goes away, the worker
reads end-of-file on stdin and stops the same way.

Child: :func:`main`. Stray prints of libraries go to stderr (the worker's log file), so
stdout carries only events. Errors become ``{"event": "Error", "kind": ..., "message": ...}``
and the parent raises them again (``MemoryBudgetExceeded`` keeps its type).

The child tunes glibc's allocator through ``GLIBC_TUNABLES`` (no tcache, no fastbins):
small freed chunks then coalesce, measured to lower the training peak by about 250 MB at
the same speed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from engine.base.child_env import PROJECT_ROOT, child_env
from engine.base.errors import FamtuneError
from engine.base.filelock import FileLock
from engine.training.events import Event, Phase, event_from_json, event_to_json
from engine.training.job import TrainJob
from engine.training.memory import MALLOC_TUNABLES, MemoryBudgetExceeded

_ERRORS: dict[str, type[FamtuneError]] = {"MemoryBudgetExceeded": MemoryBudgetExceeded}
WORKER_NICENESS = 10
"""Added to the worker's nice value: training yields the CPU to the app and to inference."""
OMP_SPIN_COUNT = "10000"
"""How many busy-wait iterations (libgomp's ``GOMP_SPINCOUNT``) a torch thread spends waiting
for the next parallel region before it sleeps. Passive waiting alone (0) puts both threads
to sleep between the thousands of small operations of each step. Measured on 2 cores
(2026-12-04, ``bench/bench_training.py --only ours --micro 2``, the scorer's examples): quiet,
20 steps: 231 tokens/s passive, 323 with 10,000 (1.40x), peak RSS 771 and 769 MB; beside two
busy loops at normal priority, 6 steps: 17.5 tokens/s passive, 20.2 with 10,000 (the worker
is niced, so it runs on what they leave either way)."""


def worker_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: every child's (:func:`child_env`), passive OpenMP waiting
    after a short spin, and the allocator tunables."""
    env = child_env(base)
    # Spinning OpenMP threads starve the working ones when the cores are shared (the GUI,
    # llama.cpp): measured 20-50x slower steps on a busy 2-core machine without this. A
    # short spin before sleeping keeps back-to-back operations fast (OMP_SPIN_COUNT).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("GOMP_SPINCOUNT", OMP_SPIN_COUNT)
    tunables = [t for t in (env.get("GLIBC_TUNABLES"), MALLOC_TUNABLES) if t]
    env["GLIBC_TUNABLES"] = ":".join(tunables)
    return env


def run_training_subprocess(
    job: TrainJob,
    *,
    cancel: threading.Event | None = None,
    wrapper: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    grace_s: float = 120.0,
    pass_fds: Sequence[int] = (),
) -> Iterator[Event]:
    """Run ``job`` in a worker process and yield its events. ``wrapper`` prefixes the
    command (e.g. ``["/usr/bin/time", "-v", "-o", path]``). Closing the generator early
    cancels the worker and waits up to ``grace_s`` for its checkpoint before killing it.
    ``pass_fds`` are inherited by the worker (the data directory's training lock)."""
    cancel = cancel or threading.Event()
    job.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    job_file = job.checkpoint_dir / f"job-{os.getpid()}-{id(job):x}.json"
    job_file.write_text(json.dumps(job.to_json()), encoding="utf-8")
    log_path = job.checkpoint_dir / "worker.log"
    cmd = [*wrapper, sys.executable, "-m", "engine.training.worker", str(job_file)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=worker_env(env),
            cwd=str(PROJECT_ROOT),
            pass_fds=tuple(pass_fds),
        )
    lines: queue.Queue[bytes | None] = queue.Queue()
    assert proc.stdout is not None and proc.stdin is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    error: dict[str, Any] | None = None
    sent_cancel = False
    try:
        while True:
            if cancel.is_set() and not sent_cancel:
                sent_cancel = _send_cancel(proc.stdin)
            try:
                raw = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if raw is None:
                break
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            if data.get("event") == "Error":
                error = data
                continue
            yield event_from_json(data)
        code = proc.wait()
    finally:
        if proc.poll() is None:
            _send_cancel(proc.stdin)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            proc.stdin.close()
        with contextlib.suppress(OSError):
            job_file.unlink()
    if error is not None:
        cls = _ERRORS.get(str(error.get("kind")), FamtuneError)
        raise cls(str(error.get("message")))
    if code < 0:
        raise FamtuneError(
            f"the training process was stopped by the system (signal {-code}); "
            f"details in {log_path}"
        )
    if code != 0:
        raise FamtuneError(f"the training process failed (exit {code}); details in {log_path}")


def _pump(stream: IO[bytes], lines: queue.Queue[bytes | None]) -> None:
    for line in iter(stream.readline, b""):
        lines.put(line)
    lines.put(None)


def _send_cancel(stdin: IO[bytes]) -> bool:
    try:
        stdin.write(b"cancel\n")
        stdin.flush()
    except (OSError, ValueError):
        return False
    return True


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


def _watch_stdin(cancel: threading.Event) -> None:
    """``cancel`` on a ``cancel`` line or end-of-file (the parent is gone)."""
    for line in sys.stdin:
        if line.strip() == "cancel":
            break
    cancel.set()


def _own_checkpoint_dir(
    job: TrainJob, cancel: threading.Event, emit: Callable[[dict[str, Any]], None]
) -> bool:
    """Wait until no other worker uses ``job.checkpoint_dir`` (one whose parent was killed
    finishes its step and saves its checkpoint first); the lock lasts as long as this process.
    False when cancelled while waiting."""
    lock = FileLock(job.checkpoint_dir / "worker.lock")
    announced = False
    while not lock.try_acquire():
        if not announced:
            emit(event_to_json(Phase("waiting", "The previous training process is finishing")))
            announced = True
        if cancel.wait(0.5):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m engine.training.worker JOBFILE\n")
        return 2
    # Background work: the touch screen and recommendations come first on a shared CPU.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # Events go to the real stdout; everything else printed lands in stderr (the log).
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    cancel = threading.Event()
    parent_gone = threading.Event()

    def emit(data: dict[str, Any]) -> None:
        """Write one event; if nobody reads them any more (the parent was killed), stop at
        the next step boundary, which saves a checkpoint the next run resumes from."""
        if parent_gone.is_set():
            return
        try:
            events.write(json.dumps(data) + "\n")
            events.flush()
        except (OSError, ValueError):
            parent_gone.set()
            cancel.set()

    threading.Thread(target=_watch_stdin, args=(cancel,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    try:
        from engine.training.events import JsonlSink
        from engine.training.trainer import train_lora

        job = TrainJob.from_json(json.loads(Path(args[0]).read_text(encoding="utf-8")))
        if not _own_checkpoint_dir(job, cancel, emit):
            return 0
        sink = JsonlSink(job.metrics_path) if job.metrics_path else None
        try:
            for event in train_lora(job, cancel=cancel, sink=sink):
                emit(event_to_json(event))
        finally:
            if sink is not None:
                sink.close()
    except FamtuneError as exc:
        emit({"event": "Error", "kind": type(exc).__name__, "message": str(exc)})
        return 3
    except MemoryError:
        emit({"event": "Error", "kind": "MemoryBudgetExceeded", "message": "out of memory"})
        return 3
    except Exception as exc:
        import traceback

        traceback.print_exc()
        emit({"event": "Error", "kind": "internal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    finally:
        with contextlib.suppress(OSError, ValueError):
            events.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
