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
from engine.domain import families
from engine.schema.profiles import MAX_PROFILE_BYTES, parse_profile_text


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
    profile = parse_profile_text(read_input(args.file, "profile", MAX_PROFILE_BYTES))
    ft = open_engine(args)
    change = actions.profile_change(ft, profile)
    if change.needs_pin:
        require_parental_pin(ft, "change safety settings", stdin_free=args.file != "-")
    actions.save_profile(ft, change.profile, actor="system")
    ft.close()
    created = change.created
    verb = "imported" if created else "updated"
    return Result({"familyId": profile.family_id, "created": created,
                   "members": len(profile.members)},
                  f"{verb} family {profile.family_id} ({len(profile.members)} members)")


def cmd_export(args: argparse.Namespace) -> Result:
    if args.out:
        check_output_file(Path(args.out), "the profile")
    ft = open_engine(args)
    document = actions.load_profile(ft, args.family_id).to_json()
    ft.close()
    if args.out:
        write_json_private(Path(args.out), document)  # refuses a directory, device or pipe
        return Result({"familyId": args.family_id, "path": args.out},
                      f"exported {args.family_id} to {args.out}")
    return Result(document, json.dumps(document, indent=2, ensure_ascii=False))


def cmd_list(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    with ft.db.read() as session:
        rows = []
        for fam in families.list_families(session):
            profile = families.get_profile(session, family_id=fam.id)
            rows.append({"familyId": fam.id, "familyName": fam.family_name,
                         "members": len(profile.members), "demo": fam.is_demo})
    ft.close()
    text = "\n".join(f"{r['familyId']:<24} {r['members']} members"
                     f"{' (demo)' if r['demo'] else ''}" for r in rows) or "no families"
    return Result({"families": rows}, text)


def cmd_delete(args: argparse.Namespace) -> Result:
    ft = open_engine(args)
    with ft.db.read() as session:
        families.get_profile(session, family_id=args.family_id)  # NotFound before any PIN
    require_parental_pin(ft, "delete a family")
    with ft.db.write() as session:
        families.delete_family(session, family_id=args.family_id)
    ft.close()
    return Result({"familyId": args.family_id, "deleted": True},
                  f"deleted family {args.family_id}")
