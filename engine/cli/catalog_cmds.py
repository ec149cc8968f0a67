"""``catalog list | add | remove``: the built-in and custom activities."""

from __future__ import annotations

import argparse
from typing import Any

from engine.base.errors import FamtuneError, NotFound
from engine.base.vocabulary import RATINGS
from engine.cli.common import Result, open_engine, read_input, require_parental_pin
from engine.domain.catalog import (
    CATEGORIES,
    MAX_CATALOG_FILE_BYTES,
    Catalog,
    CatalogItem,
    activities_of,
    builtin_ids,
    parse_catalog_item,
)
from engine.schema.profiles import load_json_text


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("catalog", parents=[common], help="the activity catalog")
    act = p.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)

    lst = act.add_parser("list", parents=[common], help="list activities")
    lst.add_argument(
        "--category", choices=CATEGORIES, metavar="C", help="only activities in this category"
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


def _row(item: CatalogItem) -> str:
    ages = f"{item.min_age}+" if item.max_age is None else f"{item.min_age}-{item.max_age}"
    return (
        f"{item.id:<36} {item.content_rating:<5} {ages:<6} {item.duration_minutes:>4}m "
        f"{','.join(item.categories):<28} {item.title}"
    )


def cmd_list(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    try:
        items = Catalog(ft).items()
    finally:
        ft.close()
    if args.category:
        items = [i for i in items if args.category in i.categories]
    if args.rating:
        limit = RATINGS.index(args.rating)
        items = [i for i in items if i.rating_rank <= limit]
    header = f"{'ID':<36} {'RATED':<5} {'AGES':<6} {'TIME':>5} {'CATEGORIES':<28} TITLE"
    text = "\n".join([header, *(_row(i) for i in items)]) if items else "no activities"
    return Result({"activities": [i.to_json() for i in items]}, text)


def cmd_add(args: argparse.Namespace) -> Result:
    raw = read_input(args.file, "activity file", MAX_CATALOG_FILE_BYTES)
    activities = activities_of(load_json_text(raw, "activity file", MAX_CATALOG_FILE_BYTES))
    for i, data in enumerate(activities):  # every item is valid before a PIN is asked
        parse_catalog_item(data, where=f"activities[{i}]", source="custom")
    ft = open_engine(args)
    try:
        require_parental_pin(ft, "change the activity catalog", stdin_free=args.file != "-")
        ids = Catalog(ft).add_custom(activities)
    finally:
        ft.close()
    return Result(
        {"added": ids, "count": len(ids)},
        f"added {len(ids)} custom activit{'y' if len(ids) == 1 else 'ies'}: " + ", ".join(ids),
    )


def cmd_remove(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    try:
        catalog = Catalog(ft)
        if args.item_id in builtin_ids():
            raise FamtuneError(f"{args.item_id!r} is a built-in activity and cannot be removed")
        if not any(i.id == args.item_id and i.source == "custom" for i in catalog.items()):
            raise NotFound(f"no custom activity {args.item_id!r}")
        require_parental_pin(ft, "change the activity catalog")
        catalog.remove_custom(args.item_id)
    finally:
        ft.close()
    return Result({"id": args.item_id, "removed": True}, f"removed custom activity {args.item_id}")
