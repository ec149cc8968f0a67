"""Parental actions: the PIN, its recovery code, the kiosk exit and the audit trail."""

from __future__ import annotations

from datetime import datetime

from engine.base.errors import FamtuneError
from engine.db.tables import AuditEvent
from engine.domain import audit, pin_recovery
from engine.domain import pin as parental
from engine.domain.home import Famtune
from engine.domain.pin import PinCheck


def pin_is_set(ft: Famtune) -> bool:
    with ft.db.read() as session:
        return parental.pin_is_set(session)


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
) -> pin_recovery.Recovery:
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


def verify_audit(ft: Famtune) -> audit.ChainReport:
    with ft.db.read() as session:
        return audit.verify_chain(session)
