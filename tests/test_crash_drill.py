"""The crash drill (``scripts/crash_drill.py``, issue #7 "Crash and power-loss") on its cheap
kinds: a few SIGKILLs of profile and safety-setting saves, interaction logging and model
activation, each followed by every check (integrity, acknowledged changes all there and the
killed one all or nothing, the active model loads, the audit chain verifies, no half-written
model version). Training kills take minutes; run the script itself for those."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_drill() -> ModuleType:
    path = ROOT / "scripts" / "crash_drill.py"
    spec = importlib.util.spec_from_file_location("crash_drill", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_crash_drill_cheap_kinds(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = _load_drill()
    code = drill.main([
        "--kills", "6", "--seed", "7", "--home", str(home), "--no-init",
        "--kinds", "safety,interactions,rollback", "--workdir", str(tmp_path / "drill"),
        "--json",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    report = json.loads(out)
    failed = [k for k in report["kills"] if k["failures"]]
    assert code == 0 and not failed, failed or err
    summary = report["summary"]
    assert summary["kills"] == 6 and summary["failures"] == 0, summary
    assert set(summary["byKind"]) == {"safety", "interactions", "rollback"}, summary
    killed = [k for k in report["kills"] if k["killed"]]
    assert all(k["rc"] == -9 for k in killed), killed
