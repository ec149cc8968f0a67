"""The parental PIN: what protects safety settings, data erasure and leaving kiosk mode.

A PIN is 4 to 8 digits. It is stored only as a memory-hard hash (scrypt, n=2**14, r=8, p=1,
a random 16-byte salt; the parameters are kept in ``ParentalPin.kdf`` as
``scrypt$16384$8$1`` so they can be raised later) and compared in constant time.

Wrong PINs, and what they cost (the counter is in the database, so it survives restarts):

- the first :data:`FREE_TRIES` - 1 wrong PINs cost nothing;
- from the :data:`FREE_TRIES`-th on, each wrong PIN makes the next try wait
  ``2 ** (failures - 3)`` seconds, at most :data:`MAX_WAIT_S` (1 s, 2 s, 4 s ... 60 s);
- the :data:`LOCKOUT_AFTER`-th wrong PIN locks the PIN for :data:`LOCKOUT` (one hour), and
  every wrong PIN after that locks it for another hour, until the right PIN is given.

While a wait or a lockout is running, tries are refused without being checked or counted. A
wait or lockout never lasts longer than its own length, even when the wall clock is set back.
The right PIN resets the counter. Every wrong PIN is audited (``pin_failed``), and so is each
lockout (``pin_lockout``). A forgotten PIN cannot be recovered from the device by design.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from engine.base.errors import FamtuneError, ValidationFailed
from engine.db.tables import ParentalPin, utcnow
from engine.domain import audit
from engine.domain.audit_anchor import PIN_CHANGED

PIN_RE = re.compile(r"[0-9]{4,8}")
FREE_TRIES = 3
LOCKOUT_AFTER = 10
MAX_WAIT_S = 60
LOCKOUT = timedelta(hours=1)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
KDF = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}"
SALT_BYTES = 16
HASH_BYTES = 32


@dataclass(frozen=True)
class PinCheck:
    """The answer to one PIN try."""

    ok: bool
    failures: int
    retry_after_s: int
    locked_out: bool
    is_set: bool = True
    message: str = ""


class PinRequired(FamtuneError):
    """A PIN is set and none was given."""


class PinRejected(FamtuneError):
    """The PIN given was wrong, or tries are paused; ``check`` says which."""

    def __init__(self, check: PinCheck) -> None:
        self.check = check
        super().__init__(check.message)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _tries(n: int) -> str:
    return _plural(n, "try", "tries")


def _wait_s(failures: int) -> int:
    if failures < FREE_TRIES:
        return 0
    return int(min(2 ** (failures - FREE_TRIES), MAX_WAIT_S))


def _kdf(pin: str, salt: bytes, kdf: str) -> bytes:
    name, n, r, p = kdf.split("$")
    if name != "scrypt":
        raise FamtuneError(f"the stored PIN uses an unknown hash ({name})")
    return hashlib.scrypt(
        pin.encode(),
        salt=salt,
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024 * 1024,
        dklen=HASH_BYTES,
    )


def validate_pin(pin: str) -> str:
    """Return the PIN if it is 4 to 8 digits, else raise ValidationFailed."""
    if not isinstance(pin, str) or PIN_RE.fullmatch(pin) is None:
        raise ValidationFailed("pin", "a PIN is 4 to 8 digits (0-9)")
    return pin


def _row(session: Session) -> ParentalPin | None:
    return session.get(ParentalPin, 1)


def pin_is_set(session: Session) -> bool:
    row = _row(session)
    return row is not None and row.pin_hash is not None


def _lock_length(row: ParentalPin) -> timedelta:
    return LOCKOUT if row.locked_out else timedelta(seconds=_wait_s(row.failures))


def _waiting(row: ParentalPin, now: datetime) -> PinCheck | None:
    """A refusal if a wait or lockout is still running, else None.

    A wait or lockout never lasts longer than its own length, whatever the wall clock does:
    when more than that is left (the clock was set back since it began), it is re-based to
    end one length from now (the caller stores the row)."""
    if row.locked_until is None or row.locked_until <= now:
        return None
    length = _lock_length(row)
    if row.locked_until - now > length:
        row.locked_until = now + length
        row.updated_at = now
        if length <= timedelta(0):
            return None
    left = math.ceil((row.locked_until - now).total_seconds())
    if row.locked_out:
        minutes = math.ceil(left / 60)
        message = (
            f"The PIN is locked after too many wrong tries. "
            f"Try again in {_plural(minutes, 'minute')}."
        )
    else:
        message = f"Too many wrong PINs. Try again in {_plural(left, 'second')}."
    return PinCheck(False, row.failures, left, row.locked_out, message=message)


def _wrong_message(failures: int, wait: int) -> str:
    if failures >= LOCKOUT_AFTER:
        return "Wrong PIN. Too many wrong tries: the PIN is locked for 1 hour."
    if failures < FREE_TRIES:
        left = FREE_TRIES - failures
        return f"Wrong PIN. {_tries(left)} left before a wait."
    message = f"Wrong PIN. Wait {_plural(wait, 'second')} before trying again."
    left = LOCKOUT_AFTER - failures
    if left <= 3:
        message += f" {_tries(left)} left before a 1-hour lockout."
    return message


def check_pin(session: Session, pin: str, *, now: datetime | None = None) -> PinCheck:
    """Try a PIN, counting and auditing a wrong one. Call inside ``Database.write()`` and let
    the transaction commit even when the answer is no (see :func:`require_pin`)."""
    row = _row(session)
    if row is None or row.pin_hash is None or row.salt is None:
        return PinCheck(False, 0, 0, False, is_set=False, message="No parental PIN is set.")
    now = now or utcnow()
    session.info[PIN_CHANGED] = True  # the anchor may follow this write's PIN row
    refused = _waiting(row, now)
    session.add(row)  # _waiting may have re-based a wait the clock stretched
    if refused is not None:
        return refused
    well_formed = PIN_RE.fullmatch(pin or "") is not None
    candidate = _kdf(pin if well_formed else "", row.salt, row.kdf)  # same cost either way
    if well_formed and hmac.compare_digest(candidate, row.pin_hash):
        if row.failures or row.locked_until is not None or row.locked_out:
            row.failures, row.locked_until, row.locked_out = 0, None, False
            row.updated_at = now
            session.add(row)
        return PinCheck(True, 0, 0, False, message="PIN accepted.")
    row.failures += 1
    wait = _wait_s(row.failures)
    locked_now = row.failures >= LOCKOUT_AFTER
    if locked_now:
        row.locked_out, row.locked_until = True, now + LOCKOUT
        wait = int(LOCKOUT.total_seconds())
    elif wait:
        row.locked_until = now + timedelta(seconds=wait)
    row.updated_at = now
    session.add(row)
    audit.record_event(
        session,
        event_type="pin_failed",
        actor="parent",
        details={"failures": row.failures, "retryAfterS": wait},
    )
    if locked_now:
        audit.record_event(
            session,
            event_type="pin_lockout",
            actor="parent",
            details={"failures": row.failures, "lockedForS": int(LOCKOUT.total_seconds())},
        )
    return PinCheck(
        False, row.failures, wait, locked_now, message=_wrong_message(row.failures, wait)
    )


def require_pin(
    session: Session, pin: str | None, *, purpose: str = "do this", now: datetime | None = None
) -> None:
    """Allow the caller's operation, or raise PinRequired / PinRejected.

    No PIN set: allowed. On a wrong PIN the failure count and its audit event are committed
    *before* raising, so call this first in its own ``Database.write()`` block (anything else
    done in the same transaction before it would be committed too).
    """
    if not pin_is_set(session):
        return
    if not pin:
        raise PinRequired(f"The parental PIN is needed to {purpose}.")
    result = check_pin(session, pin, now=now)
    if not result.ok:
        session.commit()
        raise PinRejected(result)


def set_pin(
    session: Session, new_pin: str, *, current_pin: str | None = None, now: datetime | None = None
) -> bool:
    """Set the PIN, or change it (which needs the current PIN). True when newly set."""
    validate_pin(new_pin)
    row = _row(session)
    existing = row is not None and row.pin_hash is not None
    if existing:
        if not current_pin:
            raise PinRequired("A parental PIN is already set: give the current PIN to change it.")
        require_pin(session, current_pin, purpose="change the PIN", now=now)
    if row is None:
        row = ParentalPin(id=1)
    session.info[PIN_CHANGED] = True
    salt = os.urandom(SALT_BYTES)
    row.salt, row.kdf = salt, KDF
    row.pin_hash = _kdf(new_pin, salt, KDF)
    row.failures, row.locked_until, row.locked_out = 0, None, False
    row.updated_at = now or utcnow()
    session.add(row)
    audit.record_event(session, event_type="pin_changed" if existing else "pin_set", actor="parent")
    return not existing
