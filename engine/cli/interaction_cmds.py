"""``interactions add | import | list``: record, bulk-load and list scrubbed interactions."""

from __future__ import annotations

import argparse
from typing import Any

from engine import app as actions
from engine.cli.common import Result, open_engine, read_input


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("interactions", parents=[common], help="the interaction log")
    act = p.add_subparsers(dest="interactions_command", metavar="ACTION", required=True)

    add = act.add_parser("add", parents=[common], help="record one interaction")
    add.add_argument("--family", required=True, metavar="F")
    add.add_argument("--member", required=True, metavar="M")
    add.add_argument("--item", required=True, metavar="ID")
    add.add_argument("--outcome", required=True, choices=actions.OUTCOMES)
    add.add_argument("--rating", type=int, metavar="N", help="1-5, only with --outcome rated")
    add.add_argument("--note", metavar="TEXT", help="free text (scrubbed before it is stored)")
    add.add_argument(
        "--context",
        required=True,
        metavar="CONTEXT.json",
        help="the request context ('-' for stdin)",
    )
    add.set_defaults(func=cmd_add)

    imp = act.add_parser(
        "import", parents=[common], help="bulk-load interactions from JSONL, all or nothing"
    )
    imp.add_argument("--family", required=True, metavar="F")
    imp.add_argument("file", metavar="FILE.jsonl", help="one JSON object a line ('-' for stdin)")
    imp.set_defaults(func=cmd_import)

    lst = act.add_parser("list", parents=[common], help="list a family's interactions")
    lst.add_argument("--family", required=True, metavar="F")
    lst.add_argument("--member", metavar="M")
    lst.add_argument("--limit", type=_positive, metavar="N", help="only the newest N")
    lst.set_defaults(func=cmd_list)


def _line(view: actions.InteractionView) -> str:
    rating = f" ({view.rating}/5)" if view.rating is not None else ""
    return (
        f"#{view.id:<6} {view.created_at:%Y-%m-%d %H:%M} {view.member_id:<16} "
        f"{view.outcome:<9}{rating} {view.item_id}"
    )


def cmd_add(args: argparse.Namespace) -> Result:
    context = actions.read_context(read_input(args.context, "context", actions.MAX_CONTEXT_BYTES))
    with open_engine(args) as engine:
        view = actions.add_interaction(
            engine.log,
            family_id=args.family,
            member_id=args.member,
            item_id=args.item,
            outcome=args.outcome,
            rating=args.rating,
            context=context,
            note=args.note,
        )
    return Result(view.to_json(), f"recorded {_line(view)}")


def cmd_import(args: argparse.Namespace) -> Result:
    interactions = actions.read_interaction_file(
        read_input(args.file, "interactions file", actions.MAX_IMPORT_BYTES)
    )
    with open_engine(args) as engine:
        done = actions.import_interactions(
            engine.log, family_id=args.family, interactions=interactions
        )
    return Result(
        {"familyId": args.family, "imported": done.count, "seconds": done.seconds},
        f"imported {done.count} interactions into {args.family} in {done.seconds:.1f} s",
    )


def cmd_list(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        views = actions.list_interactions(
            engine.log, family_id=args.family, member_id=args.member, limit=args.limit
        )
    text = "\n".join(_line(v) for v in views) or f"no interactions for {args.family}"
    return Result({"interactions": [v.to_json() for v in views]}, text)
