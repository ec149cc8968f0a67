"""Data rights (COPPA / GDPR): export everything stored about a family, erase a family or a
member, and back up / restore the whole data directory.

Erasure leaves no row that names the erased family or member: their rows are deleted, their
model files removed, operational log lines that mention the family are redacted, and their
audit events are re-keyed to unlinkable pseudonyms with the chain re-sealed (see
:mod:`engine.domain.audit` for why and how). Erasing a member also removes the family's model
versions: every adapter may have learned from that member's interactions and cannot unlearn
them, so the family's next training run starts again from the interactions that remain.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_camel
from sqlalchemy import text
from sqlmodel import Session, SQLModel, col, delete, select

from engine.base.errors import FamtuneError, NotFound
from engine.db.tables import (
    Family,
    Interaction,
    MetricSample,
    ModelVersion,
    TrainingRun,
    utcnow,
)
from engine.domain import audit, families
from engine.domain import pin as parental

if TYPE_CHECKING:
    from engine.domain.home import Famtune

EXPORT_FORMAT = "famtune-family-export"
# Rows erase removes by name, or that go with the family row (ON DELETE CASCADE).
_HANDLED_TABLES = {
    "audit_event",
    "family",
    "member",
    "family_preferences",
    "safety_settings",
    "time_restriction",
    "interaction",
    "model_version",
    "training_run",
    "metric_sample",
}


# -- export ---------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _row_json(row: SQLModel, skip: tuple[str, ...] = ("family_id",)) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.model_dump().items():
        if name in skip or isinstance(value, bytes):
            continue
        out[to_camel(name)] = _iso(value) if isinstance(value, datetime) else value
    return out


def _files_under(root: Path, base: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    return [
        {"path": str(p.relative_to(base)), "sizeBytes": p.stat().st_size}
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


def export_family_data(ft: Famtune, family_id: str) -> dict[str, Any]:
    """Everything stored about a family as camelCase JSON; audited as ``data_exported``."""
    with ft.db.write() as session:
        family = session.get(Family, family_id)
        if family is None:
            raise NotFound(f"no family {family_id!r}")
        profile = families.get_profile(session, family_id=family_id)
        interactions = []
        for row in session.exec(
            select(Interaction)
            .where(Interaction.family_id == family_id)
            .order_by(col(Interaction.id))
        ):
            item = _row_json(row, skip=("family_id", "payload"))
            try:
                item["payload"] = ft.cipher.decrypt_json(row.payload)
            except FamtuneError as exc:
                item["payload"], item["payloadError"] = None, str(exc)
            interactions.append(item)

        def rows(table: Any) -> list[dict[str, Any]]:
            query = select(table).where(table.family_id == family_id).order_by(col(table.id))
            return [_row_json(r) for r in session.exec(query)]

        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "formatVersion": 1,
            "exportedAt": _iso(utcnow()),
            "familyId": family_id,
            "family": _row_json(family, skip=("id",)),
            "profile": profile.to_json(),
            "interactions": interactions,
            "modelVersions": rows(ModelVersion),
            "trainingRuns": rows(TrainingRun),
            "metricSamples": rows(MetricSample),
            "modelFiles": _files_under(ft.data.family_models(family_id), ft.data.root),
            "auditEvents": [
                audit.event_json(e)
                for e in reversed(audit.list_events(session, family_id=family_id, limit=1_000_000))
            ],
        }
        audit.record_event(
            session,
            event_type="data_exported",
            family_id=family_id,
            actor="parent",
            details={
                "interactions": len(interactions),
                "modelVersions": len(document["modelVersions"]),
                "auditEvents": len(document["auditEvents"]),
            },
        )
    return document


# -- erase ----------------------------------------------------------------------------------


def _delete(session: Session, table: Any, *conditions: Any) -> int:
    result = session.exec(delete(table).where(*conditions))
    return int(result.rowcount or 0)


def _other_family_tables(session: Session) -> list[str]:
    """Tables (beyond the ones erase handles by name) that have a ``family_id`` column."""
    conn = session.connection()
    names = [
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    found = []
    for name in names:
        if name in _HANDLED_TABLES:
            continue
        columns = {r[1] for r in conn.exec_driver_sql(f'PRAGMA table_info("{name}")')}
        if "family_id" in columns:
            found.append(name)
    return found


def _family_dirs(ft: Famtune, family_id: str) -> list[Path]:
    """Every folder derived from the family's data: its models, the training job's work
    folder (tokenized sessions, a stopped run's checkpoint) and checkpoints. Each is checked
    to lie inside the data directory (:meth:`engine.base.paths.DataDir.family_dirs`)."""
    return ft.data.family_dirs(family_id)


def _remove_dirs(paths: list[Path]) -> int:
    removed = 0
    for path in paths:
        if path.is_symlink():
            path.unlink()  # a link is removed, never followed
            continue
        if not path.exists():
            continue
        removed += sum(1 for p in path.rglob("*") if p.is_file())
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise FamtuneError(
                f"the data was erased from the database, but {path} could not "
                f"be removed ({exc.strerror}); remove it by hand"
            ) from None
    return removed


def _drop_member(value: Any, member_id: str) -> Any:
    if isinstance(value, list):
        return [_drop_member(v, member_id) for v in value if v != member_id]
    if isinstance(value, dict):
        return {
            k: (None if v == member_id else _drop_member(v, member_id)) for k, v in value.items()
        }
    return value


def erase_family_data(
    ft: Famtune,
    family_id: str,
    member_id: str | None = None,
    *,
    pin: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Erase a member (interactions, profile entry, the family's models) or, without
    ``member_id``, a whole family. Needs the parental PIN when one is set. Returns counts."""
    with ft.db.read() as session:
        if not families.family_exists(session, family_id=family_id):
            raise NotFound(f"no family {family_id!r}")
    with ft.db.write() as session:
        parental.require_pin(session, pin, purpose="erase data", now=now)
    dirs = _family_dirs(ft, family_id)
    with ft.db.write() as session:
        if member_id is None:
            summary = _erase_family(session, family_id)
        else:
            summary = _erase_member(ft, session, family_id, member_id)
    summary["files"] = _remove_dirs(dirs)
    return summary


def _erase_family(session: Session, family_id: str) -> dict[str, Any]:
    profile = families.get_profile(session, family_id=family_id)
    summary: dict[str, Any] = {
        "familyId": family_id,
        "scope": "family",
        "members": len(profile.members),
        "interactions": _delete(session, Interaction, Interaction.family_id == family_id),
        "modelVersions": _delete(session, ModelVersion, ModelVersion.family_id == family_id),
        "trainingRuns": _delete(session, TrainingRun, TrainingRun.family_id == family_id),
        "metricSamples": _delete(session, MetricSample, MetricSample.family_id == family_id),
    }
    conn = session.connection()
    other = 0
    for table in _other_family_tables(session):
        other += int(
            conn.exec_driver_sql(
                f'DELETE FROM "{table}" WHERE family_id = ?', (family_id,)
            ).rowcount
            or 0
        )
    family = session.get(Family, family_id)
    if family is not None:
        session.delete(family)  # cascades to members, preferences and safety settings
    session.flush()
    resealed = audit.pseudonymize_family(
        session, family_id=family_id, member_ids=[m.user_id for m in profile.members]
    )
    pseudonym = resealed.pseudonym
    conn.execute(
        text(
            "UPDATE event_log SET message = replace(message, :fid, :alias) "
            "WHERE instr(message, :fid) > 0"
        ),
        {"fid": family_id, "alias": pseudonym},
    )
    conn.execute(
        text("DELETE FROM setting WHERE instr(key, :fid) > 0 AND key NOT LIKE 'audit.%'"),
        {"fid": family_id},
    )
    summary["otherRows"] = other
    summary["auditEventsPseudonymized"] = resealed.events_rekeyed
    audit.record_event(
        session,
        event_type="data_erased",
        family_id=pseudonym,
        actor="parent",
        details={k: v for k, v in summary.items() if k != "familyId"}
        | {"auditResealed": resealed.to_json()},
    )
    return summary


def _erase_member(ft: Famtune, session: Session, family_id: str, member_id: str) -> dict[str, Any]:
    profile = families.get_profile(session, family_id=family_id)
    if profile.member(member_id) is None:
        raise NotFound(f"family {family_id!r} has no member {member_id!r}")
    if len(profile.members) == 1:
        raise FamtuneError(
            f"{member_id} is the only member of {family_id}; a family needs at "
            f"least one member, so erase the whole family instead "
            f"('famtune-engine data erase {family_id}')"
        )
    interactions = _delete(
        session, Interaction, Interaction.family_id == family_id, Interaction.member_id == member_id
    )
    redacted = 0
    for row in session.exec(select(Interaction).where(Interaction.family_id == family_id)):
        try:
            payload = ft.cipher.decrypt_json(row.payload)
        except FamtuneError:
            continue
        cleaned = _drop_member(payload, member_id)
        if cleaned != payload:
            row.payload = ft.cipher.encrypt_json(cleaned)
            session.add(row)
            redacted += 1
    models = _delete(session, ModelVersion, ModelVersion.family_id == family_id)
    remaining = [m for m in profile.members if m.user_id != member_id]
    families.save_profile(
        session, profile=profile.model_copy(update={"members": remaining}), actor="parent"
    )
    resealed = audit.pseudonymize_member(session, family_id=family_id, member_id=member_id)
    summary: dict[str, Any] = {
        "familyId": family_id,
        "scope": "member",
        "members": 1,
        "interactions": interactions,
        "interactionsRedacted": redacted,
        "modelVersions": models,
        "auditEventsPseudonymized": resealed.events_rekeyed,
    }
    audit.record_event(
        session,
        event_type="data_erased",
        family_id=family_id,
        actor="parent",
        details={k: v for k, v in summary.items() if k != "familyId"}
        | {"member": resealed.pseudonym, "auditResealed": resealed.to_json()},
    )
    return summary


# -- backup and restore: engine.domain.backup ------------------------------------------------------

from engine.domain.backup import backup, check_backup, restore  # noqa: E402  (the data-rights API)

__all__ = ["backup", "check_backup", "erase_family_data", "export_family_data", "restore"]
