"""``init``, ``status`` and ``config show``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine import app as actions
from engine.cli.common import Result, open_engine


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("init", parents=[common], help="create and prepare the data directory")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo family")
    p.add_argument("--skip-training-cache", action="store_true",
                   help="do not prepare the training copy of the base model now")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("status", parents=[common], help="health of the data directory")
    p.add_argument("--verify", action="store_true",
                   help="also re-hash the base model (a few seconds)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("config", parents=[common], help="configuration")
    config_sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", parents=[common],
                                 help="the effective configuration and its sources")
    show.set_defaults(func=cmd_config_show)


def cmd_init(args: argparse.Namespace) -> Result:
    quiet = bool(getattr(args, "json", False))

    def say(message: str) -> None:
        if not quiet:
            sys.stderr.write(f"  {message}\n")

    with open_engine(args) as engine:
        report = actions.initialize(engine.ft, say, demo=not args.no_demo,
                                    training_cache=not args.skip_training_cache)
    return Result(report, f"famtune is ready in {report['home']}")


def cmd_status(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        found = actions.home_status(engine.ft, verify=args.verify)
    status = found.document
    if not found.initialized:
        return Result(status, f"{status['home']}: not initialized (run 'famtune-engine init')")
    base = status["baseModel"]
    lines = [f"data directory: {status['home']} (profile {status['profile']})",
             f"base model: {base['path'] or 'none'} ({'ok' if base['ok'] else 'NOT OK'})",
             f"families: {', '.join(str(f['familyId']) for f in status['families']) or 'none'}",
             f"health: {status['health']}"]
    lines += [f"  problem: {problem}" for problem in found.problems]
    return Result(status, "\n".join(lines))


def cmd_config_show(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        doc = actions.effective_config(engine.ft).to_json()
    width = max(len(k) for k in doc["config"])
    lines = [f"profile: {doc['profile']}"]
    lines += [f"  {k:<{width}}  {v!r:<28} ({doc['sources'].get(k, '')})"
              for k, v in doc["config"].items()]
    return Result(doc, "\n".join(lines))
