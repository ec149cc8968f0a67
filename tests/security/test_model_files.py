"""Item 12: model files are bounded regular files checked against the sha256 recorded in the
database, not the editable manifest; a device behind a symlink never hangs hashing."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import run_cli, write_json
from tests.security.helpers import publish


def _adapter(home: Path, version: int) -> Path:
    return home / "models" / "smith-family" / str(version) / "adapter.gguf"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_adapter_symlinked_to_a_device_is_refused_quickly(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, device: str
) -> None:
    version = publish(cli.home, safety=1.0)
    adapter = _adapter(cli.home, version)
    adapter.unlink()
    adapter.symlink_to(device)
    started = time.monotonic()
    proc = run_cli(cli.home, "models", "validate", "--json", timeout=60)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["valid"] is False
    ctx = write_json(tmp_path / "ctx.json", {"timeOfDay": "morning", "dayOfWeek": "saturday"})
    proc = run_cli(cli.home, "recommend", "--family", "smith-family", "--context", ctx,
                   "--json", timeout=90)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    recs = json.loads(proc.stdout)["recommendations"]
    assert recs and all(r["source"] != "family-model" for r in recs)
    assert time.monotonic() - started < 120


def test_a_fifo_as_the_adapter_does_not_block(cli: CliRun, smith: dict[str, Any]) -> None:
    import os

    version = publish(cli.home, safety=1.0)
    adapter = _adapter(cli.home, version)
    adapter.unlink()
    os.mkfifo(adapter)
    proc = run_cli(cli.home, "models", "validate", timeout=60)
    assert proc.returncode == 1


def test_validate_checks_the_database_not_the_editable_manifest(
    cli: CliRun, smith: dict[str, Any]
) -> None:
    version = publish(cli.home, safety=1.0)
    adapter = _adapter(cli.home, version)
    adapter.write_bytes(b"a different adapter")
    manifest_path = adapter.parent / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["adapter.gguf"] = hashlib.sha256(b"a different adapter").hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    code, out, _ = cli("models", "validate", "--json")
    assert code == 1 and json.loads(out)["valid"] is False
    status = cli.json("status")
    assert any("checksum" in e["message"] for e in status["lastErrors"])
