"""Entry point of ``famtune-engine``: global options, dispatch, output and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from engine.base.errors import FamtuneError
from engine.cli import (
    audit_cmds,
    catalog_cmds,
    family_cmds,
    interaction_cmds,
    model_cmds,
    privacy_cmds,
    recommend_cmds,
    safety_cmds,
    sim_cmds,
    system_cmds,
)
from engine.cli.common import Result, check_id_arguments

# Each command module adds its sub-commands; later modules append to this list.
COMMAND_MODULES = [
    system_cmds,
    family_cmds,
    safety_cmds,
    privacy_cmds,
    interaction_cmds,
    audit_cmds,
    catalog_cmds,
    sim_cmds,
    recommend_cmds,
    model_cmds,
]


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr and exit code 2, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"famtune-engine: error: {message} (see '{self.prog} --help')\n")


def _global_options(*, suppress: bool) -> argparse.ArgumentParser:
    """--home, --json, --profile: accepted both before and after the command name."""
    default = argparse.SUPPRESS if suppress else None
    parent = _Parser(add_help=False)
    parent.add_argument("--home", default=default, metavar="DIR",
                        help="data directory (default: $FAMTUNE_HOME, else the XDG data dir)")
    parent.add_argument("--profile", default=default, metavar="NAME",
                        help="configuration profile: jetson, development, child-safe, production")
    parent.add_argument("--json", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="print one JSON document on stdout")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="famtune-engine", parents=[_global_options(suppress=False)],
        description="famtune engine: family profiles, safety, recommendations, fine-tuning.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _global_options(suppress=True)
    for module in COMMAND_MODULES:
        module.register(sub, common)
    return parser


def _print(result: Result, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.data, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        text = result.text or json.dumps(result.data, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write(text.rstrip("\n") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("FAMTUNE_LOG", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_id_arguments(args)
        result: Result = args.func(args)
    except FamtuneError as exc:
        sys.stderr.write(f"famtune-engine: error: {_one_line(str(exc))}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("famtune-engine: interrupted\n")
        return 130
    except RecursionError:
        sys.stderr.write("famtune-engine: error: the input is nested too deeply\n")
        return 1
    except OSError as exc:  # a file the command was pointed at: say which and why
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(f"famtune-engine: error: {_one_line(exc.strerror or str(exc))}{where}\n")
        return 1
    except Exception as exc:  # any other failure: still one plain line, never a traceback
        logging.getLogger("famtune").debug("unexpected error", exc_info=True)
        sys.stderr.write(f"famtune-engine: internal error: {type(exc).__name__}: "
                         f"{_one_line(str(exc))}\n")
        return 1
    _print(result, bool(getattr(args, "json", False)))
    return result.exit_code


def _one_line(message: str) -> str:
    return " ".join(message.split())[:500]


if __name__ == "__main__":
    raise SystemExit(main())
