"""Item 13: bad input is a plain one-line error that names the problem, never
``internal error: <Python exception>``, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import one_line_error, run_cli, write_json


@pytest.mark.parametrize("where", ["dir", "missing"])
def test_family_export_to_a_directory_or_a_missing_one(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, where: str
) -> None:
    out = tmp_path if where == "dir" else tmp_path / "nope" / "f.json"
    code, _, err = cli("family", "export", "smith-family", str(out))
    assert code == 1
    one_line_error(err)


@pytest.mark.parametrize("depth", [2000, 8000])
def test_deeply_nested_jsonl(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, depth: int
) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text('{"member": ' + "[" * depth + "]" * depth + "}\n")
    code, _, err = cli("interactions", "import", "--family", "smith-family", str(path))
    assert code == 1
    one_line_error(err)
    assert cli.json("interactions", "list", "--family", "smith-family")["interactions"] == []


@pytest.mark.parametrize(
    "context",
    [
        {"at": "2026-02-30T10:00:00"},
        {"timeOfDay": "morning", "at": "2026-13-01T10:00:00"},
        {"dayOfWeek": "monday", "at": "2026-04-31T25:61:00"},
    ],
)
def test_an_impossible_date_in_at_is_reported_on_at(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, context: dict[str, Any]
) -> None:
    ctx = write_json(tmp_path / "ctx.json", context)
    code, _, err = cli("recommend", "--family", "smith-family", "--context", ctx)
    assert code == 1
    one_line_error(err)
    assert "context.at" in err and "timeOfDay" not in err
    code, _, err = cli("interactions", "add", "--family", "smith-family", "--member",
                       "child-emma", "--item", "duck-pond-visit", "--outcome", "accepted",
                       "--context", ctx)  # fmt: skip
    assert code == 1 and "context.at" in err and "timeOfDay" not in err


def test_deeply_nested_toml_is_a_plain_error(cli: CliRun, smith: dict[str, Any]) -> None:
    (cli.home / "famtune.toml").write_text("batch_size = " + "[" * 5000 + "]" * 5000 + "\n")
    proc = run_cli(cli.home, "status")
    assert proc.returncode != 0
    one_line_error(proc.stderr)


@pytest.mark.parametrize(
    "argv",
    [
        ["family", "import", "{dir}"],
        ["catalog", "add", "{dir}"],
        ["interactions", "import", "--family", "smith-family", "{dir}"],
        ["restore", "{dir}"],
        ["safety", "check", "--family", "smith-family", "{dir}"],
    ],
)
def test_a_directory_as_an_input_file(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: list[str]
) -> None:
    code, _, err = cli(*[a.format(dir=tmp_path) for a in argv])
    assert code != 0
    one_line_error(err)


def test_no_internal_errors_across_the_attacks(cli: CliRun, smith: dict[str, Any]) -> None:
    for argv in (["models", "delete", ".."], ["models", "rollback", "smith-family"],
                 ["data", "erase", "../x"], ["audit", "list", "--family", "../x"]):  # fmt: skip
        code, _, err = cli(*argv)
        assert code != 0
        one_line_error(err)
    doc = json.loads(cli("audit", "verify", "--json")[1])
    assert doc["ok"] is True
