"""Item 2: with a PIN set, every command that weakens protection, destroys data or changes
what a child can be shown needs it, and is audited. Each attack runs without the PIN
(nothing changes, the refusal is one line), then with it (the change is made and audited)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import PIN, no_stdin, one_line_error, run_cli, set_pin, write_json
from tests.security.helpers import active_version, publish

ACTIVITY = {
    "id": "backyard-camp-out",
    "title": "Backyard camp-out",
    "description": "Pitch a tent in the garden and tell stories by torchlight.",
    "categories": ["outdoor"],
    "topics": ["nature"],
    "contentRating": "G",
    "minAge": 4,
    "setting": "outdoor",
    "durationMinutes": 90,
    "energy": "low",
    "groupSize": {"min": 1, "max": 6},
    "bestTimes": ["evening"],
    "weather": ["dry"],
    "cost": "low",
}


def _audit_types(cli: CliRun) -> list[str]:
    return [e["eventType"] for e in cli.json("audit", "list", "--limit", "1000")["events"]]


def test_restore_force_needs_the_current_pin(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "before-pin.tar.gz"  # a backup from before any PIN was set
    assert cli("backup", str(archive))[0] == 0
    set_pin(cli, monkeypatch)
    no_stdin(monkeypatch)
    code, _, err = cli("restore", str(archive), "--force")
    assert code != 0 and "PIN" in err
    one_line_error(err)
    # The PIN still guards: deleting the family is refused without it.
    code, _, err = cli("family", "delete", "smith-family")
    assert code != 0 and "PIN" in err
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    assert cli("restore", str(archive), "--force")[0] == 0
    assert "data_restored" in _audit_types(cli)


def test_restore_force_without_pin_as_a_subprocess(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert cli("backup", str(archive))[0] == 0
    set_pin(cli, monkeypatch)
    proc = run_cli(cli.home, "restore", str(archive), "--force")
    assert proc.returncode != 0 and "PIN" in proc.stderr
    proc = run_cli(cli.home, "family", "delete", "smith-family")
    assert proc.returncode != 0 and "PIN" in proc.stderr


def test_models_rollback_needs_the_pin_and_is_audited(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publish(cli.home)
    second = publish(cli.home)
    set_pin(cli, monkeypatch)
    no_stdin(monkeypatch)
    code, _, err = cli("models", "rollback", "smith-family", "--to", str(first))
    assert code != 0 and "PIN" in err
    one_line_error(err)
    assert active_version(cli.home) == second
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    assert cli.json("models", "rollback", "smith-family", "--to", str(first))["version"] == first
    assert "model_rolled_back" in _audit_types(cli)


def test_catalog_add_needs_the_pin_and_is_audited(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_pin(cli, monkeypatch)
    no_stdin(monkeypatch)
    path = write_json(tmp_path / "activity.json", ACTIVITY)
    code, _, err = cli("catalog", "add", path)
    assert code != 0 and "PIN" in err
    one_line_error(err)
    ids = {a["id"] for a in cli.json("catalog", "list")["activities"]}
    assert ACTIVITY["id"] not in ids
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    assert cli.json("catalog", "add", path)["added"] == [ACTIVITY["id"]]
    event = cli.json("audit", "list", "--type", "catalog_changed")["events"][0]
    assert event["details"]["added"] == [ACTIVITY["id"]]


def test_catalog_add_from_stdin_without_the_pin_is_refused(
    cli: CliRun, smith: dict[str, Any]
) -> None:
    set_pin_proc = run_cli(cli.home, "pin", "set", stdin=f"{PIN}\n")
    assert set_pin_proc.returncode == 0, set_pin_proc.stderr
    proc = run_cli(cli.home, "catalog", "add", "-", stdin=json.dumps(ACTIVITY))
    assert proc.returncode != 0 and "PIN" in proc.stderr


def test_catalog_remove_needs_the_pin(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("catalog", "add", write_json(tmp_path / "a.json", ACTIVITY))[0] == 0
    set_pin(cli, monkeypatch)
    no_stdin(monkeypatch)
    code, _, err = cli("catalog", "remove", ACTIVITY["id"])
    assert code != 0 and "PIN" in err
    assert ACTIVITY["id"] in {a["id"] for a in cli.json("catalog", "list")["activities"]}


def test_a_wrong_pin_is_refused_counted_and_audited(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(cli.home)
    set_pin(cli, monkeypatch)
    monkeypatch.setenv("FAMTUNE_PIN", "1111")
    code, _, err = cli("models", "delete", "smith-family")
    assert code != 0 and "Wrong PIN" in err
    assert "pin_failed" in _audit_types(cli)
    assert (cli.home / "models" / "smith-family").is_dir()
