"""The family commands end to end: import, export, list, delete, and refusals that write
nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun


def _db_digest(home: Path) -> str:
    """A digest of every row of every table: equal digests mean an unchanged database."""
    conn = sqlite3.connect(home / "famtune.db")
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                digest.update(repr((table, row)).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def _write(tmp_path: Path, doc: Any, name: str = "profile.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_import_then_export_is_the_same_document(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    result = cli.json("family", "import", _write(tmp_path, smith_profile))
    assert result == {"familyId": "smith-family", "created": True, "members": 2}
    assert cli.json("family", "export", "smith-family") == smith_profile
    out = tmp_path / "out.json"
    code, _, err = cli("family", "export", "smith-family", str(out))
    assert code == 0, err
    assert json.loads(out.read_text()) == smith_profile


def test_global_options_after_the_command(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    code, out, err = cli("family", "import", _write(tmp_path, smith_profile),
                         "--home", str(cli.home), "--json", home=False)
    assert code == 0, err
    assert json.loads(out)["familyId"] == "smith-family"


def test_reimport_replaces_the_profile(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    cli.json("family", "import", _write(tmp_path, smith_profile))
    changed = copy.deepcopy(smith_profile)
    changed["members"][1]["age"] = 9
    changed["members"].pop(0)
    assert cli.json("family", "import", _write(tmp_path, changed))["created"] is False
    assert cli.json("family", "export", "smith-family") == changed


def test_list_and_delete(cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]) -> None:
    cli.json("family", "import", _write(tmp_path, smith_profile))
    other = copy.deepcopy(smith_profile)
    other["familyId"] = "jones-family"
    cli.json("family", "import", _write(tmp_path, other))
    listed = cli.json("family", "list")["families"]
    assert [f["familyId"] for f in listed] == ["jones-family", "smith-family"]
    assert cli.json("family", "delete", "jones-family")["deleted"] is True
    assert [f["familyId"] for f in cli.json("family", "list")["families"]] == ["smith-family"]
    conn = sqlite3.connect(cli.home / "famtune.db")
    assert conn.execute("SELECT count(*) FROM member WHERE family_id='jones-family'").fetchone()[
        0] == 0


def test_unknown_family_is_an_error(cli: CliRun) -> None:
    code, out, err = cli("family", "export", "nobody")
    assert code == 1
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "no family 'nobody'" in err


MALFORMED = [
    ("members.0.age", 130, "members[0].age"),
    ("members.1.age", "8", "members[1].age"),
    ("members.0.age", 41.5, "members[0].age"),
    ("safetySettings.maxContentRating", "X", "safetySettings.maxContentRating"),
    ("safetySettings.timeRestrictions.0.startTime", "24:00",
     "safetySettings.timeRestrictions[0].startTime"),
    ("safetySettings.timeRestrictions.0.daysOfWeek", [1, 9],
     "safetySettings.timeRestrictions[0].daysOfWeek[1]"),
    ("members.0.userId", "child-emma", "members"),
    ("familyName", "N" * 2_000_000, None),
]


@pytest.mark.parametrize(("path", "value", "field"), MALFORMED)
def test_malformed_profile_changes_nothing(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], path: str, value: Any,
    field: str | None,
) -> None:
    cli.json("family", "import", _write(tmp_path, smith_profile))
    before = _db_digest(cli.home)
    doc = copy.deepcopy(smith_profile)
    target: Any = doc
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    code, out, err = cli("family", "import", _write(tmp_path, doc, "bad.json"))
    assert code == 1, out
    assert err.count("\n") == 1
    if field:
        assert field in err
    assert _db_digest(cli.home) == before


def test_truncated_json_changes_nothing(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    cli.json("family", "import", _write(tmp_path, smith_profile))
    before = _db_digest(cli.home)
    text = json.dumps(smith_profile)
    code, _, err = cli("family", "import", _write(tmp_path, text[:-40], "cut.json"))
    assert code == 1
    assert "not valid JSON" in err
    assert _db_digest(cli.home) == before


def test_missing_file_is_a_plain_error(cli: CliRun, tmp_path: Path) -> None:
    code, _, err = cli("family", "import", str(tmp_path / "nope.json"))
    assert code == 1
    assert "does not exist" in err


def test_commands_need_an_initialized_home(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    runner = CliRun(capsys, tmp_path / "empty")
    code, _, err = runner("family", "list")
    assert code == 1
    assert "run 'famtune-engine init' first" in err
    assert not (tmp_path / "empty" / "famtune.db").exists()


def test_usage_errors_are_one_line(cli: CliRun) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("family", "frobnicate")
    assert exc.value.code == 2


def test_changing_safety_settings_needs_the_pin(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    cli.json("family", "import", _write(tmp_path, smith_profile))
    monkeypatch.setattr("sys.stdin", io.StringIO("2468\n"))
    assert cli("pin", "set")[0] == 0
    looser = copy.deepcopy(smith_profile)
    looser["safetySettings"]["maxContentRating"] = "PG-13"
    before = _db_digest(cli.home)
    monkeypatch.setattr("sys.stdin", io.StringIO("1111\n"))
    code, _, err = cli("family", "import", _write(tmp_path, looser, "looser.json"))
    assert code == 1
    assert "PIN" in err
    assert cli.json("family", "export", "smith-family") == smith_profile
    assert _db_digest(cli.home) != before  # the failed try itself is counted and audited
    monkeypatch.setenv("FAMTUNE_PIN", "2468")
    assert cli.json("family", "import", _write(tmp_path, looser, "looser.json"))["created"] is False
    exported = cli.json("family", "export", "smith-family")
    assert exported["safetySettings"]["maxContentRating"] == "PG-13"
    # A change that does not touch safety needs no PIN.
    monkeypatch.delenv("FAMTUNE_PIN")
    looser["preferences"]["communicationStyle"] = "playful"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert cli.json("family", "import", _write(tmp_path, looser, "style.json"))["created"] is False
