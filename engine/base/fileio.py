"""Whole-file hashing and fsync, shared by everything that writes or verifies files on disk
(the base model, the model store, adapters, backups)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from engine.base.errors import FamtuneError, ModelFileError

BLOCK = 4 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def file_sha256(
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    *,
    max_bytes: int | None = None,
) -> str:
    """Hex sha256 of a regular file, read in 4 MiB blocks; ``progress(done, total)`` after
    each. A device, pipe, socket or directory (also behind a symlink) is refused without
    reading it, so hashing always ends; so is a file larger than ``max_bytes``, or one that
    grows while it is read. OSError propagates: callers say what the file was."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        total = st.st_size
        if max_bytes is not None and total > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes} bytes", str(path))
        digest = hashlib.sha256()
        done = 0
        while block := handle.read(BLOCK):
            digest.update(block)
            done += len(block)
            if done > total:
                raise OSError(errno.EIO, "the file grew while it was read", str(path))
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


def sha256_file(path: Path, progress: Callable[[int, int], None] | None = None) -> str:
    """:func:`file_sha256` for a model file: an unreadable one is a ModelFileError."""
    try:
        return file_sha256(path, progress)
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def normalize_sha256(value: str | None) -> str | None:
    """A hex sha256 in lower case, or None if ``value`` is not one."""
    if value is None:
        return None
    text = value.strip().lower()
    return text if _SHA256.match(text) else None


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


def check_output_file(path: Path, what: str = "the output") -> Path:
    """Refuse, with a plain message, an output path that cannot be written as a regular
    file: a missing parent directory, a directory, a device, a pipe or a socket."""
    parent = path.parent
    if not parent.is_dir():
        raise FamtuneError(f"cannot write {what} {path}: {parent} is not an existing directory")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path  # a new file (or a dangling symlink, which is replaced, not followed)
    except OSError as exc:
        raise FamtuneError(f"cannot write {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise FamtuneError(f"cannot write {what} {path}: it is a directory; name a file")
    if not stat.S_ISREG(mode):
        raise FamtuneError(
            f"cannot write {what} {path}: it is a device, pipe or socket, not a regular file"
        )
    return path


def write_private(path: Path, data: bytes | Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` all or nothing and owner-only (0600), for files that hold decrypted
    data or the key. The temporary file beside it is created exclusively (``mkstemp``:
    ``O_CREAT | O_EXCL``, a random name, mode 0600), so a symlink planted next to the
    target is never followed; the rename replaces a symlink at ``path`` rather than writing
    through it. ``data`` is the bytes, or a function that writes them to the open file."""
    check_output_file(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FamtuneError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FamtuneError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    fsync_dir(path.parent, best_effort=True)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON all or nothing (:func:`atomic_file`), then
    fsync the directory so the rename survives a power cut."""
    with atomic_file(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    fsync_dir(path.parent, best_effort=True)


def swap_dir(tmp: Path, final: Path, old: Path) -> None:
    """Put the finished directory ``tmp`` in place of ``final`` with two renames (``final`` ->
    ``old``, ``tmp`` -> ``final``), fsync the parent, then remove ``old``. A crash between
    the renames leaves ``old``, which a reader may fall back to; never a half-written
    ``final``."""
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_dir(final.parent, best_effort=True)
    shutil.rmtree(old, ignore_errors=True)


def write_json_private(path: Path, document: Any) -> Path:
    """``document`` as indented JSON (non-ASCII kept) through :func:`write_private`: all or
    nothing, owner-only, never through a planted symlink, a directory or device refused."""
    write_private(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())
    return path
