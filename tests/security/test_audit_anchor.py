"""Item 6: the audit chain is anchored outside the database, so truncating or emptying the
trail, or a sqlite edit that clears a lockout or removes the PIN, fails ``audit verify``.
Attacked with sqlite3 on the database file, as somebody with a shell would."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import PIN, one_line_error, run_cli, set_pin


def _sql(home: Path, *statements: str) -> None:
    with sqlite3.connect(home / "famtune.db") as db:
        for statement in statements:
            db.execute(statement)


def _events(home: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(home / "famtune.db") as db:
        return list(db.execute("SELECT id, hash FROM audit_event ORDER BY id"))


def _verify(cli: CliRun) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli("audit", "verify", "--json")
    return code, json.loads(out), err


def test_an_untouched_trail_verifies(cli: CliRun, smith: dict[str, Any]) -> None:
    code, report, _ = _verify(cli)
    assert code == 0 and report["ok"] is True
    assert (cli.home / "audit.anchor").is_file()
    assert (cli.home / "audit.anchor").stat().st_mode & 0o077 == 0


def test_deleting_the_newest_events_and_moving_the_head_back_fails(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    events = _events(cli.home)
    assert len(events) >= 2
    keep_id, keep_hash = events[0]
    _sql(
        cli.home,
        f"DELETE FROM audit_event WHERE id > {keep_id}",
        "UPDATE setting SET value = '" + json.dumps({"id": keep_id, "hash": keep_hash})
        + "' WHERE key = 'audit.head'",
    )
    code, report, err = _verify(cli)
    assert code == 1 and report["ok"] is False and "truncated" in report["reason"]
    one_line_error(err)


def test_emptying_the_trail_and_its_head_fails(cli: CliRun, smith: dict[str, Any]) -> None:
    _sql(cli.home, "DELETE FROM audit_event", "DELETE FROM setting WHERE key = 'audit.head'")
    code, report, _ = _verify(cli)
    assert code == 1 and report["ok"] is False
    proc = run_cli(cli.home, "audit", "verify")
    assert proc.returncode == 1 and "ok (0 events)" not in proc.stdout


def test_deleting_the_anchor_file_as_well_is_reported(cli: CliRun, smith: dict[str, Any]) -> None:
    _sql(cli.home, "DELETE FROM audit_event", "DELETE FROM setting WHERE key = 'audit.head'")
    (cli.home / "audit.anchor").unlink()
    code, report, _ = _verify(cli)
    assert code == 1 and "anchor" in report["reason"]


def test_an_edited_anchor_fails(cli: CliRun, smith: dict[str, Any]) -> None:
    anchor = json.loads((cli.home / "audit.anchor").read_text())
    anchor["events"] += 5
    anchor["headHash"] = "0" * 64
    (cli.home / "audit.anchor").write_text(json.dumps(anchor))
    code, report, _ = _verify(cli)
    assert code == 1 and "MAC" in report["reason"]


def test_clearing_a_lockout_with_sqlite_is_reported(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    monkeypatch.setenv("FAMTUNE_PIN", "1111")
    for _ in range(3):
        cli("pin", "check")  # wrong tries: counted, and a wait starts
    _sql(cli.home, "UPDATE parental_pin SET failures = 0, locked_until = NULL, locked_out = 0")
    code, report, _ = _verify(cli)
    assert code == 1 and "PIN" in report["reason"]


def test_removing_the_pin_with_sqlite_is_reported(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    _sql(cli.home, "UPDATE parental_pin SET pin_hash = NULL, salt = NULL")
    code, report, _ = _verify(cli)
    assert code == 1 and "PIN" in report["reason"]


def test_legitimate_changes_keep_the_trail_verifying(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    monkeypatch.setenv("FAMTUNE_PIN", "1111")
    cli("pin", "check")
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    assert cli("family", "delete", "smith-family")[0] == 0
    code, report, _ = _verify(cli)
    assert code == 0 and report["ok"] is True, report


@pytest.mark.parametrize("tamper", ["truncate", "empty", "clear lockout", "remove pin"])
def test_using_the_app_afterwards_does_not_erase_the_evidence(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    tamper: str,
) -> None:
    """The anchor follows only changes famtune made: later writes (a new family, an
    interaction, a safety block) must not re-anchor a tampered trail."""
    set_pin(cli, monkeypatch)
    monkeypatch.setenv("FAMTUNE_PIN", "1111")
    for _ in range(3):
        cli("pin", "check")
    events = _events(cli.home)
    if tamper == "truncate":
        keep_id, keep_hash = events[0]
        _sql(cli.home, f"DELETE FROM audit_event WHERE id > {keep_id}",
             "UPDATE setting SET value = '" + json.dumps({"id": keep_id, "hash": keep_hash})
             + "' WHERE key = 'audit.head'")  # fmt: skip
    elif tamper == "empty":
        _sql(cli.home, "DELETE FROM audit_event", "DELETE FROM setting WHERE key = 'audit.head'")
    elif tamper == "clear lockout":
        _sql(cli.home, "UPDATE parental_pin SET failures = 0, locked_until = NULL")
    else:
        _sql(cli.home, "UPDATE parental_pin SET pin_hash = NULL, salt = NULL")
    other = json.loads((Path(__file__).parents[1] / "data" / "smith-family.json").read_text())
    other["familyId"] = "other-family"
    (tmp_path / "other.json").write_text(json.dumps(other))
    monkeypatch.delenv("FAMTUNE_PIN")
    assert cli("family", "import", str(tmp_path / "other.json"))[0] == 0
    code, report, _ = _verify(cli)
    assert code == 1 and report["ok"] is False, (tamper, report)
