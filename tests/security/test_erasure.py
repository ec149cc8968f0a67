"""Item 11: erasing a family (or a member) removes everything derived from its data,
including the training job's work folder (tokenized sessions, a stopped run's checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.helpers import publish


def _leftovers(home: Path) -> list[Path]:
    work = home / "training" / "smith-family"
    (work / "run-abc" / "checkpoint-10").mkdir(parents=True)
    (work / "tokens-0123456789abcdef.npz").write_bytes(b"tokenized sessions")
    (work / "run-abc" / "checkpoint-10" / "adapter.safetensors").write_bytes(b"weights")
    checkpoints = home / "checkpoints" / "smith-family"
    checkpoints.mkdir(parents=True)
    (checkpoints / "state.bin").write_bytes(b"state")
    return [work, checkpoints, home / "models" / "smith-family"]


@pytest.mark.parametrize("member", [None, "child-emma"])
def test_erase_removes_the_training_work_folder(
    cli: CliRun, smith: dict[str, Any], member: str | None
) -> None:
    publish(cli.home)
    folders = _leftovers(cli.home)
    other = cli.home / "training" / "other-family"
    other.mkdir(parents=True)
    (other / "keep.npz").write_bytes(b"another family's")
    args = ["data", "erase", "smith-family", *(["--member", member] if member else [])]
    code, _, err = cli(*args)
    assert code == 0, err
    for folder in folders:
        assert not folder.exists(), folder
    assert (other / "keep.npz").exists()
    assert cli.json("audit", "verify")["ok"] is True
