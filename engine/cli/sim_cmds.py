"""``simulate``: a synthetic interaction history for a family, from the family simulator."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine import app as actions
from engine.cli.common import Result, open_engine


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= actions.MAX_RECORDS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {actions.MAX_RECORDS}")
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
    p.add_argument("--archetype", choices=actions.ARCHETYPES, default="random",
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


def cmd_simulate(args: argparse.Namespace) -> Result:
    archetype: actions.Archetype = args.archetype
    out = Path(args.out) if args.out else None
    with open_engine(args) as engine:
        done = actions.simulate(
            engine.log,
            family_id=args.family,
            count=args.interactions,
            seed=args.seed,
            archetype=archetype,
            start=args.start,
            out=out,
        )
    counts = done.outcomes
    data: dict[str, Any] = {
        "familyId": args.family, "interactions": done.count,
        "accepted": counts.get("accepted", 0), "dismissed": counts.get("dismissed", 0),
        "completed": counts.get("completed", 0), "rated": counts.get("rated", 0),
        "shown": counts.get("shown", 0),
        "from": done.first, "to": done.last,
        "seed": args.seed, "archetype": archetype,
    }  # fmt: skip
    if out is not None:
        data["out"] = str(out)
    where = f"wrote them to {out}" if out is not None else "stored them"
    text = (f"simulated {done.count} interactions for {args.family} "
            f"({data['accepted']} accepted, {data['dismissed']} dismissed, "
            f"{data['completed']} completed, {data['rated']} rated) from {data['from']} "
            f"to {data['to']}; {where}")  # fmt: skip
    return Result(data, text)
