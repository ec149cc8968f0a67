"""Item 1: every id that becomes a path is validated and kept inside the data directory;
``models delete`` needs the PIN when one is set. Attacked through the CLI, in-process and
as a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import PIN, no_stdin, one_line_error, run_cli, set_pin
from tests.security.helpers import publish

# Ids an attacker would try. Absolute paths are always a sentinel folder inside the test's
# own tmp_path (never "/" or "/tmp"): a regression must not be able to delete the machine.
BAD_IDS = ["..", ".", "../..", "a/b", "../outside", ".hidden", "x" * 65, "a\x00b",
           "models/../..", "~", "smith-family/../.."]  # fmt: skip


def _sentinel(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    return victim


def _home_intact(home: Path) -> None:
    for name in ("famtune.db", "famtune.key", "base"):
        assert (home / name).exists(), name


@pytest.mark.parametrize("bad", BAD_IDS)
def test_models_delete_refuses_ids_that_are_not_ids(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, bad: str
) -> None:
    victim = _sentinel(tmp_path)
    code, _, err = cli("models", "delete", bad)
    assert code != 0
    one_line_error(err)
    _home_intact(cli.home)
    assert (victim / "precious.txt").read_text() == "keep me"


def test_models_delete_of_an_absolute_path_touches_nothing(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path
) -> None:
    victim = _sentinel(tmp_path)
    code, _, err = cli("models", "delete", str(victim))
    assert code != 0
    one_line_error(err)
    assert (victim / "precious.txt").exists()


def test_models_delete_dot_dot_as_a_subprocess(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path
) -> None:
    proc = run_cli(cli.home, "models", "delete", "..")
    assert proc.returncode != 0
    one_line_error(proc.stderr)
    _home_intact(cli.home)


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "info", "{id}"], ["models", "rollback", "{id}"], ["models", "delete", "{id}"],
        ["family", "export", "{id}"], ["family", "delete", "{id}"],
        ["data", "export", "{id}", "{out}"], ["data", "erase", "{id}"],
        ["data", "erase", "smith-family", "--member", "{id}"],
        ["train", "--family", "{id}"], ["simulate", "--family", "{id}", "--interactions", "5",
                                        "--seed", "1"],
        ["interactions", "list", "--family", "{id}"],
        ["recommend", "--family", "{id}", "--context", "{ctx}"],
        ["recommend", "--family", "smith-family", "--member", "{id}", "--context", "{ctx}"],
        ["privacy", "scrub", "--family", "{id}", "hello"],
        ["audit", "list", "--family", "{id}"],
    ],
)  # fmt: skip
@pytest.mark.parametrize("bad", ["..", "../../etc", "{victim}"])
def test_every_command_refuses_a_path_as_an_id(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: list[str], bad: str
) -> None:
    victim = _sentinel(tmp_path)
    bad = bad.format(victim=victim)
    ctx = tmp_path / "ctx.json"
    ctx.write_text('{"timeOfDay": "morning", "dayOfWeek": "saturday"}')
    args = [a.format(id=bad, out=tmp_path / "out.json", ctx=ctx) for a in argv]
    code, _, err = cli(*args)
    assert code != 0
    one_line_error(err)
    _home_intact(cli.home)
    assert not (tmp_path / "out.json").exists()
    assert (victim / "precious.txt").exists()


def test_models_delete_needs_the_pin_and_is_audited(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = publish(cli.home)
    set_pin(cli, monkeypatch)
    no_stdin(monkeypatch)
    folder = cli.home / "models" / "smith-family" / str(version)
    code, _, err = cli("models", "delete", "smith-family")
    assert code != 0 and "PIN" in err
    assert folder.is_dir()
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    assert cli.json("models", "delete", "smith-family")["deleted"] is True
    assert not folder.exists()
    events = cli.json("audit", "list", "--type", "model_deleted")["events"]
    assert events and events[0]["familyId"] == "smith-family"


def test_models_delete_of_a_family_without_models_changes_nothing(
    cli: CliRun, smith: dict[str, Any]
) -> None:
    before = cli.json("audit", "list")["events"]
    code, _, err = cli("models", "delete", "smith-family")
    assert code == 1 and "no models" in err
    assert cli.json("audit", "list")["events"] == before


def test_a_planted_symlink_for_a_family_folder_is_not_followed(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = _sentinel(tmp_path)
    models = cli.home / "models"
    models.mkdir(exist_ok=True)
    (models / "smith-family").symlink_to(victim, target_is_directory=True)
    code, _, err = cli("models", "delete", "smith-family")
    assert code != 0
    one_line_error(err)
    assert (victim / "precious.txt").exists()
    code, _, err = cli("data", "erase", "smith-family")
    assert (victim / "precious.txt").exists()


def test_crash_recovery_does_not_follow_a_planted_family_folder(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path
) -> None:
    victim = _sentinel(tmp_path)
    (victim / "7").mkdir()
    (victim / "7" / "precious.bin").write_bytes(b"keep")
    (victim / ".staging-x").mkdir()
    models = cli.home / "models"
    models.mkdir(exist_ok=True)
    (models / "planted").symlink_to(victim, target_is_directory=True)
    assert cli("models", "list")[0] == 0  # runs the crash recovery
    assert (victim / "7" / "precious.bin").exists() and (victim / ".staging-x").is_dir()
