"""The way back from a forgotten parental PIN: a one-time recovery code.

When a parent sets the PIN they are shown a recovery code once (16 letters and digits in
four groups, about 78 bits, from an alphabet without look-alikes such as O/0 and I/1). Only
its scrypt hash is kept, in the ``setting`` table under :data:`RECOVERY_KEY`, so nothing new
is added to the schema. Giving the code lets a parent set a new PIN without the old one; the
code is then used up and a new one is issued (and shown) in the same transaction.

Wrong codes cost what wrong PINs cost (:mod:`engine.domain.pin`): from the third on, a growing wait,
and after ten a one-hour lockout, counted in the database so they survive a restart, kept
apart from the PIN's own counter. Every wrong code is audited (``pin_recovery_failed``), and
so is a lockout (``pin_lockout``, with ``"via": "recoveryCode"``) and each recovery
(``pin_recovered``).

:func:`reset_pin` is the owner's path when the code is lost too: the device's owner (root, or
the data directory's owner, from a shell) clears the PIN; the app then asks for a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from engine.base.errors import FamtuneError, ValidationFailed
from engine.db.tables import ParentalPin, Setting, utcnow
from engine.domain import audit
from engine.domain import pin as parental
from engine.domain.audit_anchor import PIN_CHANGED

RECOVERY_KEY = "pin_recovery"
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
GROUPS, GROUP_LEN = 4, 4
CODE_RE = re.compile(f"[{ALPHABET}]{{{GROUPS * GROUP_LEN}}}")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
KDF = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}"


@dataclass(frozen=True)
class Recovery:
    """The answer to one recovery try: ``new_code`` is set (and must be shown) when it worked."""

    ok: bool
    failures: int
    retry_after_s: int
    locked_out: bool
    message: str
    new_code: str | None = None


def new_recovery_code() -> str:
    """A fresh code, ``ABCD-EFGH-JKMN-PQRS`` style (nothing is stored)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN))
    return "-".join(raw[i : i + GROUP_LEN] for i in range(0, len(raw), GROUP_LEN))


def normalize_code(code: str) -> str:
    """What the parent typed without spaces, dashes or case; '' when it cannot be a code."""
    cleaned = re.sub(r"[\s\-]+", "", code or "").upper()
    return cleaned if CODE_RE.fullmatch(cleaned) else ""


def _hash(code: str, salt: bytes, kdf: str) -> bytes:
    name, n, r, p = kdf.split("$")
    if name != "scrypt":
        raise FamtuneError(f"the stored recovery code uses an unknown hash ({name})")
    return hashlib.scrypt(
        code.encode(), salt=salt, n=int(n), r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=32
    )


def _state(session: Session) -> dict[str, Any] | None:
    row = session.get(Setting, RECOVERY_KEY)
    if row is None:
        return None
    try:
        state = json.loads(row.value)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("hash") else None


def _save(session: Session, state: dict[str, Any]) -> None:
    row = session.get(Setting, RECOVERY_KEY) or Setting(key=RECOVERY_KEY, value="{}")
    row.value = json.dumps(state, sort_keys=True)
    session.add(row)


def has_recovery_code(session: Session) -> bool:
    return _state(session) is not None


def set_recovery_code(session: Session, code: str) -> None:
    """Keep the hash of ``code`` (replacing any earlier code, resetting its counter)."""
    cleaned = normalize_code(code)
    if not cleaned:
        raise ValidationFailed("recoveryCode", "a recovery code is 16 letters and digits")
    salt = os.urandom(16)
    _save(
        session,
        {
            "kdf": KDF,
            "salt": salt.hex(),
            "hash": _hash(cleaned, salt, KDF).hex(),
            "failures": 0,
            "lockedUntil": None,
            "lockedOut": False,
        },
    )


def issue_recovery_code(session: Session) -> str:
    """A new code, stored as a hash; return it so it can be shown once."""
    code = new_recovery_code()
    set_recovery_code(session, code)
    return code


def _waiting(state: dict[str, Any], now: datetime) -> Recovery | None:
    until = state.get("lockedUntil")
    if not until:
        return None
    locked_until = datetime.fromisoformat(until)
    if locked_until <= now:
        return None
    failures = int(state.get("failures", 0))
    # Never longer than the wait's own length, whatever the clock did since (set back).
    longest = parental.LOCKOUT.total_seconds() if state.get("lockedOut") else \
        parental._wait_s(failures)  # fmt: skip
    left = math.ceil(min((locked_until - now).total_seconds(), longest))
    if state.get("lockedOut"):
        minutes = math.ceil(left / 60)
        message = (
            "Recovery is locked after too many wrong codes. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return Recovery(False, failures, left, True, message)
    message = f"Too many wrong codes. Try again in {left} second{'s' if left != 1 else ''}."
    return Recovery(False, failures, left, False, message)


def _set_new_pin(session: Session, new_pin: str, now: datetime) -> None:
    row = session.get(ParentalPin, 1) or ParentalPin(id=1)
    session.info[PIN_CHANGED] = True  # the audit anchor follows this write's PIN row
    salt = os.urandom(parental.SALT_BYTES)
    row.salt, row.kdf = salt, parental.KDF
    row.pin_hash = parental._kdf(new_pin, salt, parental.KDF)
    row.failures, row.locked_until, row.locked_out = 0, None, False
    row.updated_at = now
    session.add(row)


def recover_pin(
    session: Session, code: str, new_pin: str, *, now: datetime | None = None
) -> Recovery:
    """Set ``new_pin`` if ``code`` is this device's recovery code. Call inside
    ``Database.write()`` and let it commit even when the answer is no (the counter)."""
    parental.validate_pin(new_pin)
    state = _state(session)
    if state is None:
        raise FamtuneError(
            "no recovery code is stored on this device; the device's owner can reset the PIN "
            "(see the README)"
        )
    now = now or utcnow()
    refused = _waiting(state, now)
    if refused is not None:
        return refused
    cleaned = normalize_code(code)
    candidate = _hash(cleaned, bytes.fromhex(state["salt"]), state["kdf"])  # same cost always
    if cleaned and hmac.compare_digest(candidate, bytes.fromhex(state["hash"])):
        _set_new_pin(session, new_pin, now)
        fresh = issue_recovery_code(session)
        audit.record_event(session, event_type="pin_recovered", actor="parent")
        return Recovery(True, 0, 0, False, "New PIN set.", new_code=fresh)
    failures = int(state.get("failures", 0)) + 1
    wait = parental._wait_s(failures)
    locked = failures >= parental.LOCKOUT_AFTER
    if locked:
        wait = int(parental.LOCKOUT.total_seconds())
    state.update(
        failures=failures,
        lockedOut=locked,
        lockedUntil=(now + timedelta(seconds=wait)).isoformat() if wait else None,
    )
    _save(session, state)
    audit.record_event(
        session,
        event_type="pin_recovery_failed",
        actor="parent",
        details={"failures": failures, "retryAfterS": wait},
    )
    if locked:
        audit.record_event(
            session,
            event_type="pin_lockout",
            actor="parent",
            details={"failures": failures, "lockedForS": wait, "via": "recoveryCode"},
        )
        message = "Wrong recovery code. Too many wrong codes: recovery is locked for 1 hour."
    elif wait:
        message = f"Wrong recovery code. Wait {wait} second{'s' if wait != 1 else ''}."
    else:
        left = parental.FREE_TRIES - failures
        message = (
            f"Wrong recovery code. {left} {'try' if left == 1 else 'tries'} left before a wait."
        )
    return Recovery(False, failures, wait, locked, message)


def reset_pin(session: Session, *, actor: str = "owner") -> bool:
    """The owner's last resort: clear the PIN and the recovery code (audited ``pin_reset``).
    Returns whether a PIN was set. The app asks for a new PIN at the Parents gate."""
    row = session.get(ParentalPin, 1)
    was_set = row is not None and row.pin_hash is not None
    session.info[PIN_CHANGED] = True  # the audit anchor follows the removed PIN row
    if row is not None:
        session.delete(row)
    recovery = session.get(Setting, RECOVERY_KEY)
    if recovery is not None:
        session.delete(recovery)
    audit.record_event(session, event_type="pin_reset", actor=actor, details={"wasSet": was_set})
    return was_set
