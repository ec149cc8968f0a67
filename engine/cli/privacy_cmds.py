"""``privacy scrub``: run the privacy filter on a text with a family's names as the deny-list."""

from __future__ import annotations

import argparse
from typing import Any

from engine import app as actions
from engine.base.errors import ValidationFailed
from engine.cli.common import Result, open_engine, read_input

MAX_TEXT_BYTES = 1024 * 1024


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("privacy", parents=[common], help="personal-data filter")
    priv = p.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)

    scrub = priv.add_parser(
        "scrub",
        parents=[common],
        help="replace personal data in TEXT with typed placeholders",
    )
    scrub.add_argument(
        "--family",
        required=True,
        metavar="F",
        help="family whose members' names are always removed",
    )
    scrub.add_argument(
        "--level",
        choices=("standard", "strict"),
        default=None,
        help="standard keeps the text with placeholders, strict keeps no text "
        "(default: the configuration's privacy_level)",
    )
    scrub.add_argument("text", metavar="TEXT", help="the text ('-' reads stdin)")
    scrub.set_defaults(func=cmd_scrub)


def _read_text(arg: str) -> str:
    if arg != "-":
        return arg
    data = read_input("-", "text", MAX_TEXT_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("", "the text on stdin is not UTF-8") from None


def cmd_scrub(args: argparse.Namespace) -> Result:
    text = _read_text(args.text)
    with open_engine(args) as engine:
        scrubbed = actions.scrub_text(engine.ft, family_id=args.family, text=text,
                                      level=args.level)
    result = scrubbed.result
    summary = (
        result.text
        if scrubbed.level == "standard"
        else (f"(strict: no text kept; {len(result.entities)} entities found)")
    )
    return Result(result.to_json(), summary)
