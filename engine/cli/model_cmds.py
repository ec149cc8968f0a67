"""``train``, ``models list | info | validate | rollback | delete`` and ``metrics``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine import app as actions
from engine.cli.common import Result, open_engine, require_parental_pin


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="fine-tune the family's model now")
    p.add_argument("--family", required=True, metavar="F")
    p.add_argument(
        "--force", action="store_true", help="train even if the retraining threshold is not reached"
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", parents=[common], help="the family model store")
    act = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    act.add_parser("list", parents=[common], help="every version").set_defaults(func=cmd_list)
    info = act.add_parser("info", parents=[common], help="a family's active model")
    info.add_argument("family_id", metavar="F")
    info.set_defaults(func=cmd_info)
    act.add_parser("validate", parents=[common], help="check every active model").set_defaults(
        func=cmd_validate
    )
    rb = act.add_parser("rollback", parents=[common], help="serve an earlier version")
    rb.add_argument("family_id", metavar="F")
    rb.add_argument("--to", type=int, metavar="V", help="version (default: the previous one)")
    rb.set_defaults(func=cmd_rollback)
    de = act.add_parser("delete", parents=[common], help="delete a family's models")
    de.add_argument("family_id", metavar="F")
    de.set_defaults(func=cmd_delete)

    p = sub.add_parser("metrics", parents=[common], help="integration metrics")
    p.set_defaults(func=cmd_metrics)


def _progress(event: actions.TrainingEvent) -> str | None:
    if isinstance(event, actions.TrainingProgress):
        eta = f", about {event.eta_s:.0f} s left" if event.eta_s is not None else ""
        return (
            f"  step {event.step}/{event.total_steps}  loss {event.loss:.4f}  "
            f"{event.tokens_per_s:.0f} tok/s  {event.rss_mb:.0f} MB{eta}"
        )
    message = getattr(event, "message", None)
    return f"  {message}" if message else None


def cmd_train(args: argparse.Namespace) -> Result:
    quiet = args.quiet
    outcome: actions.TrainingEvent | None = None
    with open_engine(args) as engine:
        for event in actions.train(engine.models(), family_id=args.family, force=args.force):
            outcome = event
            line = None if quiet else _progress(event)
            if line:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
    if not isinstance(outcome, actions.TrainOutcome):  # the stream always ends with one
        raise RuntimeError("the training job ended without an outcome")
    doc = outcome.to_json()
    verb = (
        ("activated" if doc["activated"] else "kept inactive") if doc["created"] else "not created"
    )
    text = f"model for {args.family}: {verb}"
    if doc["version"] is not None:
        text += f" (version {doc['version']})"
    return Result(doc, f"{text}. {doc['reason']}")


def cmd_list(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        versions = [v.to_json() for v in actions.list_models(engine.models())]
    lines = [
        f"{v['familyId']:<20} v{v['version']:<3} {v['status']:<9} "
        f"perf {v['performanceScore']} safety {v['safetyScore']}"
        for v in versions
    ]
    return Result({"models": versions}, "\n".join(lines) or "no family models yet")


def cmd_info(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        found = actions.model_info(engine.models(), family_id=args.family_id)
    info = found.active
    versions = [v.to_json() for v in found.versions]
    doc = {
        "familyId": args.family_id,
        "active": info.to_json() if info else None,
        "versions": versions,
        "interactionsSinceLastModel": found.waiting,
    }
    text = (
        f"{args.family_id}: version {info.version} active since "
        f"{info.last_updated:%Y-%m-%d %H:%M}, performance {info.performance_score}, "
        f"safety {info.safety_score}"
        if info
        else f"{args.family_id}: no active model ({len(versions)} versions kept)"
    )
    return Result(doc, text)


def cmd_validate(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        results = actions.validate_all(engine.models())
    text = "\n".join(f"{f}: {'valid' if ok else 'INVALID'}" for f, ok in results.items())
    return Result(
        {"results": results, "valid": all(results.values())},
        text or "no active models",
        exit_code=0 if all(results.values()) else 1,
    )


def cmd_rollback(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        models = engine.models()
        actions.require_versions(models, family_id=args.family_id)  # before any PIN is asked
        require_parental_pin(engine, "roll back a family model")
        info = actions.rollback(models, args.family_id, args.to)
    return Result(info.to_json(), f"{args.family_id} now serves version {info.version}")


def cmd_delete(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        models = engine.models()
        actions.require_models(models, family_id=args.family_id)
        require_parental_pin(engine, "delete family models")
        actions.delete_models(models, args.family_id)
    return Result(
        {"familyId": args.family_id, "deleted": True}, f"deleted every model of {args.family_id}"
    )


def cmd_metrics(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        metrics = actions.integration_metrics(engine.models()).to_json()
    return Result(metrics, "\n".join(f"{k}: {v}" for k, v in metrics.items()))
