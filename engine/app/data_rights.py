"""A family's data rights: export everything famtune holds about it, or erase it (PIN)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from engine.app.families import write_json
from engine.domain import datarights
from engine.domain.home import Famtune


def export_data(ft: Famtune, family_id: str, path: Path) -> Path:
    return write_json(path, datarights.export_family_data(ft, family_id))


def erase_data(
    ft: Famtune, family_id: str, member_id: str | None, pin: str, now: datetime
) -> dict[str, Any]:
    return datarights.erase_family_data(ft, family_id, member_id, pin=pin, now=now)
