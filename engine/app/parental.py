"""Parental actions: the PIN, its recovery code, the kiosk exit and the audit trail."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.base.errors import FamtuneError
from engine.db.tables import AuditEvent
from engine.domain import audit, pin_recovery
from engine.domain import pin as parental
from engine.domain.audit import EVENT_TYPES as AUDIT_EVENT_TYPES
from engine.domain.audit import ChainReport
from engine.domain.home import Famtune
from engine.domain.pin import PinCheck, PinRejected, validate_pin
from engine.domain.pin_recovery import Recovery

__all__ = [
    "AUDIT_EVENT_TYPES",
    "AuditEvent",
    "ChainReport",
    "PinCheck",
    "PinRejected",
    "PinReset",
    "Recovery",
    "audit_trail",
    "check_pin",
    "fresh_recovery_code",
    "has_recovery_code",
    "kiosk_exit",
    "list_audit",
    "new_recovery_code",
    "pin_is_set",
    "recover_pin",
    "require_pin",
    "reset_pin",
    "set_pin",
    "set_pin_with_code",
    "validate_pin",
    "verify_audit",
]


@dataclass(frozen=True)
class PinReset:
    """The PIN and its recovery code were cleared; ``was_set``: whether a PIN was set."""

    was_set: bool


def pin_is_set(ft: Famtune) -> bool:
    with ft.db.read() as session:
        return parental.pin_is_set(session)


def require_pin(ft: Famtune, *, pin: str | None, purpose: str) -> None:
    """Allow a protected change, or raise PinRequired / PinRejected (no PIN set: allowed). A
    wrong PIN is counted and audited in its own transaction before the error is raised."""
    with ft.db.write() as session:
        parental.require_pin(session, pin, purpose=purpose)


def check_pin(ft: Famtune, pin: str, now: datetime | None = None) -> PinCheck:
    with ft.db.write() as session:
        return parental.check_pin(session, pin, now=now)


def set_pin(
    ft: Famtune, new_pin: str, current_pin: str | None, now: datetime | None = None
) -> bool:
    """Set (True) or change (False) the parental PIN; changing it needs the current one."""
    with ft.db.write() as session:
        return parental.set_pin(session, new_pin, current_pin=current_pin, now=now)


def set_pin_with_code(ft: Famtune, new_pin: str, now: datetime) -> str:
    """Set the first PIN and issue its recovery code (returned, to be shown once)."""
    with ft.db.write() as session:
        parental.set_pin(session, new_pin, current_pin=None, now=now)
        return pin_recovery.issue_recovery_code(session)


def fresh_recovery_code() -> str:
    """A code to show before the first PIN is set (first-run setup): nothing is stored here;
    :func:`engine.app.families.create_family` stores its hash with the PIN."""
    return pin_recovery.new_recovery_code()


def new_recovery_code(ft: Famtune, pin: str | None = None) -> str:
    """A new recovery code for the PIN, replacing the old one. The GUI asks after its PIN
    gate opened; ``pin`` (the CLI) is checked here, in the same transaction."""
    with ft.db.write() as session:
        if not parental.pin_is_set(session):
            raise FamtuneError("Set a parental PIN first.")
        if pin is not None:
            parental.require_pin(session, pin, purpose="make a new recovery code")
        return pin_recovery.issue_recovery_code(session)


def has_recovery_code(ft: Famtune) -> bool:
    with ft.db.read() as session:
        return pin_recovery.has_recovery_code(session)


def recover_pin(
    ft: Famtune, code: str, new_pin: str, now: datetime | None = None
) -> Recovery:
    with ft.db.write() as session:
        return pin_recovery.recover_pin(session, code, new_pin, now=now)


def kiosk_exit(ft: Famtune, pin: str, now: datetime) -> PinCheck:
    """Check the PIN; when it is right, audit ``kiosk_exit`` in the same transaction."""
    with ft.db.write() as session:
        result = parental.check_pin(session, pin, now=now)
        if result.ok:
            audit.record_event(session, event_type="kiosk_exit", actor="parent")
    return result


def list_audit(
    ft: Famtune, event_type: str | None, limit: int = 200, *, family_id: str | None = None
) -> list[AuditEvent]:
    with ft.db.read() as session:
        return audit.list_events(
            session, event_type=event_type, family_id=family_id, limit=limit
        )


def verify_audit(ft: Famtune) -> ChainReport:
    with ft.db.read() as session:
        return audit.verify_chain(session)


def audit_trail(
    ft: Famtune,
    *,
    event_type: str | None = None,
    family_id: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Audit events, newest first, in the CLI's JSON shape (CLI.md, ``audit list``)."""
    return [audit.event_json(e) for e in list_audit(ft, event_type, limit, family_id=family_id)]


def reset_pin(ft: Famtune, *, euid: int | None = None) -> PinReset:
    """The device owner's last resort: clear the PIN and its recovery code (audited). Only
    root or the owner of the data directory (``euid``, default: this process's) may."""
    owner = ft.data.root.stat().st_uid
    if (os.geteuid() if euid is None else euid) not in (0, owner):
        raise FamtuneError("only root or the owner of the data directory may reset the PIN")
    with ft.db.write() as session:
        return PinReset(pin_recovery.reset_pin(session))
