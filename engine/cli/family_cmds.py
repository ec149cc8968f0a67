"""``family import | export | list | delete``: profiles in the seed's JSON shape."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine import app as actions
from engine.base.fileio import check_output_file, write_json_private
from engine.cli.common import (
    Result,
    open_engine,
    read_input,
    require_parental_pin,
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("family", parents=[common], help="family profiles")
    fam = p.add_subparsers(dest="family_command", metavar="ACTION", required=True)

    imp = fam.add_parser("import", parents=[common], help="import or replace a profile")
    imp.add_argument("file", metavar="FILE", help="profile JSON ('-' for stdin)")
    imp.set_defaults(func=cmd_import)

    exp = fam.add_parser("export", parents=[common], help="export a profile")
    exp.add_argument("family_id", metavar="ID")
    exp.add_argument("out", metavar="OUT", nargs="?", help="file to write (default: stdout)")
    exp.set_defaults(func=cmd_export)

    lst = fam.add_parser("list", parents=[common], help="list families")
    lst.set_defaults(func=cmd_list)

    dele = fam.add_parser("delete", parents=[common], help="delete a family and its data")
    dele.add_argument("family_id", metavar="ID")
    dele.set_defaults(func=cmd_delete)


def cmd_import(args: argparse.Namespace) -> Result:
    raw = read_input(args.file, "profile", actions.MAX_PROFILE_BYTES)
    profile = actions.read_profile(raw)
    with open_engine(args) as engine:
        change = actions.profile_change(engine.ft, profile)
        if change.needs_pin:
            require_parental_pin(engine, "change safety settings", stdin_free=args.file != "-")
        actions.save_profile(engine.ft, change.profile, actor="system")
    created = change.created
    verb = "imported" if created else "updated"
    return Result({"familyId": profile.family_id, "created": created,
                   "members": len(profile.members)},
                  f"{verb} family {profile.family_id} ({len(profile.members)} members)")


def cmd_export(args: argparse.Namespace) -> Result:
    if args.out:
        check_output_file(Path(args.out), "the profile")
    with open_engine(args) as engine:
        document = actions.load_profile(engine.ft, args.family_id).to_json()
    if args.out:
        write_json_private(Path(args.out), document)  # refuses a directory, device or pipe
        return Result({"familyId": args.family_id, "path": args.out},
                      f"exported {args.family_id} to {args.out}")
    return Result(document, json.dumps(document, indent=2, ensure_ascii=False))


def cmd_list(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        rows = [{"familyId": f.family_id, "familyName": f.family_name,
                 "members": f.members, "demo": f.demo}
                for f in actions.family_summaries(engine.ft)]
    text = "\n".join(f"{r['familyId']:<24} {r['members']} members"
                     f"{' (demo)' if r['demo'] else ''}" for r in rows) or "no families"
    return Result({"families": rows}, text)


def cmd_delete(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        actions.require_family(engine.ft, family_id=args.family_id)  # NotFound before any PIN
        require_parental_pin(engine, "delete a family")
        actions.delete_family(engine.ft, family_id=args.family_id)
    return Result({"familyId": args.family_id, "deleted": True},
                  f"deleted family {args.family_id}")
