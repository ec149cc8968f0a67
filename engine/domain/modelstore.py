"""Versioned family models: ``models/<family>/<version>/`` plus one ``model_version`` row each.

A version becomes visible in one step. Its files are written into a staging directory
(``models/<family>/.staging-*``), fsynced, renamed into place and the parent directory fsynced;
only then is its row inserted. A crash before the row commits leaves an unreferenced directory
that ``recover()`` removes at the next start, so a half-written version is never served.
Exactly one version per family is active at a time; rollback re-activates a kept one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.base.errors import FamtuneError, ModelFileError, NotFound
from engine.base.fileio import file_sha256, fsync_dir, fsync_tree
from engine.base.filelock import training_lock
from engine.db.tables import ModelVersion, TrainingRun, utcnow
from engine.domain.audit import record_event
from engine.domain.version_files import (
    MAX_MANIFEST_BYTES,
    unservable_reason,
    version_file,
    version_file_sha256,
)
from engine.gguf import ADAPTER_GGUF

if TYPE_CHECKING:
    from engine.base.paths import DataDir
    from engine.domain.home import Famtune

MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class VersionInfo:
    """What the seed's ``getFamilyModelInfo`` returns, plus the store's own details."""

    family_id: str
    version: int
    status: str
    is_active: bool
    last_updated: datetime
    performance_score: float | None
    baseline_score: float | None
    safety_score: float | None
    reason: str | None
    path: str
    interactions_used: int
    adapter_sha256: str | None = None
    """The adapter's sha256 recorded when the version was published (not in to_json)."""

    @classmethod
    def of(cls, row: ModelVersion, data: DataDir) -> VersionInfo:
        return cls(
            row.family_id,
            row.version,
            row.status,
            row.is_active,
            row.activated_at or row.created_at,
            row.performance_score,
            row.baseline_score,
            row.safety_score,
            row.reason,
            str(data.version_dir(row.family_id, row.version)),
            row.interactions_used,
            row.adapter_sha256,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "familyId": self.family_id,
            "version": self.version,
            "status": self.status,
            "isActive": self.is_active,
            "lastUpdated": self.last_updated.isoformat(),
            "performanceScore": self.performance_score,
            "baselineScore": self.baseline_score,
            "safetyScore": self.safety_score,
            "reason": self.reason,
            "path": self.path,
            "interactionsUsed": self.interactions_used,
        }


class ModelStore:
    """The model versions of one data directory."""

    def __init__(self, ft: Famtune) -> None:
        self.ft = ft

    # -- writing a version --------------------------------------------------------------------

    def staging_dir(self, family_id: str) -> Path:
        """A fresh directory to write a new version's files into."""
        path = self.ft.data.family_models(family_id) / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        return path

    def commit(
        self,
        family_id: str,
        staged: Path,
        manifest: dict[str, Any],
        *,
        activate: bool,
        status: str,
        reason: str | None,
        scores: dict[str, float | None],
        interactions_used: int,
    ) -> VersionInfo:
        """Publish a staged version: manifest, fsync, rename, fsync parent, then the row.

        ``manifest`` gets the sha256 of every file in the version, so loaders can verify
        them. With ``activate``, the version replaces the family's active one.
        """
        files = {
            p.name: file_sha256(p)
            for p in sorted(staged.iterdir())
            if p.is_file() and p.name != MANIFEST
        }
        if ADAPTER_GGUF not in files:
            raise ModelFileError(f"the new version has no {ADAPTER_GGUF}")
        with self.ft.db.write() as session:
            version = self._next_version(session, family_id)
        final = self.ft.data.family_models(family_id) / str(version)
        document = {
            **manifest,
            "familyId": family_id,
            "version": version,
            "files": files,
            "createdAt": utcnow().isoformat(),
        }
        (staged / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True))
        fsync_tree(staged)
        os.replace(staged, final)
        fsync_dir(final.parent)
        try:
            with self.ft.db.write() as session:
                row = ModelVersion(
                    family_id=family_id,
                    version=version,
                    status=status,
                    is_active=False,
                    path=str(final),
                    base_sha256=str(manifest.get("baseSha256", "")),
                    adapter_sha256=files[ADAPTER_GGUF],
                    dataset_hash=str(manifest.get("datasetHash", "")),
                    performance_score=scores.get("performanceScore"),
                    baseline_score=scores.get("baselineScore"),
                    safety_score=scores.get("safetyScore"),
                    reason=reason,
                    interactions_used=interactions_used,
                )
                session.add(row)
                session.flush()
                record_event(
                    session,
                    event_type="model_created",
                    family_id=family_id,
                    details={
                        "version": version,
                        "status": status,
                        **{k: v for k, v in scores.items() if v is not None},
                    },
                )
                if activate:
                    self._activate(session, row, event="model_activated")
                else:
                    record_event(
                        session,
                        event_type="model_rejected",
                        family_id=family_id,
                        details={"version": version, "reason": reason or ""},
                    )
                info = VersionInfo.of(row, self.ft.data)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        return info

    def _next_version(self, session: Session, family_id: str) -> int:
        newest = session.exec(
            select(func.max(ModelVersion.version)).where(ModelVersion.family_id == family_id)
        ).one()
        on_disk = [
            int(p.name) for p in self.ft.data.family_models(family_id).glob("*") if p.name.isdigit()
        ]
        return max([newest or 0, *on_disk]) + 1

    def _activate(
        self,
        session: Session,
        row: ModelVersion,
        *,
        event: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Make ``row`` the family's serving version. Refused (ModelFileError) for a version
        that may not serve, or whose adapter is missing or not a regular file."""
        problem = unservable_reason(row, self.ft.config.safety_threshold)
        if problem is not None:
            raise ModelFileError(f"{problem}; it cannot be served")
        try:
            version_file(self.ft.data, row.family_id, row.version, ADAPTER_GGUF)
        except ModelFileError as exc:
            raise ModelFileError(f"{exc}; it cannot be served") from None
        for other in session.exec(
            select(ModelVersion).where(
                ModelVersion.family_id == row.family_id, col(ModelVersion.is_active)
            )
        ):
            other.is_active = False
            other.status = "inactive"
            session.add(other)
        row.is_active = True
        row.status = "active"
        row.activated_at = utcnow()
        session.add(row)
        record_event(
            session,
            event_type=event,
            family_id=row.family_id,
            details={"version": row.version, **(details or {})},
        )

    # -- reading ------------------------------------------------------------------------------

    def versions(self, family_id: str | None = None) -> list[VersionInfo]:
        with self.ft.db.read() as session:
            query = select(ModelVersion).order_by(
                col(ModelVersion.family_id), col(ModelVersion.version)
            )
            if family_id is not None:
                query = query.where(ModelVersion.family_id == family_id)
            return [VersionInfo.of(r, self.ft.data) for r in session.exec(query)]

    def unservable(self, info: VersionInfo) -> str | None:
        """Why this version may not serve under the configured threshold, or None."""
        row = self._row(info)
        if row is None:
            return f"{info.family_id} has no version {info.version}"
        return unservable_reason(row, self.ft.config.safety_threshold)

    def _row(self, info: VersionInfo) -> ModelVersion | None:
        """The version's database row (the authority over its editable manifest)."""
        with self.ft.db.read() as session:
            found: ModelVersion | None = session.exec(
                select(ModelVersion).where(
                    ModelVersion.family_id == info.family_id,
                    ModelVersion.version == info.version,
                )
            ).first()
        return found

    def active(self, family_id: str) -> VersionInfo | None:
        return next((v for v in self.versions(family_id) if v.is_active), None)

    def manifest(self, info: VersionInfo) -> dict[str, Any]:
        path = version_file(self.ft.data, info.family_id, info.version, MANIFEST)
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise ValueError("too large")
            loaded = json.loads(path.read_text())
            if not isinstance(loaded, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, RecursionError) as exc:
            raise ModelFileError(
                f"version {info.version} has no readable manifest: {exc}"
            ) from None
        return loaded

    def verify_files(self, info: VersionInfo) -> None:
        """The adapter matches the sha256 recorded in the database when the version was
        published (the manifest is an editable file, so it is not the authority), and
        every other file named in the manifest exists with its recorded sha256."""
        row = self._row(info)
        if row is None:
            raise NotFound(f"{info.family_id} has no version {info.version}")
        if not row.adapter_sha256:
            raise ModelFileError(
                f"version {info.version} has no recorded sha256 for its {ADAPTER_GGUF}"
            )
        data = self.ft.data
        if version_file_sha256(data, info.family_id, info.version, ADAPTER_GGUF) != (
            row.adapter_sha256
        ):
            raise ModelFileError(
                f"version {info.version}: {ADAPTER_GGUF} does not match its checksum recorded "
                "in the database when it was published (corrupted or changed)"
            )
        manifest = self.manifest(info)
        files = manifest.get("files", {})
        if not isinstance(files, dict) or files.get(ADAPTER_GGUF) != row.adapter_sha256:
            raise ModelFileError(
                f"version {info.version}: its manifest does not match the database "
                "(manifest.json was changed)"
            )
        for name, expected in files.items():
            if name == ADAPTER_GGUF:
                continue
            if version_file_sha256(data, info.family_id, info.version, str(name)) != expected:
                raise ModelFileError(
                    f"version {info.version}: {name} does not match its "
                    "checksum (corrupted or changed)"
                )

    # -- parent actions -----------------------------------------------------------------------

    def rollback(self, family_id: str, to: int | None = None) -> VersionInfo:
        """Activate version ``to``, or the newest kept version older than the active one
        that may serve. A version the gate rejected or whose safety score is below the
        threshold is never activated."""
        threshold = self.ft.config.safety_threshold
        with self.ft.db.write() as session:
            rows = list(
                session.exec(
                    select(ModelVersion)
                    .where(ModelVersion.family_id == family_id)
                    .order_by(col(ModelVersion.version))
                )
            )
            if not rows:
                raise NotFound(f"family {family_id!r} has no model versions")
            current = next((r for r in rows if r.is_active), None)
            if to is None:
                older = [r for r in rows if current is None or r.version < current.version]
                servable = [r for r in older if unservable_reason(r, threshold) is None]
                if not servable:
                    raise FamtuneError(
                        f"{family_id} has no older version that passed the evaluation gate "
                        f"and the safety threshold {threshold} to roll back to"
                    )
                target = servable[-1]
            else:
                found = next((r for r in rows if r.version == to), None)
                if found is None:
                    raise NotFound(f"{family_id} has no version {to}")
                target = found
            self._activate(
                session,
                target,
                event="model_rolled_back",
                details={"from": current.version if current else None},
            )
            return VersionInfo.of(target, self.ft.data)

    def deactivate(self, family_id: str) -> None:
        with self.ft.db.write() as session:
            for row in session.exec(
                select(ModelVersion).where(
                    ModelVersion.family_id == family_id, col(ModelVersion.is_active)
                )
            ):
                row.is_active = False
                row.status = "inactive"
                session.add(row)

    def has_models(self, family_id: str) -> bool:
        """Whether the family has version rows or files in the store."""
        folder = self.ft.data.family_models(family_id)
        with self.ft.db.read() as session:
            row = session.exec(
                select(ModelVersion.id).where(ModelVersion.family_id == family_id)
            ).first()
        return row is not None or folder.is_dir()

    def delete(self, family_id: str) -> int:
        """Remove every version of a family: rows first (one transaction), then files.
        NotFound (and nothing touched) when the family has no models."""
        folder = self.ft.data.family_models(family_id)  # id checked, inside models/
        if not self.has_models(family_id):
            raise NotFound(f"family {family_id!r} has no models")
        with self.ft.db.write() as session:
            rows = list(
                session.exec(select(ModelVersion).where(ModelVersion.family_id == family_id))
            )
            for row in rows:
                session.delete(row)
            record_event(
                session,
                event_type="model_deleted",
                family_id=family_id,
                details={"versions": [r.version for r in rows]},
            )
        if folder.is_symlink():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)
        return len(rows)

    def cleanup(self, family_id: str, keep: int) -> list[int]:
        """Remove the oldest versions beyond ``keep``; the active one is always kept."""
        with self.ft.db.write() as session:
            rows = list(
                session.exec(
                    select(ModelVersion)
                    .where(ModelVersion.family_id == family_id)
                    .order_by(col(ModelVersion.version))
                )
            )
            spare = [r for r in rows if not r.is_active]
            removed = spare[: max(0, len(rows) - max(1, keep))]
            for row in removed:
                session.delete(row)
        for row in removed:
            shutil.rmtree(self.ft.data.version_dir(row.family_id, row.version), ignore_errors=True)
        return [r.version for r in removed]

    def recover(self) -> list[Path]:
        """After a crash or power cut: remove staging leftovers and version directories no
        row refers to, and mark training runs that never finished as ``interrupted``.

        Only while nobody trains (the data directory's training lock is free): a live
        training job's staging directory is not a leftover."""
        lock = training_lock(self.ft.data.root)
        if not lock.try_acquire():
            return []
        try:
            self._close_interrupted_runs()
            return self._remove_unreferenced()
        finally:
            lock.release()

    def _close_interrupted_runs(self) -> None:
        with self.ft.db.write() as session:
            for run in session.exec(select(TrainingRun).where(TrainingRun.status == "running")):
                run.status, run.finished_at = "interrupted", utcnow()
                run.error = "stopped before it finished (the device restarted or crashed)"
                session.add(run)

    def _remove_unreferenced(self) -> list[Path]:
        root = self.ft.data.models_dir
        if not root.is_dir():
            return []
        with self.ft.db.read() as session:
            known = {
                self.ft.data.version_dir(r.family_id, r.version)
                for r in session.exec(select(ModelVersion))
            }
        removed: list[Path] = []
        for family_dir in root.iterdir():
            if family_dir.is_symlink() or not family_dir.is_dir():
                continue  # a planted link is never followed, let alone emptied
            for entry in family_dir.iterdir():
                if entry.is_dir() and not entry.is_symlink() and (
                    entry.name.startswith(STAGING_PREFIX)
                    or (entry.name.isdigit() and entry not in known)
                ):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
        return removed
