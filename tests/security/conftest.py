"""What the security suite shares: a family with a PIN set, and the CLI run two ways.

``cli`` (from tests/conftest.py) runs ``famtune-engine`` in-process; ``run_cli`` runs it as a
subprocess, as a teenager with a shell would, with stdin and the environment under the
test's control."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun

PIN = "2468"
ROOT = Path(__file__).resolve().parents[2]


def write_json(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def set_pin(cli: CliRun, monkeypatch: pytest.MonkeyPatch, pin: str = PIN) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{pin}\n"))
    code, _, err = cli("pin", "set")
    assert code == 0, err


def no_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PIN on stdin and none in the environment: what an attacker without it has."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.delenv("FAMTUNE_PIN", raising=False)


@pytest.fixture
def smith(cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]) -> dict[str, Any]:
    """The smith family imported into the test's data directory."""
    code, _, err = cli("family", "import", write_json(tmp_path / "smith.json", smith_profile))
    assert code == 0, err
    return smith_profile


def run_cli(
    home: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """``famtune-engine --home HOME ARGS`` in a fresh interpreter."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FAMTUNE_")}
    environ.update(env or {})
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), environ.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
        input=stdin, capture_output=True, text=True, timeout=timeout, env=environ, cwd=ROOT,
    )  # fmt: skip


def one_line_error(err: str) -> None:
    """A refusal is one plain line on stderr, never a traceback or an internal error."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("famtune-engine: error:"), err
    assert "internal error" not in err and "Traceback" not in err, err
