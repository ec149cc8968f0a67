"""Item 8: exports and backups never write through a planted symlink, are owner-only, and
refuse a device, pipe or directory as the output with a plain error."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import one_line_error, run_cli

WRITERS = [
    ("data", "export", "smith-family"),
    ("family", "export", "smith-family"),
    ("backup",),
]


def _plant(out: Path, victim: Path) -> list[Path]:
    """Symlinks at every temporary name the old code used beside ``out``."""
    links = [out.with_name(f".{out.name}.tmp"), out.with_name(f"{out.name}.tmp")]
    for link in links:
        link.symlink_to(victim)
    return links


@pytest.mark.parametrize("argv", WRITERS)
def test_a_planted_symlink_beside_the_output_is_not_followed(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    victim.chmod(0o644)
    out = tmp_path / "out" / "export.json"
    out.parent.mkdir()
    _plant(out, victim)
    code, _, err = cli(*argv, str(out))
    assert code == 0, err
    assert victim.read_text() == "someone else's file"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert out.is_file() and not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


@pytest.mark.parametrize("argv", WRITERS)
def test_an_output_that_is_a_symlink_is_replaced_not_written_through(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    out = tmp_path / "export.json"
    out.symlink_to(victim)
    assert cli(*argv, str(out))[0] == 0
    assert victim.read_text() == "someone else's file"
    assert not out.is_symlink()


def _target(tmp_path: Path, kind: str) -> Path:
    """The output to refuse, made inside the test's own folder: a code that wrongly replaced
    it must never be able to replace the machine's real /dev/null."""
    out = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(out)
    elif kind in ("null", "zero"):
        try:
            os.mknod(out, 0o666 | stat.S_IFCHR, os.makedev(1, 3 if kind == "null" else 5))
        except PermissionError:
            out.parent.joinpath(f"to-{kind}").symlink_to(f"/dev/{kind}")
            out = out.parent / f"to-{kind}"
    elif kind == "link-to-null":
        out.symlink_to(_target(tmp_path, "null"))
    else:
        out = tmp_path / "missing-dir" / "x.json"
    return out


@pytest.mark.parametrize("argv", WRITERS)
@pytest.mark.parametrize("kind", ["null", "zero", "link-to-null", "fifo", "missing"])
def test_devices_pipes_and_missing_folders_are_refused(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: tuple[str, ...], kind: str
) -> None:
    out = _target(tmp_path, kind)
    before = [e["id"] for e in cli.json("audit", "list")["events"]]
    proc = run_cli(cli.home, *argv, str(out), timeout=60)  # a FIFO must not hang
    assert proc.returncode != 0
    one_line_error(proc.stderr)
    if argv[0] != "backup":  # nothing recorded for an export that was not written
        assert [e["id"] for e in cli.json("audit", "list")["events"]] == before


@pytest.mark.parametrize("argv", WRITERS[:2])
def test_a_directory_as_the_export_is_refused(
    cli: CliRun, smith: dict[str, Any], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    code, _, err = cli(*argv, str(tmp_path))
    assert code != 0
    one_line_error(err)
