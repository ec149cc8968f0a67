"""Simulate: a synthetic interaction history for a family, from the family simulator, stored
in the interaction log or written to a JSONL file."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.app.families import load_profile
from engine.base.errors import FamtuneError, ValidationFailed
from engine.domain.catalog import Catalog
from engine.domain.interactions import InteractionLog
from engine.sim.recommenders import app_recommender
from engine.sim.simulator import MAX_RECORDS, FamilySimulator, Recommender, Record
from engine.sim.tastes import ARCHETYPES, Archetype

__all__ = ["ARCHETYPES", "MAX_RECORDS", "Archetype", "Simulation", "simulate"]

RECORDS_PER_DAY = 10  # a rough rate, only for the first guess of a start date


@dataclass(frozen=True)
class Simulation:
    """What was simulated: how many interactions of each outcome, from when to when, and
    where they went (``out``, or stored in the interaction log when None)."""

    family_id: str
    count: int
    outcomes: dict[str, int]
    first: str | None
    last: str | None
    seed: int
    archetype: Archetype
    out: Path | None


def _midnight(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _shift(records: list[Record], by: timedelta) -> list[Record]:
    moved: list[Record] = []
    for record in records:
        context = dict(record["context"])
        context["at"] = (datetime.fromisoformat(context["at"]) + by).isoformat()
        at = (datetime.fromisoformat(record["at"]) + by).isoformat()
        moved.append({**record, "context": context, "at": at})
    return moved


def _recent_history(sim: FamilySimulator, n: int, shows: Recommender) -> list[Record]:
    """``n`` records that end in the week before now: a first run measures how long the
    history lasts, a second starts that long ago, and whole weeks of shift (weekdays and times
    of day stay true) make up for the difference."""
    now = datetime.now().astimezone()
    probe = sim.simulate(n, shows, start=_midnight(now) - timedelta(days=n // RECORDS_PER_DAY + 1))
    if not probe:
        return probe
    span = datetime.fromisoformat(probe[-1]["at"]) - datetime.fromisoformat(probe[0]["at"])
    records = sim.simulate(n, shows, start=_midnight(now - span) - timedelta(days=1))
    end = datetime.fromisoformat(records[-1]["at"])
    limit = now - timedelta(minutes=1)
    weeks = -((end - limit) // timedelta(weeks=1)) - 1  # the most weeks that keep end <= limit
    return _shift(records, timedelta(weeks=weeks)) if weeks else records


def _write_jsonl(path: Path, records: list[Record]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def simulate(
    log: InteractionLog,
    *,
    family_id: str,
    count: int,
    seed: int,
    archetype: Archetype = "random",
    start: datetime | None = None,
    out: Path | None = None,
) -> Simulation:
    """``count`` interactions of the family with the app's own recommender, from ``start``
    (default: early enough to end in the week before now); stored all or nothing, or written
    to ``out`` instead. A ``start`` that would run into the future is refused."""
    if out is not None and not out.parent.is_dir():
        raise FamtuneError(f"cannot write {out}: {out.parent} is not a directory")
    ft = log.ft
    profile = load_profile(ft, family_id)
    catalog = Catalog(ft).items()
    sim = FamilySimulator(profile, catalog, seed, archetype=archetype)
    shows = app_recommender(profile, catalog, seed=seed)
    if start is None:
        records = _recent_history(sim, count, shows)
    else:
        records = sim.simulate(count, shows, start=start)
        if records and datetime.fromisoformat(records[-1]["at"]) > datetime.now(timezone.utc):
            raise ValidationFailed(
                "start",
                f"{count} interactions from {start.isoformat()} would run into "
                "the future; choose an earlier --start",
            )
    if out is None:
        log.record_many(family_id, records)
    else:
        _write_jsonl(out, records)
    outcomes = Counter(r["outcome"] for r in records)
    return Simulation(
        family_id=family_id,
        count=len(records),
        outcomes=dict(outcomes),
        first=records[0]["at"] if records else None,
        last=records[-1]["at"] if records else None,
        seed=seed,
        archetype=archetype,
        out=out,
    )
