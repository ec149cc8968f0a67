"""The parental PIN: hashing, checks, back-off, a lockout that survives restarts, the CLI."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from engine.base.errors import ValidationFailed
from engine.db.tables import AuditEvent, ParentalPin, utcnow
from engine.domain import audit, pin
from engine.domain.home import Famtune
from tests.conftest import CliRun

PIN = "2468"


def _set(ft: Famtune, new: str = PIN, current: str | None = None) -> bool:
    with ft.db.write() as session:
        return pin.set_pin(session, new, current_pin=current)


def _check(ft: Famtune, given: str, now: datetime | None = None) -> pin.PinCheck:
    with ft.db.write() as session:
        return pin.check_pin(session, given, now=now)


def _events(ft: Famtune, event_type: str) -> list[AuditEvent]:
    with ft.db.read() as session:
        return audit.list_events(session, event_type=event_type)


def _row(ft: Famtune) -> ParentalPin:
    with ft.db.read() as session:
        row = session.get(ParentalPin, 1)
    assert row is not None
    return row


def test_set_and_check(engine_ctx: Famtune) -> None:
    with engine_ctx.db.read() as session:
        assert not pin.pin_is_set(session)
    assert not _check(engine_ctx, PIN).is_set
    assert _set(engine_ctx) is True
    with engine_ctx.db.read() as session:
        assert pin.pin_is_set(session)
    assert _check(engine_ctx, PIN).ok
    wrong = _check(engine_ctx, "1357")
    assert (wrong.ok, wrong.failures, wrong.retry_after_s) == (False, 1, 0)
    assert wrong.message == "Wrong PIN. 2 tries left before a wait."
    failed = _events(engine_ctx, "pin_failed")
    assert len(failed) == 1 and failed[0].details == {"failures": 1, "retryAfterS": 0}
    assert PIN not in str(failed[0].details)
    assert [e.event_type for e in reversed(_events(engine_ctx, "pin_set"))] == ["pin_set"]
    assert _check(engine_ctx, PIN).ok and _row(engine_ctx).failures == 0


def test_pin_hash_is_not_the_pin(engine_ctx: Famtune) -> None:
    _set(engine_ctx)
    row = _row(engine_ctx)
    assert row.kdf == "scrypt$16384$8$1"
    assert row.salt is not None and len(row.salt) == 16
    assert row.pin_hash is not None and len(row.pin_hash) == 32
    assert PIN.encode() not in row.pin_hash
    assert row.pin_hash != hashlib.sha256(PIN.encode()).digest()
    assert row.pin_hash == hashlib.scrypt(PIN.encode(), salt=row.salt, n=2**14, r=8, p=1, dklen=32)
    _set(engine_ctx, "2468", current=PIN)
    assert _row(engine_ctx).salt != row.salt  # a fresh salt every time


@pytest.mark.parametrize("bad", ["", "123", "123456789", "12a4", "12 34", "١٢٣٤", " 1234"])
def test_only_4_to_8_digits(engine_ctx: Famtune, bad: str) -> None:
    with pytest.raises(ValidationFailed, match="4 to 8 digits"):
        _set(engine_ctx, bad)


@pytest.mark.parametrize("good", ["0000", "12345678", "9081726"])
def test_4_to_8_digits_accepted(engine_ctx: Famtune, good: str) -> None:
    _set(engine_ctx, good)
    assert _check(engine_ctx, good).ok


def test_changing_the_pin_needs_the_current_one(engine_ctx: Famtune) -> None:
    _set(engine_ctx)
    with pytest.raises(pin.PinRequired, match="current PIN"):
        _set(engine_ctx, "1111")
    with pytest.raises(pin.PinRejected, match="Wrong PIN"):
        _set(engine_ctx, "1111", current="9999")
    assert _row(engine_ctx).failures == 1  # counted although the change failed
    assert len(_events(engine_ctx, "pin_failed")) == 1
    assert _set(engine_ctx, "1111", current=PIN) is False
    assert not _check(engine_ctx, PIN).ok
    assert _check(engine_ctx, "1111").ok
    assert len(_events(engine_ctx, "pin_changed")) == 1


def test_require_pin(engine_ctx: Famtune) -> None:
    with engine_ctx.db.write() as session:
        pin.require_pin(session, None)  # no PIN set: allowed
    _set(engine_ctx)
    with (
        pytest.raises(pin.PinRequired, match="needed to erase data"),
        engine_ctx.db.write() as session,
    ):
        pin.require_pin(session, None, purpose="erase data")
    with (
        pytest.raises(pin.PinRejected, match=r"Wrong PIN\. 2 tries left"),
        engine_ctx.db.write() as session,
    ):
        pin.require_pin(session, "0000")
        raise AssertionError("not reached")
    assert _row(engine_ctx).failures == 1  # the failure outlived the rolled-back block
    with engine_ctx.db.write() as session:
        pin.require_pin(session, PIN)
    with engine_ctx.db.read() as session:
        assert audit.verify_chain(session).ok


def test_back_off_after_three_failures(engine_ctx: Famtune) -> None:
    _set(engine_ctx)
    t0 = utcnow()
    assert _check(engine_ctx, "0000", t0).retry_after_s == 0
    assert _check(engine_ctx, "0000", t0).retry_after_s == 0
    third = _check(engine_ctx, "0000", t0)
    assert (third.failures, third.retry_after_s) == (3, 1)
    assert third.message == "Wrong PIN. Wait 1 second before trying again."
    waiting = _check(engine_ctx, PIN, t0)  # even the right PIN must wait
    assert not waiting.ok and waiting.failures == 3 and "Try again in 1 second" in waiting.message
    fourth = _check(engine_ctx, "0000", t0 + timedelta(seconds=1))
    assert (fourth.failures, fourth.retry_after_s) == (4, 2)
    assert len(_events(engine_ctx, "pin_failed")) == 4  # the refused try is not counted
    assert _check(engine_ctx, PIN, t0 + timedelta(seconds=4)).ok
    assert _row(engine_ctx).failures == 0 and _row(engine_ctx).locked_until is None


def _fail_until_locked(ft: Famtune, t0: datetime) -> tuple[datetime, pin.PinCheck]:
    now, result = t0, None
    for _ in range(pin.LOCKOUT_AFTER):
        result = _check(ft, "0000", now)
        assert not result.ok
        now += timedelta(seconds=result.retry_after_s)
    assert result is not None
    return now, result


def test_waits_double_up_to_a_minute(engine_ctx: Famtune) -> None:
    _set(engine_ctx)
    now, waits = utcnow(), []
    for _ in range(pin.LOCKOUT_AFTER - 1):
        result = _check(engine_ctx, "0000", now)
        waits.append(result.retry_after_s)
        now += timedelta(seconds=result.retry_after_s)
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60]
    assert "1 try left before a 1-hour lockout" in result.message


def test_lockout_after_ten_survives_a_restart(home: Path) -> None:
    ft = Famtune(home, profile="development")
    _set(ft)
    t0 = utcnow()
    after, last = _fail_until_locked(ft, t0)
    assert last.locked_out and last.failures == 10 and last.retry_after_s == 3600
    assert len(_events(ft, "pin_lockout")) == 1
    ft.close()

    again = Famtune(home, profile="development")
    later = after - timedelta(seconds=3600) + timedelta(minutes=30)
    refused = _check(again, PIN, later)
    assert not refused.ok and refused.locked_out
    assert refused.message == (
        "The PIN is locked after too many wrong tries. Try again in 30 minutes."
    )
    assert _row(again).locked_out
    assert _check(again, PIN, after + timedelta(seconds=1)).ok
    assert not _row(again).locked_out and _row(again).failures == 0
    again.close()


def test_a_wrong_pin_after_the_lockout_locks_again(engine_ctx: Famtune) -> None:
    _set(engine_ctx)
    after, _ = _fail_until_locked(engine_ctx, utcnow())
    relock = _check(engine_ctx, "0000", after + timedelta(seconds=1))
    assert relock.locked_out and relock.failures == 11 and relock.retry_after_s == 3600
    assert len(_events(engine_ctx, "pin_lockout")) == 2


def test_cli_pin_set_and_check(cli: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    def stdin(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

    stdin("12\n")
    code, _, err = cli("pin", "set")
    assert code == 1 and "pin: a PIN is 4 to 8 digits" in err
    stdin(f"{PIN}\n")
    assert cli.json("pin", "set") == {"pinSet": True, "changed": False}
    stdin(f"{PIN}\n")
    code, out, err = cli("pin", "check")
    assert (code, out.strip(), err) == (0, "PIN accepted.", "")
    stdin("1111\n")
    code, out, err = cli("pin", "check")
    assert code == 1
    assert err.splitlines() == ["famtune-engine: error: Wrong PIN. 2 tries left before a wait."]
    stdin("0000\n5555\n")  # a change with the wrong current PIN
    code, _, err = cli("pin", "set")
    assert code == 1 and "Wrong PIN" in err
    stdin(f"{PIN}\n1357\n")
    assert cli.json("pin", "set") == {"pinSet": True, "changed": True}
    stdin("1357\n")
    assert cli("pin", "check")[0] == 0
