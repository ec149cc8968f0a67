"""A family model version's files, each checked to stay inside its version folder, and
whether the version may serve (the recommendation path reads these without the model store)."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlmodel import Session, col, select

from engine.base.errors import ModelFileError
from engine.base.fileio import file_sha256
from engine.base.paths import DataDir
from engine.db.tables import ModelVersion
from engine.gguf import ADAPTER_GGUF

# A LoRA adapter over Gemma 3 270M is a few MB (rank 256 on every projection stays under
# 150 MB); anything larger is not an adapter, and hashing it could outlast the deadline.
MAX_VERSION_FILE_BYTES = 256 << 20
MAX_MANIFEST_BYTES = 1 << 20


def unservable_reason(row: ModelVersion, threshold: float) -> str | None:
    """Why a version must not be served, validated as ok or rolled back to: the evaluation
    gate rejected it, or its recorded safety score is missing or below ``threshold``.
    None when it may serve. The one rule the store, rollback, validation and the
    recommendation path all apply."""
    if row.status == "rejected":
        why = f" ({row.reason})" if row.reason else ""
        return f"version {row.version} was rejected by the evaluation gate{why}"
    if row.safety_score is None:
        return f"version {row.version} has no recorded safety score"
    if row.safety_score < threshold:
        return (
            f"version {row.version}'s safety score {row.safety_score} is below the "
            f"threshold {threshold}"
        )
    return None


def serving_version(session: Session, family_id: str, threshold: float) -> ModelVersion | None:
    """The family's active version if it may serve (see :func:`unservable_reason`)."""
    row: ModelVersion | None = session.exec(
        select(ModelVersion).where(ModelVersion.family_id == family_id, col(ModelVersion.is_active))
    ).first()
    if row is None or unservable_reason(row, threshold) is not None:
        return None
    return row


def version_file(data: DataDir, family_id: str, version: int, name: str) -> Path:
    """A version's file, checked before anyone hashes or loads it: a regular file (not a
    symlink, device or pipe) of at most MAX_VERSION_FILE_BYTES inside the version's
    directory. ModelFileError otherwise."""
    folder = data.version_dir(family_id, version)
    path = folder / name
    if path.parent != folder or name in ("", ".", ".."):
        raise ModelFileError(f"version {version}: {name!r} is not a file name")
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise ModelFileError(f"version {version}: {name} is missing") from None
    except OSError as exc:
        raise ModelFileError(f"version {version}: {name} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(
            f"version {version}: {name} is not a regular file (a symlink, device or pipe)"
        )
    if st.st_size > MAX_VERSION_FILE_BYTES:
        raise ModelFileError(
            f"version {version}: {name} is {st.st_size} bytes, over the "
            f"{MAX_VERSION_FILE_BYTES}-byte limit for model files"
        )
    return path


def servable_adapter(data: DataDir, row: ModelVersion, threshold: float) -> Path:
    """The adapter file of a version about to be served: ModelFileError when the version may
    not serve (:func:`unservable_reason`) or its adapter is not a bounded regular file.
    The recommendation path calls this before anything hashes or loads the adapter, and
    falls back to the general engine with the reason."""
    problem = unservable_reason(row, threshold)
    if problem is not None:
        raise ModelFileError(f"{problem}; it is not served")
    return version_file(data, row.family_id, row.version, ADAPTER_GGUF)


def version_file_sha256(data: DataDir, family_id: str, version: int, name: str) -> str:
    path = version_file(data, family_id, version, name)
    try:
        return file_sha256(path, max_bytes=MAX_VERSION_FILE_BYTES)
    except OSError as exc:
        raise ModelFileError(
            f"version {version}: {name} cannot be read ({exc.strerror or exc})"
        ) from None
