"""The audit trail: an append-only hash chain of what happened to families, models and PINs.

Every :class:`~engine.db.tables.AuditEvent` stores ``prev_hash`` (the previous event's hash,
64 zeros for the first) and ``hash`` = sha256 of a canonical JSON of
``(id, created_at, event_type, family_id, actor, details, prev_hash)``. Ids are consecutive
from 1, and the head of the chain (last id and hash) is kept in the ``setting`` table under
``audit.head``, updated in the same transaction as the append. :func:`verify_chain` therefore
notices an edited row (its hash no longer matches), a deleted row in the middle (a gap in
the ids and a broken link), a deleted last row (the head no longer matches) and two rows
whose contents were swapped (the id is part of the hash).

The chain makes tampering *evident*, not impossible: somebody who can write the database
file can also recompute every hash. It guards against quiet edits, accidents and partial
restores, which is what a family appliance needs from it.

Personal data and erasure. Audit details carry no names and no free text: families appear by
id and members only as a salted hash (:func:`member_ref`; the salt is a random secret in the
``setting`` table). Erasing a family or member must leave nothing behind, yet must not break
the chain. :func:`pseudonymize_family` and :func:`pseudonymize_member` do this in the erase
transaction: they replace the family id (and the member references) in the affected events
with ``erased-<8 hex>`` pseudonyms made with a random salt that is thrown away, so nobody can
link them back, and re-seal the chain from the first changed event onward. The erase event
that follows records which events were re-sealed. This is the only path that rewrites audit
rows, and it re-seals only a chain that verified intact beforehand: if the chain was already
broken, the rows are still pseudonymized but not re-sealed, so the evidence of the earlier
tampering survives the erase.

:func:`record_event` must be called inside ``Database.write()``: the write lock and
``BEGIN IMMEDIATE`` serialize appends, so two writers never extend the chain from the same head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from engine.db.tables import AuditEvent, Setting, utcnow
from engine.domain import audit_anchor

GENESIS_HASH = "0" * 64
HEAD_KEY = "audit.head"
MEMBER_SALT_KEY = "audit.member_salt"
_BATCH = 1000

EVENT_TYPES: tuple[str, ...] = (
    "safety_block",  # the validator refused an item or answer for a family
    "settings_changed",  # a family's parental (safety) settings changed
    "profile_imported",  # a new family profile was stored
    "family_created",  # a new family was set up in the app (first run or "New family")
    "profile_updated",  # an existing profile was replaced without changing safety settings
    "family_deleted",  # ``family delete``: the family and its rows were removed
    "pin_set",  # the parental PIN was set for the first time
    "pin_changed",  # the parental PIN was changed (the current one was given)
    "pin_failed",  # a wrong PIN was entered
    "pin_lockout",  # too many wrong PINs: the PIN is locked for an hour
    "pin_recovered",  # a new PIN was set with the recovery code
    "pin_recovery_failed",  # a wrong recovery code was entered
    "pin_reset",  # the device's owner cleared the PIN from a shell
    "model_created",  # a family model version was trained and stored
    "model_activated",  # a model version became the family's active model
    "model_rejected",  # a trained version failed validation and was not activated
    "model_rolled_back",  # the active model went back to an earlier version
    "model_deleted",  # a model version (or all of a family's) was deleted
    "data_exported",  # everything stored about a family was exported
    "data_erased",  # a family's or a member's data was erased
    "kiosk_exit",  # somebody left kiosk mode with the PIN
    "backup_created",  # a backup archive of the data directory was written
    "data_restored",  # this data directory was restored from a backup
    "catalog_changed",  # custom activities were added, replaced or removed
)


@dataclass(frozen=True)
class ChainReport:
    """The result of :func:`verify_chain`. ``first_bad_id`` names the first bad event."""

    ok: bool
    events_checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    head_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "eventsChecked": self.events_checked,
            "firstBadId": self.first_bad_id,
            "reason": self.reason,
            "headId": self.head_id,
        }

    @property
    def message(self) -> str:
        if self.ok:
            return f"audit chain ok ({self.events_checked} events)"
        return f"audit chain broken at event {self.first_bad_id}: {self.reason}"


@dataclass(frozen=True)
class ResealReport:
    """What a pseudonymization changed: the pseudonym, rows re-keyed and rows re-sealed."""

    pseudonym: str
    events_rekeyed: int
    resealed_from: int | None
    events_resealed: int
    chain_was_intact: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "eventsRekeyed": self.events_rekeyed,
            "resealedFrom": self.resealed_from,
            "eventsResealed": self.events_resealed,
            "chainWasIntact": self.chain_was_intact,
        }


# -- hashing --------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def compute_hash(event: AuditEvent) -> str:
    """sha256 over the canonical JSON of the event's contents and its link."""
    document = {
        "id": event.id,
        "created_at": _iso(event.created_at),
        "event_type": event.event_type,
        "family_id": event.family_id,
        "actor": event.actor,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical_json(document).encode()).hexdigest()


def _read_head(session: Session) -> tuple[int, str] | None:
    row = session.get(Setting, HEAD_KEY)
    if row is None:
        return None
    try:
        doc = json.loads(row.value)
        return int(doc["id"]), str(doc["hash"])
    except (ValueError, KeyError, TypeError):
        return (-1, "")  # unreadable: verify_chain reports it as not matching


def _write_head(session: Session, event_id: int, digest: str) -> None:
    value = json.dumps({"id": event_id, "hash": digest})
    row = session.get(Setting, HEAD_KEY)
    if row is None:
        row = Setting(key=HEAD_KEY, value=value)
    row.value = value
    session.add(row)


def _last_event(session: Session) -> AuditEvent | None:
    return session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()


# -- writing --------------------------------------------------------------------------------


def record_event(
    session: Session,
    *,
    event_type: str,
    family_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    actor: str = "system",
) -> AuditEvent:
    """Append one event to the chain. Call inside ``Database.write()``.

    ``details`` must be JSON (no NaN) and must not hold names or free text; refer to members
    with :func:`member_ref`. The new event links to the recorded head, so an event deleted
    from the end before this append still shows up as a gap.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {event_type!r}")
    clean: dict[str, Any] = json.loads(_canonical_json(dict(details or {})))
    last = _last_event(session)
    last_id = last.id if last is not None and last.id is not None else 0
    head = _read_head(session)
    if head is not None:
        head_id, prev_hash = head
    elif last is not None:
        head_id, prev_hash = last_id, last.hash
    else:
        head_id, prev_hash = 0, GENESIS_HASH
    event = AuditEvent(
        id=max(head_id, last_id) + 1,
        created_at=utcnow(),
        event_type=event_type,
        family_id=family_id,
        actor=actor[:40],
        details=clean,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = compute_hash(event)
    session.add(event)
    assert event.id is not None
    _write_head(session, event.id, event.hash)
    session.flush()
    return event


def member_ref(session: Session, *, family_id: str, member_id: str) -> str:
    """A stable, salted reference to a member for audit details (never the member id)."""
    row = session.get(Setting, MEMBER_SALT_KEY)
    if row is None:
        row = Setting(key=MEMBER_SALT_KEY, value=os.urandom(16).hex())
        session.add(row)
        session.flush()
    return _member_ref(bytes.fromhex(row.value), family_id, member_id)


def _member_ref(salt: bytes, family_id: str, member_id: str) -> str:
    digest = hmac.new(salt, f"{family_id}\x00{member_id}".encode(), hashlib.sha256)
    return "m-" + digest.hexdigest()[:16]


# -- reading --------------------------------------------------------------------------------


def _iter_events(session: Session, start_id: int = 0) -> Iterable[AuditEvent]:
    """Every event with ``id >= start_id`` in id order, a batch at a time."""
    after = start_id - 1
    while True:
        batch = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.id) > after)
            .order_by(col(AuditEvent.id))
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        assert last_id is not None
        after = last_id


def _data_root(session: Session) -> Path | None:
    """The data directory of the database this session reads (None for an in-memory one)."""
    url = session.get_bind().engine.url
    name = url.database if url.drivername.startswith("sqlite") else None
    return Path(name).parent if name and name != ":memory:" else None


def verify_chain(session: Session, *, anchored: bool = True) -> ChainReport:
    """Re-check every event and the recorded head, then (``anchored``) the anchor kept
    outside the database (:mod:`engine.domain.audit_anchor`); name the first bad event."""
    report = _verify_rows(session)
    if not report.ok or not anchored:
        return report
    root = _data_root(session)
    problem = audit_anchor.check(root, session) if root is not None else None
    if problem is None:
        return report
    return ChainReport(
        False, report.events_checked, problem.first_bad_id, problem.reason, report.head_id
    )


def _verify_rows(session: Session) -> ChainReport:
    expected_id, prev_hash, checked = 1, GENESIS_HASH, 0
    last_id = 0

    def broken(event_id: int, reason: str) -> ChainReport:
        return ChainReport(False, checked, event_id, reason, last_id or None)

    for event in _iter_events(session):
        assert event.id is not None
        if event.id != expected_id:
            if event.id > expected_id + 1:
                return broken(event.id, f"events {expected_id} to {event.id - 1} are missing")
            if event.id == expected_id + 1:
                return broken(event.id, f"event {expected_id} is missing")
            return broken(event.id, f"unexpected id (expected {expected_id})")
        if compute_hash(event) != event.hash:
            return broken(event.id, "hash does not match its contents")
        if event.prev_hash != prev_hash:
            return broken(
                event.id,
                "it does not link to the event before it "
                "(an earlier event was changed, removed or reordered)",
            )
        checked += 1
        prev_hash, last_id, expected_id = event.hash, event.id, event.id + 1

    head = _read_head(session)
    if head is None:
        if checked:
            return broken(last_id, "the recorded head of the chain is missing")
        return ChainReport(True, 0)
    head_id, head_hash = head
    if head_id < 0:
        return broken(last_id or 1, "the recorded head of the chain is unreadable")
    if head_id > last_id:
        missing = last_id + 1
        what = (
            f"event {missing} is missing"
            if head_id == missing
            else f"events {missing} to {head_id} are missing"
        )
        return broken(missing, f"{what} (the chain should end at event {head_id})")
    if head_id < last_id:
        return broken(head_id + 1, "it was added after the recorded head of the chain")
    if head_hash != prev_hash:
        return broken(last_id, "it does not match the recorded head of the chain")
    return ChainReport(True, checked, head_id=last_id or None)


def list_events(
    session: Session,
    *,
    event_type: str | None = None,
    family_id: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest events first, optionally of one type and/or about one family."""
    query = select(AuditEvent)
    if event_type is not None:
        query = query.where(AuditEvent.event_type == event_type)
    if family_id is not None:
        query = query.where(AuditEvent.family_id == family_id)
    query = query.order_by(col(AuditEvent.id).desc()).limit(max(0, limit))
    return list(session.exec(query).all())


def event_json(event: AuditEvent) -> dict[str, Any]:
    """An event as camelCase JSON."""
    return {
        "id": event.id,
        "createdAt": _iso(event.created_at),
        "eventType": event.event_type,
        "familyId": event.family_id,
        "actor": event.actor,
        "details": event.details,
        "prevHash": event.prev_hash,
        "hash": event.hash,
    }


# -- erasure --------------------------------------------------------------------------------


def _erased_pseudonym(value: str, salt: bytes) -> str:
    return "erased-" + hashlib.sha256(salt + value.encode()).hexdigest()[:8]


def _replace(value: Any, exact: Mapping[str, str], inside: Mapping[str, str]) -> Any:
    """``value`` with every string equal to a key of ``exact`` replaced, and every key of
    ``inside`` replaced wherever it occurs within a string (dict keys included)."""
    if isinstance(value, str):
        if value in exact:
            return exact[value]
        for old, new in inside.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace(v, exact, inside) for v in value]
    if isinstance(value, dict):
        return {_replace(k, exact, inside): _replace(v, exact, inside) for k, v in value.items()}
    return value


def _rekey(
    session: Session,
    *,
    family_id: str,
    new_family_id: str | None,
    exact: Mapping[str, str],
    inside: Mapping[str, str],
    exact_everywhere: Mapping[str, str],
    pseudonym: str,
) -> ResealReport:
    """Rewrite the events about ``family_id`` (strings equal to a key of ``exact``, or holding a
    key of ``inside``) and strings equal to a key of ``exact_everywhere`` in any event, then
    re-seal the chain from the first changed event."""
    intact = verify_chain(session).ok
    conditions: list[Any] = [col(AuditEvent.family_id) == family_id]
    if exact_everywhere:
        conditions.append(col(AuditEvent.actor).in_(list(exact_everywhere)))
        conditions += [func.instr(col(AuditEvent.details), n) > 0 for n in exact_everywhere]
    candidates = session.exec(
        select(AuditEvent).where(or_(*conditions)).order_by(col(AuditEvent.id))
    ).all()
    changed: list[int] = []
    for event in candidates:
        ours = event.family_id == family_id
        exact_here = {**exact_everywhere, **exact} if ours else exact_everywhere
        inside_here = inside if ours else {}
        details = _replace(event.details, exact_here, inside_here)
        actor = _replace(event.actor, exact_here, inside_here)
        fid = new_family_id if ours and new_family_id is not None else event.family_id
        if details == event.details and actor == event.actor and fid == event.family_id:
            continue
        event.details, event.actor, event.family_id = details, actor, fid
        session.add(event)
        assert event.id is not None
        changed.append(event.id)
    session.flush()
    if not changed:
        return ResealReport(pseudonym, 0, None, 0, intact)
    if not intact:
        return ResealReport(pseudonym, len(changed), None, 0, False)
    session.info[audit_anchor.RESEALED] = True  # the anchor may follow the re-sealed chain
    start = min(changed)
    before = session.get(AuditEvent, start - 1)
    prev_hash = before.hash if before is not None else GENESIS_HASH
    resealed, last = 0, None
    for event in _iter_events(session, start):
        event.prev_hash = prev_hash
        event.hash = compute_hash(event)
        session.add(event)
        prev_hash, last, resealed = event.hash, event, resealed + 1
        if resealed % _BATCH == 0:
            session.flush()
    if last is not None and last.id is not None:
        _write_head(session, last.id, last.hash)
    session.flush()
    return ResealReport(pseudonym, len(changed), start, resealed, True)


def _member_salt(session: Session) -> bytes | None:
    row = session.get(Setting, MEMBER_SALT_KEY)
    return bytes.fromhex(row.value) if row is not None else None


def pseudonymize_family(
    session: Session, *, family_id: str, member_ids: Iterable[str] = ()
) -> ResealReport:
    """Replace a family's id and its members' references in the audit trail with unlinkable
    pseudonyms and re-seal the chain (see the module docstring). Call inside the erase's
    ``Database.write()``, before recording the ``data_erased`` event."""
    salt = os.urandom(16)
    pseudonym = _erased_pseudonym(family_id, salt)
    inside = {family_id: pseudonym}
    member_salt = _member_salt(session)
    for member_id in member_ids:
        replacement = _erased_pseudonym(f"{family_id}\x00{member_id}", salt)
        if member_salt is not None:
            inside[_member_ref(member_salt, family_id, member_id)] = replacement
    return _rekey(
        session,
        family_id=family_id,
        new_family_id=pseudonym,
        exact={},
        inside=inside,
        exact_everywhere={family_id: pseudonym},
        pseudonym=pseudonym,
    )


def pseudonymize_member(session: Session, *, family_id: str, member_id: str) -> ResealReport:
    """Replace one member's references in the family's audit events with an unlinkable
    pseudonym and re-seal the chain. The family id itself stays."""
    salt = os.urandom(16)
    pseudonym = _erased_pseudonym(f"{family_id}\x00{member_id}", salt)
    inside: dict[str, str] = {}
    member_salt = _member_salt(session)
    if member_salt is not None:
        inside[_member_ref(member_salt, family_id, member_id)] = pseudonym
    return _rekey(
        session,
        family_id=family_id,
        new_family_id=None,
        exact={member_id: pseudonym},
        inside=inside,
        exact_everywhere={},
        pseudonym=pseudonym,
    )
