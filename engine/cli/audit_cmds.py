"""``audit list | verify``, ``pin set | check``, ``data export | erase``, ``backup``, ``restore``.

PINs are read from stdin (one per line) so that they never appear in the process list or the
shell history; ``data erase`` also accepts ``$FAMTUNE_PIN``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from engine import app as actions
from engine.base.errors import FamtuneError
from engine.base.fileio import check_output_file
from engine.cli import pin_recovery_cmds
from engine.cli.common import (
    Result,
    open_engine,
    read_line,
    require_parental_pin,
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("audit", parents=[common], help="the audit trail")
    aud = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    lst = aud.add_parser("list", parents=[common], help="recent audit events, newest first")
    lst.add_argument(
        "--type",
        dest="event_type",
        choices=actions.AUDIT_EVENT_TYPES,
        metavar="T",
        help="only events of this type",
    )
    lst.add_argument(
        "--family", metavar="F", help="only events about this family"
    )
    lst.add_argument("--limit", type=int, default=200, metavar="N", help="at most N events")
    lst.set_defaults(func=cmd_audit_list)
    ver = aud.add_parser("verify", parents=[common], help="check the audit hash chain")
    ver.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("pin", parents=[common], help="the parental PIN (read from stdin)")
    pin = p.add_subparsers(dest="pin_command", metavar="ACTION", required=True)
    pin.add_parser(
        "set",
        parents=[common],
        help="set the PIN; to change it give the current PIN on the first line "
        "and the new one on the second",
    ).set_defaults(func=cmd_pin_set)
    pin.add_parser("check", parents=[common], help="check a PIN (exit 0 when right)").set_defaults(
        func=cmd_pin_check
    )
    pin_recovery_cmds.register(pin, common)

    p = sub.add_parser("data", parents=[common], help="data rights: export and erase")
    data = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    exp = data.add_parser(
        "export", parents=[common], help="everything stored about a family, as JSON"
    )
    exp.add_argument("family_id", metavar="F")
    exp.add_argument("out", metavar="OUT.json")
    exp.set_defaults(func=cmd_data_export)
    era = data.add_parser(
        "erase",
        parents=[common],
        help="erase a family or one member (needs the PIN when one is set: stdin or $FAMTUNE_PIN)",
    )
    era.add_argument("family_id", metavar="F")
    era.add_argument("--member", metavar="M", help="erase only this member")
    era.set_defaults(func=cmd_data_erase)

    p = sub.add_parser(
        "backup", parents=[common], help="write a .tar.gz backup of the data directory"
    )
    p.add_argument("out", metavar="OUT", help="archive to write, or a directory to write it in")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser(
        "restore", parents=[common], help="restore a backup into an empty or new --home"
    )
    p.add_argument("archive", metavar="IN")
    p.add_argument(
        "--force", action="store_true", help="replace the data of a non-empty data directory"
    )
    p.set_defaults(func=cmd_restore)


# -- audit ----------------------------------------------------------------------------------


def cmd_audit_list(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        rows = actions.audit_trail(
            engine.ft, event_type=args.event_type, family_id=args.family, limit=args.limit
        )
    text = "\n".join(
        f"{r['id']:>6} {r['createdAt'][:19]} {r['eventType']:<18} "
        f"{r['familyId'] or '-':<20} {r['actor']}"
        for r in rows
    )
    return Result({"events": rows}, text or "no audit events")


def cmd_audit_verify(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        report = actions.verify_audit(engine.ft)
    if not report.ok:
        sys.stderr.write(f"famtune-engine: error: {report.message}\n")
    return Result(report.to_json(), report.message, exit_code=0 if report.ok else 1)


# -- pin ------------------------------------------------------------------------------------


def cmd_pin_set(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        current = read_line("Current PIN: ") if actions.pin_is_set(engine.ft) else None
        new = read_line("New PIN: ")
        actions.validate_pin(new)
        created = actions.set_pin(engine.ft, new, current)
    return Result(
        {"pinSet": True, "changed": not created},
        "parental PIN set" if created else "parental PIN changed",
    )


def cmd_pin_check(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        given = read_line("PIN: ")
        result = actions.check_pin(engine.ft, given)
    if not result.is_set:
        raise FamtuneError("no parental PIN is set; set one with 'famtune-engine pin set'")
    if not result.ok:
        raise actions.PinRejected(result)
    return Result({"ok": True}, result.message)


# -- data rights ----------------------------------------------------------------------------


def cmd_data_export(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        out = check_output_file(Path(args.out), "the export")
        done = actions.export_data(engine.ft, args.family_id, out)
    return Result(
        {
            "familyId": args.family_id,
            "path": str(out),
            "interactions": done.interactions,
            "auditEvents": done.audit_events,
        },
        f"exported everything stored about {args.family_id} to {out}",
    )


def cmd_data_erase(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        given = None
        if actions.pin_is_set(engine.ft):
            given = os.environ.get("FAMTUNE_PIN") or read_line("Parental PIN: ") or None
        summary = actions.erase_data(engine.ft, args.family_id, args.member, given)
    what = f"member {args.member} of {args.family_id}" if args.member else args.family_id
    return Result(
        summary,
        f"erased {what}: {summary['interactions']} interactions, "
        f"{summary['modelVersions']} model versions, "
        f"{summary['files']} files",
    )


def cmd_backup(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        done = actions.backup(engine.ft, out=Path(args.out))
    return Result(done.summary, f"backup written to {done.summary['path']} "
                                f"({done.summary['files']} files)")


def cmd_restore(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        if engine.ft.initialized and args.force:
            # Replacing a data directory replaces its PIN, safety settings and audit trail:
            # the current PIN is needed when one is set (the archive is checked first).
            actions.check_backup(archive=Path(args.archive))
            require_parental_pin(engine, "replace this data directory with a backup")
    done = actions.restore(archive=Path(args.archive), home=engine.ft.data.root,
                           force=args.force)
    return Result(
        done.summary,
        f"restored {done.summary['families']} families into {done.summary['home']}; "
        f"run 'famtune-engine init' to re-create the base model",
    )
