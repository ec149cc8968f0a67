"""A family's data rights: export everything famtune holds about it, or erase it (PIN)."""

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
