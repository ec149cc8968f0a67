"""``catalog list | add | remove``: the built-in and custom activities."""

from __future__ import annotations

import argparse
from typing import Any

from engine import app as actions
from engine.base.vocabulary import RATINGS
from engine.cli.common import Result, open_engine, read_input, require_parental_pin


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("catalog", parents=[common], help="the activity catalog")
    act = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)

    lst = act.add_parser("list", parents=[common], help="list activities")
    lst.add_argument(
        "--category",
        choices=actions.CATEGORIES,
        metavar="C",
        help="only activities in this category",
    )
    lst.add_argument(
        "--rating",
        choices=RATINGS,
        metavar="R",
        help="only activities rated R or lower (G < PG < PG-13 < R)",
    )
    lst.set_defaults(func=cmd_list)

    add = act.add_parser(
        "add", parents=[common], help="add or replace custom activities, all or nothing"
    )
    add.add_argument(
        "file",
        metavar="FILE",
        help="an activity object, a list, or {\"activities\": [...]} ('-' for stdin)",
    )
    add.set_defaults(func=cmd_add)

    rem = act.add_parser("remove", parents=[common], help="remove a custom activity")
    rem.add_argument("item_id", metavar="ID")
    rem.set_defaults(func=cmd_remove)


def _row(item: actions.CatalogItem) -> str:
    ages = f"{item.min_age}+" if item.max_age is None else f"{item.min_age}-{item.max_age}"
    return (
        f"{item.id:<36} {item.content_rating:<5} {ages:<6} {item.duration_minutes:>4}m "
        f"{','.join(item.categories):<28} {item.title}"
    )


def cmd_list(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        items = actions.list_activities(engine.ft, category=args.category, rating=args.rating)
    header = f"{'ID':<36} {'RATED':<5} {'AGES':<6} {'TIME':>5} {'CATEGORIES':<28} TITLE"
    text = "\n".join([header, *(_row(i) for i in items)]) if items else "no activities"
    return Result({"activities": [i.to_json() for i in items]}, text)


def cmd_add(args: argparse.Namespace) -> Result:
    raw = read_input(args.file, "activity file", actions.MAX_CATALOG_FILE_BYTES)
    activities = actions.read_activities(raw)  # every item is valid before a PIN is asked
    with open_engine(args) as engine:
        require_parental_pin(engine, "change the activity catalog", stdin_free=args.file != "-")
        ids = actions.add_activities(engine.ft, activities=activities).ids
    return Result(
        {"added": list(ids), "count": len(ids)},
        f"added {len(ids)} custom activit{'y' if len(ids) == 1 else 'ies'}: " + ", ".join(ids),
    )


def cmd_remove(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        actions.check_removable(engine.ft, item_id=args.item_id)
        require_parental_pin(engine, "change the activity catalog")
        actions.remove_activity(engine.ft, item_id=args.item_id)
    return Result({"id": args.item_id, "removed": True}, f"removed custom activity {args.item_id}")
