"""``simulate``: a synthetic interaction history for a family, from the family simulator."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.base.errors import FamtuneError, ValidationFailed
from engine.cli.common import Result, open_engine
from engine.domain import families
from engine.domain.catalog import Catalog
from engine.sim.recommenders import app_recommender
from engine.sim.simulator import MAX_RECORDS, FamilySimulator, Recommender, Record
from engine.sim.tastes import ARCHETYPES, Archetype

RECORDS_PER_DAY = 10  # a rough rate, only for the first guess of a start date


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_RECORDS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_RECORDS}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("must be from 0 to 2**63-1")
    return value


def _start(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return at if at.utcoffset() is not None else at.replace(tzinfo=timezone.utc)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("simulate", parents=[common],
                       help="synthetic interaction history for a family")  # fmt: skip
    p.add_argument(
        "--family", required=True, metavar="F", help="an existing family"
    )
    p.add_argument("--interactions", required=True, type=_count, metavar="N",
                   help="how many interactions to generate")  # fmt: skip
    p.add_argument("--seed", required=True, type=_seed, metavar="S")
    p.add_argument("--archetype", choices=ARCHETYPES, default="random",
                   help="the family's hidden leaning (default: random)")  # fmt: skip
    p.add_argument(
        "--start",
        type=_start,
        metavar="ISO",
        help="time of the first session (default: early enough to end before now)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.jsonl",
        help="write the interactions to this file instead of storing them",
    )
    p.set_defaults(func=cmd_simulate)


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


def cmd_simulate(args: argparse.Namespace) -> Result:
    archetype: Archetype = args.archetype
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise FamtuneError(f"cannot write {out}: {out.parent} is not a directory")
    ft = open_engine(args)
    try:
        with ft.db.read() as session:
            profile = families.get_profile(session, family_id=args.family)
        catalog = Catalog(ft).items()
        sim = FamilySimulator(profile, catalog, args.seed, archetype=archetype)
        shows = app_recommender(profile, catalog, seed=args.seed)
        n = args.interactions
        if args.start is None:
            records = _recent_history(sim, n, shows)
        else:
            records = sim.simulate(n, shows, start=args.start)
            if records and datetime.fromisoformat(records[-1]["at"]) > datetime.now(timezone.utc):
                raise ValidationFailed(
                    "start",
                    f"{n} interactions from {args.start.isoformat()} would run into "
                    "the future; choose an earlier --start",
                )
        if out is None:
            from engine.domain.interactions import InteractionLog

            InteractionLog(ft).record_many(args.family, records)
        else:
            _write_jsonl(out, records)
    finally:
        ft.close()
    counts = Counter(r["outcome"] for r in records)
    data: dict[str, Any] = {
        "familyId": args.family, "interactions": len(records),
        "accepted": counts["accepted"], "dismissed": counts["dismissed"],
        "completed": counts["completed"], "rated": counts["rated"], "shown": counts["shown"],
        "from": records[0]["at"] if records else None,
        "to": records[-1]["at"] if records else None,
        "seed": args.seed, "archetype": archetype,
    }  # fmt: skip
    if out is not None:
        data["out"] = str(out)
    where = f"wrote them to {out}" if out is not None else "stored them"
    text = (f"simulated {len(records)} interactions for {args.family} "
            f"({counts['accepted']} accepted, {counts['dismissed']} dismissed, "
            f"{counts['completed']} completed, {counts['rated']} rated) from {data['from']} "
            f"to {data['to']}; {where}")  # fmt: skip
    return Result(data, text)
