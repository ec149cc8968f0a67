"""Item 9: restore trusts nothing in the archive: only listed, checksummed, size-bounded
entries; everything checked in a staging directory first; swapped in whole or not at all.
Each attack is a crafted archive made from a real backup."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import one_line_error

Entries = list[tuple[str, bytes]]


def _entries(archive: Path) -> Entries:
    with tarfile.open(archive) as tar:
        out = []
        for member in tar.getmembers():
            data = tar.extractfile(member)
            out.append((member.name, data.read() if data else b""))
        return out


def _write(path: Path, entries: Entries) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    return path


def _relist(entries: Entries, *, skip: tuple[str, ...] = ()) -> Entries:
    """Recompute the manifest so that it lists (and checksums) every entry but ``skip``."""
    manifest = json.loads(dict(entries)["backup.json"])
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest() for n, d in entries if n != "backup.json" and n not in skip
    }
    manifest["sizes"] = {n: len(d) for n, d in entries if n in manifest["files"]}
    rest = [(n, d) for n, d in entries if n != "backup.json"]
    return [("backup.json", json.dumps(manifest).encode()), *rest]


def _digest(home: Path) -> dict[str, str]:
    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file() and p.stat().st_size < 50_000_000 and "famtune.db" not in p.name
    }


@pytest.fixture
def backup_entries(cli: CliRun, smith: dict[str, Any], tmp_path: Path) -> Entries:
    archive = tmp_path / "real.tar.gz"
    assert cli("backup", str(archive))[0] == 0
    return _entries(archive)


ATTACKS: dict[str, Callable[[Entries], Entries]] = {
    "unlisted entry": lambda e: [*e, ("models/smith-family/1/big.bin", b"\0" * (4 << 20))],
    "unlisted key-like file": lambda e: [*e, ("famtune.toml", b"batch_size = 2\n")],
    "listed famtune.toml that does not parse": lambda e: _relist(
        [*e, ("famtune.toml", b"this is = = not toml [[[")]
    ),
    "listed famtune.toml with an unknown key": lambda e: _relist(
        [*e, ("famtune.toml", b"no_such_option = 1\n")]
    ),
    "a malformed entry after the database and key": lambda e: [
        (n, b"tampered" if n.endswith("adapter.gguf") else d)
        for n, d in _relist([*e, ("models/smith-family/1/adapter.gguf", b"original")])
    ],
    "path traversal": lambda e: _relist([*e, ("../escaped.txt", b"x")]),
    "absolute path": lambda e: _relist([*e, ("/tmp/escaped.txt", b"x")]),
    "manifest not first": lambda e: [*e[1:], e[0]],
    "a size different from the manifest's": lambda e: [
        (n, d + b"x" if n == "famtune.key" else d) for n, d in e
    ],
    "an invalid key": lambda e: _relist(
        [(n, b"not a key" if n == "famtune.key" else d) for n, d in e]
    ),
    "a truncated audit trail in the backup": lambda e: e,  # replaced in the test
    "a family id that is a path": lambda e: e,  # replaced in the test
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_crafted_archive_is_refused_and_changes_nothing(
    cli: CliRun, backup_entries: Entries, tmp_path: Path, attack: str
) -> None:
    entries = ATTACKS[attack](backup_entries)
    if attack == "a truncated audit trail in the backup":
        entries = _truncated_trail(backup_entries, tmp_path)
    if attack == "a family id that is a path":
        entries = _edited_db(backup_entries, tmp_path, "UPDATE family SET id = '../../x'")
    crafted = _write(tmp_path / "crafted.tar.gz", entries)
    before = _digest(cli.home)
    key_mode = stat.S_IMODE((cli.home / "famtune.key").stat().st_mode)
    fresh = tmp_path / "fresh"
    code, _, err = cli("restore", str(crafted), "--home", str(fresh), home=False)
    assert code != 0, attack
    one_line_error(err)
    assert not fresh.exists() or not any(fresh.iterdir())
    code, _, err = cli("restore", str(crafted), "--force")
    assert code != 0, attack
    one_line_error(err)
    assert _digest(cli.home) == before
    assert stat.S_IMODE((cli.home / "famtune.key").stat().st_mode) == key_mode == 0o600
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/escaped.txt").exists()
    assert cli.json("audit", "verify")["ok"] is True
    leftovers = [p.name for p in cli.home.parent.iterdir() if ".restore-" in p.name]
    assert leftovers == []


def _edited_db(entries: Entries, tmp_path: Path, statement: str) -> Entries:
    import sqlite3

    db = tmp_path / "edited.db"
    db.write_bytes(dict(entries)["famtune.db"])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(statement)
    data = db.read_bytes()
    return _relist([(n, data if n == "famtune.db" else d) for n, d in entries])


def _truncated_trail(entries: Entries, tmp_path: Path) -> Entries:
    """The backup's database with its newest audit events cut off and the head moved back,
    next to the backup's own anchor."""
    import sqlite3

    db = tmp_path / "cut.db"
    db.write_bytes(dict(entries)["famtune.db"])
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # every change in the one file
        first = conn.execute("SELECT id, hash FROM audit_event ORDER BY id LIMIT 1").fetchone()
        conn.execute("DELETE FROM audit_event WHERE id > ?", (first[0],))
        conn.execute(
            "UPDATE setting SET value = ? WHERE key = 'audit.head'",
            (json.dumps({"id": first[0], "hash": first[1]}),),
        )
    data = db.read_bytes()
    return _relist([(n, data if n == "famtune.db" else d) for n, d in entries])


def test_a_genuine_backup_still_restores_whole(
    cli: CliRun, backup_entries: Entries, tmp_path: Path
) -> None:
    archive = _write(tmp_path / "again.tar.gz", backup_entries)
    fresh = tmp_path / "fresh"
    code, _, err = cli("restore", str(archive), "--home", str(fresh), home=False)
    assert code == 0, err
    assert stat.S_IMODE((fresh / "famtune.key").stat().st_mode) == 0o600
    verify = cli.json("audit", "verify", "--home", str(fresh))
    assert verify["ok"] is True
