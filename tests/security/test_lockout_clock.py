"""Item 7: a lockout never lasts longer than its own length, whatever the wall clock does.
The lock is made while the clock is a year ahead, then the clock is set back (the real
time): ``pin check`` says at most an hour, and an hour later the right PIN works."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from engine.db.tables import utcnow
from engine.domain import pin
from engine.domain.home import Famtune
from tests.conftest import CliRun
from tests.security.conftest import PIN, set_pin


def _lock_out_at(ft: Famtune, start: Any) -> None:
    for i in range(pin.LOCKOUT_AFTER):
        with ft.db.write() as session:
            result = pin.check_pin(session, "0000", now=start + timedelta(minutes=2 * i))
    assert result.locked_out


@pytest.mark.parametrize("ahead", [timedelta(days=365), timedelta(days=3), timedelta(hours=2)])
def test_a_clock_set_back_does_not_stretch_the_lockout(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch, ahead: timedelta
) -> None:
    set_pin(cli, monkeypatch)
    ft = Famtune(cli.home, profile="development")
    try:
        _lock_out_at(ft, utcnow() + ahead)
    finally:
        ft.close()
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    code, _, err = cli("pin", "check")
    assert code == 1
    minutes = int(re.search(r"Try again in (\d+) minute", err).group(1))  # type: ignore[union-attr]
    assert 1 <= minutes <= 60, err
    ft = Famtune(cli.home, profile="development")
    try:
        with ft.db.write() as session:
            later = pin.check_pin(session, PIN, now=utcnow() + timedelta(minutes=61))
    finally:
        ft.close()
    assert later.ok, later.message
    assert cli.json("audit", "verify")["ok"] is True


def test_a_short_wait_is_never_longer_than_its_own_length(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    ft = Famtune(cli.home, profile="development")
    try:
        future = utcnow() + timedelta(days=30)
        for i in range(pin.FREE_TRIES):
            with ft.db.write() as session:
                pin.check_pin(session, "0000", now=future + timedelta(seconds=i))
    finally:
        ft.close()
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    code, _, err = cli("pin", "check")
    assert code == 1
    seconds = int(re.search(r"Try again in (\d+) second", err).group(1))  # type: ignore[union-attr]
    assert seconds <= 1, err
