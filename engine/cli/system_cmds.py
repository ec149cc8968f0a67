"""``init``, ``status`` and ``config show``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlmodel import col, select

from engine.base.config_load import load_config
from engine.cli.common import Result, open_engine
from engine.db.tables import ModelVersion
from engine.domain import families


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
    ft = open_engine(args)
    quiet = bool(getattr(args, "json", False))

    def say(message: str) -> None:
        if not quiet:
            sys.stderr.write(f"  {message}\n")

    report = ft.initialize(demo=not args.no_demo, training_cache=not args.skip_training_cache,
                           progress=say)
    ft.close()
    return Result(report, f"famtune is ready in {report['home']}")


def cmd_status(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    status: dict[str, Any] = {"home": str(ft.data.root), "initialized": ft.initialized,
                              "profile": ft.resolved_config.profile}
    if not ft.initialized:
        status.update(baseModel=None, families=[], activeModels=[], lastErrors=[],
                      health="not initialized")
        return Result(status, f"{ft.data.root}: not initialized (run 'famtune-engine init')")
    base = ft.check_base_model(full=args.verify)
    problems: list[str] = [] if base["ok"] else [f"base model: {base['error']}"]
    with ft.db.read() as session:
        active = [{"familyId": m.family_id, "version": m.version,
                   "performanceScore": m.performance_score, "safetyScore": m.safety_score}
                  for m in session.exec(select(ModelVersion).where(col(ModelVersion.is_active)))]
        fams = [{"familyId": f.id, "familyName": f.family_name, "demo": f.is_demo}
                for f in families.list_families(session)]
    errors = [{"at": e.created_at.isoformat(), "level": e.level, "component": e.component,
               "message": e.message} for e in ft.recent_events() if e.level == "error"]
    integrity = ft.db.integrity_check()
    if integrity != "ok":
        problems.append(f"database integrity: {integrity}")
    status.update(baseModel=base, families=fams, activeModels=active, lastErrors=errors,
                  database={"path": str(ft.data.database), "integrity": integrity},
                  health="ok" if not problems else "degraded", problems=problems)
    lines = [f"data directory: {ft.data.root} (profile {status['profile']})",
             f"base model: {base['path'] or 'none'} ({'ok' if base['ok'] else 'NOT OK'})",
             f"families: {', '.join(str(f['familyId']) for f in fams) or 'none'}",
             f"health: {status['health']}"]
    lines += [f"  problem: {problem}" for problem in problems]
    ft.close()
    return Result(status, "\n".join(lines))


def cmd_config_show(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    resolved = load_config(ft.data, getattr(args, "profile", None))
    doc = resolved.to_json()
    width = max(len(k) for k in doc["config"])
    lines = [f"profile: {doc['profile']}"]
    lines += [f"  {k:<{width}}  {v!r:<28} ({doc['sources'].get(k, '')})"
              for k, v in doc["config"].items()]
    return Result(doc, "\n".join(lines))
