"""A family's data rights: export everything famtune holds about it, or erase it (PIN); and
the data directory's backup and restore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.base.fileio import write_json_private
from engine.domain import datarights
from engine.domain.home import Famtune


@dataclass(frozen=True)
class DataExport:
    """Where the export went and how much it holds."""

    path: Path
    interactions: int
    audit_events: int


def export_data(ft: Famtune, family_id: str, path: Path) -> DataExport:
    document = datarights.export_family_data(ft, family_id)
    write_json_private(path, document)
    return DataExport(path, len(document["interactions"]), len(document["auditEvents"]))


def erase_data(
    ft: Famtune,
    family_id: str,
    member_id: str | None,
    pin: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Erase the family (or one member) and its files; the PIN is asked when one is set."""
    return datarights.erase_family_data(ft, family_id, member_id, pin=pin, now=now)


@dataclass(frozen=True)
class Backup:
    """The archive written; ``summary`` is the CLI's JSON shape (path, files, ...)."""

    path: Path
    files: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class Restored:
    """The data directory restored; ``summary`` is the CLI's JSON shape (home, families...)."""

    home: Path
    families: int
    summary: dict[str, Any]


def backup(ft: Famtune, *, out: Path) -> Backup:
    """A .tar.gz of the data directory (``out``: the archive, or a directory to put it in)."""
    summary = datarights.backup(ft, out)
    return Backup(Path(summary["path"]), int(summary["files"]), summary)


def check_backup(*, archive: Path) -> None:
    """FamtuneError unless ``archive`` is a famtune backup that can be restored."""
    datarights.check_backup(archive)


def restore(*, archive: Path, home: Path, force: bool = False) -> Restored:
    """Restore a backup into ``home`` (empty or new; ``force`` replaces its data)."""
    summary = datarights.restore(archive, home, force=force)
    return Restored(Path(summary["home"]), int(summary["families"]), summary)
