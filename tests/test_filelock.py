"""The data directory's training lock: one holder at a time, released by the kernel when
the holder dies, and kept by a child process that inherited it (an orphaned worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.base.filelock import FileLock, training_lock


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first, second = training_lock(tmp_path), training_lock(tmp_path)
    with first.hold() as got:
        assert got and first.held
        with second.hold() as also:
            assert not also and not second.held
    assert second.try_acquire()
    second.release()


def test_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    code = (
        "import sys, time; from engine.base.filelock import training_lock; "
        "lock = training_lock(__import__('pathlib').Path(sys.argv[1])); "
        "assert lock.try_acquire(); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    assert not training_lock(tmp_path).try_acquire()
    child.kill()
    child.wait()
    lock = training_lock(tmp_path)
    assert lock.try_acquire()
    lock.release()


def test_an_inheriting_child_keeps_it_after_the_parent_lets_go(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "training.lock")
    assert lock.try_acquire()
    fd = lock.fileno()
    assert fd is not None
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=(fd,),
    )
    try:
        lock.release()  # as if the parent died: its descriptor is closed
        assert not training_lock(tmp_path).try_acquire()  # the child still holds it
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    again = training_lock(tmp_path)
    assert again.try_acquire()
    again.release()
