"""``recommend``: safe recommendations for a family in a context."""

from __future__ import annotations

import argparse
from typing import Any

from engine import app as actions
from engine.cli.common import Result, open_engine, read_input


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("recommend", parents=[common], help="recommend activities for now")
    p.add_argument("--family", required=True, metavar="F")
    p.add_argument(
        "--member", metavar="M", help="recommend for this member only"
    )
    p.add_argument(
        "--context",
        metavar="CONTEXT.json",
        help="the request context ('-' for stdin; default: now, whole family)",
    )
    p.add_argument("-n", type=int, default=5, metavar="N", help="how many (1-20, default 5)")
    p.set_defaults(func=cmd_recommend)


def cmd_recommend(args: argparse.Namespace) -> Result:
    context = None  # now, the whole family
    if args.context:
        raw = read_input(args.context, "context", actions.MAX_CONTEXT_BYTES)
        context = actions.read_context(raw)
    with open_engine(args) as engine:
        batch = actions.recommend(
            engine.facade, args.family, context, args.member, n=args.n
        ).batch
    lines = [
        f"{i}. {r.title} [{r.category}, {r.source.value}] - {r.reason}"
        for i, r in enumerate(batch.recommendations, 1)
    ]
    if batch.fallback_reason:
        lines.append(f"(family model unavailable: {batch.fallback_reason})")
    return Result(batch.to_json(), "\n".join(lines) or "nothing suitable right now")
