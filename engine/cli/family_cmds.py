"""``family import | export | list | delete``: profiles in the seed's JSON shape."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.base.fileio import check_output_file
from engine.cli.common import (
    Result,
    open_engine,
    read_input,
    require_parental_pin,
    write_json_file,
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
    cap = ft.config.max_content_rating_cap
    families.check_rating_cap(profile, cap)
    with ft.db.read() as session:
        old = (families.get_profile(session, family_id=profile.family_id)
               if families.family_exists(session, family_id=profile.family_id) else None)
    if families.needs_pin_to_replace(old, profile):
        require_parental_pin(ft, "change safety settings", stdin_free=args.file != "-")
    with ft.db.write() as session:
        created = families.save_profile(session, profile=profile, rating_cap=cap)
    ft.close()
    verb = "imported" if created else "updated"
    return Result({"familyId": profile.family_id, "created": created,
                   "members": len(profile.members)},
                  f"{verb} family {profile.family_id} ({len(profile.members)} members)")


def cmd_export(args: argparse.Namespace) -> Result:
    if args.out:
        check_output_file(Path(args.out), "the profile")
    ft = open_engine(args)
    with ft.db.read() as session:
        document = families.get_profile(session, family_id=args.family_id).to_json()
    ft.close()
    if args.out:
        write_json_file(Path(args.out), document)  # refuses a directory, device or pipe
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
