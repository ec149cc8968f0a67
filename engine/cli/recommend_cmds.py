"""``recommend``: safe recommendations for a family in a context."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import Result, open_engine, read_input
from engine.recommend.service import RecommendationService
from engine.safety.windows import local_moment
from engine.schema.context import context_from_clock, parse_context
from engine.schema.profiles import load_json_text

MAX_CONTEXT_BYTES = 64 * 1024


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
    if args.context:
        raw = load_json_text(read_input(args.context, "context", MAX_CONTEXT_BYTES), "context")
        context = parse_context(raw, path="context")
    else:
        context = context_from_clock(local_moment(None))
    ft = open_engine(args)
    service = RecommendationService(ft)
    try:
        batch = service.recommend(args.family, context, args.member, n=args.n)
    finally:
        service.close()
        ft.close()
    lines = [
        f"{i}. {r.title} [{r.category}, {r.source.value}] - {r.reason}"
        for i, r in enumerate(batch.recommendations, 1)
    ]
    if batch.fallback_reason:
        lines.append(f"(family model unavailable: {batch.fallback_reason})")
    return Result(batch.to_json(), "\n".join(lines) or "nothing suitable right now")
