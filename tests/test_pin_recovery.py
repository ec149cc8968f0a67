"""The recovery code: shown once, kept only as a hash, sets a new PIN without the old one,
is used up, rate-limited like the PIN, audited; the CLI's ``pin recovery-code``,
``pin recover`` and the owner's ``pin reset``."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from engine.base.errors import FamtuneError, ValidationFailed
from engine.db.tables import Setting, utcnow
from engine.domain import audit, pin, pin_recovery
from engine.domain.home import Famtune
from tests.conftest import CliRun

PIN = "2468"


def _events(ft: Famtune, event_type: str) -> list[audit.AuditEvent]:
    with ft.db.read() as session:
        return audit.list_events(session, event_type=event_type)


def _setup(ft: Famtune) -> str:
    with ft.db.write() as session:
        pin.set_pin(session, PIN)
        return pin_recovery.issue_recovery_code(session)


def test_a_code_looks_right_and_only_its_hash_is_stored(engine_ctx: Famtune) -> None:
    code = _setup(engine_ctx)
    assert len(code) == 19 and code.count("-") == 3
    assert pin_recovery.normalize_code(code.lower().replace("-", " ")) == code.replace("-", "")
    assert pin_recovery.normalize_code("O0O0-1111-IIII-LLLL") == ""  # look-alikes are not used
    with engine_ctx.db.read() as session:
        row = session.get(Setting, pin_recovery.RECOVERY_KEY)
        assert row is not None and code not in row.value and code.replace("-", "") not in row.value
        assert pin_recovery.has_recovery_code(session)
    with engine_ctx.db.write() as session, pytest.raises(ValidationFailed):
        pin_recovery.set_recovery_code(session, "too short")


def test_the_code_sets_a_new_pin_once_and_is_replaced(engine_ctx: Famtune) -> None:
    code = _setup(engine_ctx)
    with engine_ctx.db.write() as session:
        result = pin_recovery.recover_pin(session, code.lower(), "1357")
    assert result.ok and result.new_code and result.new_code != code
    with engine_ctx.db.write() as session:
        assert pin.check_pin(session, "1357").ok
        assert not pin.check_pin(session, PIN).ok
        # the used code no longer works; the new one does
        again = pin_recovery.recover_pin(session, code, "9999")
        assert not again.ok and "Wrong recovery code" in again.message
    assert len(_events(engine_ctx, "pin_recovered")) == 1
    assert len(_events(engine_ctx, "pin_recovery_failed")) == 1
    with engine_ctx.db.write() as session:
        assert pin_recovery.recover_pin(session, result.new_code, "9999").ok


def test_wrong_codes_wait_and_lock_out_like_the_pin(engine_ctx: Famtune) -> None:
    code = _setup(engine_ctx)
    now = utcnow()
    messages = []
    for i in range(pin.LOCKOUT_AFTER):
        now += timedelta(seconds=pin.MAX_WAIT_S + 1)
        with engine_ctx.db.write() as session:
            result = pin_recovery.recover_pin(session, "AAAA-AAAA-AAAA-AAAA", "1357", now=now)
        messages.append(result.message)
        assert not result.ok and result.failures == i + 1
    assert messages[0] == "Wrong recovery code. 2 tries left before a wait."
    assert messages[2].startswith("Wrong recovery code. Wait 1 second")
    assert result.locked_out and "locked for 1 hour" in result.message
    # during the lockout even the right code is refused unchecked
    with engine_ctx.db.write() as session:
        refused = pin_recovery.recover_pin(session, code, "1357", now=now + timedelta(minutes=5))
    assert not refused.ok and refused.locked_out and "55 minutes" in refused.message
    assert len(_events(engine_ctx, "pin_recovery_failed")) == pin.LOCKOUT_AFTER
    lockouts = _events(engine_ctx, "pin_lockout")
    assert len(lockouts) == 1 and lockouts[0].details["via"] == "recoveryCode"
    with engine_ctx.db.write() as session:
        later = pin_recovery.recover_pin(
            session, code, "1357", now=now + timedelta(hours=1, seconds=1)
        )
        assert later.ok
        assert pin.check_pin(session, "1357").ok  # the PIN's own counter was never touched


def test_no_code_and_a_bad_new_pin_are_refused(engine_ctx: Famtune) -> None:
    with engine_ctx.db.write() as session, pytest.raises(FamtuneError, match="owner"):
        pin_recovery.recover_pin(session, "AAAA-AAAA-AAAA-AAAA", "1357")
    code = _setup(engine_ctx)
    with engine_ctx.db.write() as session, pytest.raises(ValidationFailed):
        pin_recovery.recover_pin(session, code, "12")


def test_the_cli_recovery_path(cli: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    def stdin(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.StringIO(text))

    stdin(f"{PIN}\n")
    assert cli("pin", "set")[0] == 0
    stdin("1111\n")
    code, _, err = cli("pin", "recovery-code")
    assert code == 1 and "Wrong PIN" in err
    stdin(f"{PIN}\n")
    first = cli.json("pin", "recovery-code")["recoveryCode"]
    stdin("AAAA-AAAA-AAAA-AAAA\n1357\n")
    code, _, err = cli("pin", "recover")
    assert code == 1 and err.strip() == (
        "famtune-engine: error: Wrong recovery code. 2 tries left before a wait."
    )
    stdin(f"{first}\n1357\n")
    answer = cli.json("pin", "recover")
    assert answer["pinSet"] and answer["recoveryCode"] != first
    stdin("1357\n")
    assert cli("pin", "check")[0] == 0
    assert cli("audit", "verify")[0] == 0  # the audit anchor followed the recovered PIN
    # the owner's last resort
    code, _, err = cli("pin", "reset")
    assert code == 1 and "--yes" in err
    assert cli.json("pin", "reset", "--yes") == {"pinSet": False, "wasSet": True}
    stdin("1357\n")
    code, _, err = cli("pin", "check")
    assert code == 1 and "no parental PIN is set" in err
    assert cli("audit", "verify")[0] == 0  # ... and the reset
    ft = Famtune(cli.home, profile="development")
    assert len(_events(ft, "pin_reset")) == 1 and len(_events(ft, "pin_recovered")) == 1
    ft.close()
