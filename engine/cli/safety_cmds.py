"""``safety check``: would this item be shown to these family members at this time?"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from engine import app as actions
from engine.base.errors import ValidationFailed
from engine.cli.common import Result, open_engine, read_input


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("safety", parents=[common], help="child-safety validation")
    safety = p.add_subparsers(dest="safety_command", metavar="ACTION", required=True)

    chk = safety.add_parser("check", parents=[common], help="judge one item for a family")
    chk.add_argument("--family", required=True, metavar="F", help="family id")
    chk.add_argument(
        "--member",
        action="append",
        default=[],
        metavar="M",
        help="audience member userId (repeatable; default: the whole family)",
    )
    chk.add_argument(
        "--at",
        metavar="ISO8601",
        help="when the item would be shown (naive = local time; default: now)",
    )
    chk.add_argument("item", metavar="ITEM.json", help="item JSON ('-' for stdin)")
    chk.set_defaults(func=cmd_check)


def parse_at(text: str | None) -> datetime | None:
    """ISO 8601 date and time; a trailing 'Z' means UTC. None means now."""
    if text is None:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("--at", f"{text!r} is not an ISO 8601 date and time") from None


def cmd_check(args: argparse.Namespace) -> Result:
    at = parse_at(args.at)
    item = actions.read_item(read_input(args.item, "item", actions.MAX_ITEM_BYTES))
    with open_engine(args) as engine:
        verdict = actions.check_item(
            engine.ft, family_id=args.family, item=item, members=args.member, at=at
        ).verdict
    word = "allowed" if verdict.allowed else "blocked"
    text = f"{item.id}: {word} (safety score {verdict.safety_score:.2f})"
    if verdict.reasons:
        text += ": " + " ".join(r.message for r in verdict.reasons)
    return Result(verdict.to_json(), text)
