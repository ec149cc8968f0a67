"""Whole-file hashing and fsync, shared by everything that writes or verifies files on disk
(the base model, the model store, adapters, backups)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

BLOCK = 4 << 20


def file_sha256(path: Path, progress: Callable[[int, int], None] | None = None) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks; ``progress(done, total)`` after each.
    OSError propagates: callers say what the file was."""
    total = path.stat().st_size if progress is not None else 0
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def fsync_dir(path: Path, *, best_effort: bool = False) -> None:
    """Make a directory's entries (a rename into it) durable. ``best_effort``: a file system
    that cannot fsync a directory is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        if not best_effort:
            raise


def fsync_tree(root: Path, *, best_effort: bool = False) -> None:
    """fsync every file below ``root``, then ``root`` itself (``best_effort`` as above, for
    the directory)."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(root, best_effort=best_effort)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Write ``path`` all or nothing: a temporary file beside it, flushed, fsynced and
    renamed into place when the block ends; removed if the block raises."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
