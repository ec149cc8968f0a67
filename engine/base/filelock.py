"""An advisory, process-wide lock on a file (``flock``), released by the kernel when its
holder exits, however it exits: after a SIGKILL or a power cut there is no stale lock to
clean up.

famtune uses one per data directory, ``training.lock``: the training pipeline holds it from
the dataset to the published version, and crash recovery only removes unfinished model
files and marks runs interrupted when it can take the lock (nobody is training).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class FileLock:
    """``with FileLock(path).hold() as held:`` -- ``held`` is False when another process
    has it (``try_acquire`` never waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int | None:
        """The locked descriptor. A child process that inherits it (``pass_fds``) keeps the
        lock held until both have closed it: an orphaned worker still counts as training."""
        return self._fd

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Close the descriptor. The lock goes when no process has it open any more (no
        explicit unlock, which would also take it from a child that inherited it)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def hold(self) -> _Held:
        return _Held(self)


class _Held:
    def __init__(self, lock: FileLock) -> None:
        self.lock = lock
        self.acquired = False

    def __enter__(self) -> bool:
        self.acquired = self.lock.try_acquire()
        return self.acquired

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.acquired:
            self.lock.release()


def training_lock(root: Path) -> FileLock:
    """The data directory's training lock (see the module docstring)."""
    return FileLock(root / "training.lock")
