"""What every command shares: the result shape, file reading and opening the engine."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import app as actions
from engine.base.errors import FamtuneError, ValidationFailed
from engine.base.ids import check_id

MAX_INPUT_BYTES = 64 * 1024 * 1024


@dataclass
class Result:
    """A command's answer: ``data`` is printed with --json, ``text`` otherwise."""

    data: Any
    text: str = ""
    exit_code: int = 0
    lines: list[str] = field(default_factory=list)


def open_engine(args: argparse.Namespace) -> actions.Engine:
    """The data directory named by --home and --profile (opening it reads nothing; use it
    in a ``with`` block, which closes it)."""
    return actions.Engine(getattr(args, "home", None), getattr(args, "profile", None))


def read_input(path: str, what: str, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """Read a file named on the command line ('-' is stdin) with a plain error if it fails."""
    if path == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        p = Path(path)
        if not p.is_file():
            raise FamtuneError(f"{what} {path} does not exist or is not a file")
        if p.stat().st_size > max_bytes:
            raise ValidationFailed("", f"{what} {path} is too large (limit {max_bytes} bytes)")
        data = p.read_bytes()
    if len(data) > max_bytes:
        raise ValidationFailed("", f"{what} is too large (limit {max_bytes} bytes)")
    return data


# Arguments that name a family or a member, and the field each is reported as. Every one is
# an id (engine.base.ids) before any command runs: ids become directory names.
ID_ARGUMENTS = {"family_id": "familyId", "family": "familyId", "member": "userId"}


def check_id_arguments(args: argparse.Namespace) -> None:
    """ValidationFailed (exit 1, one line naming the field) for a family or member argument
    that is not an id, before the command touches anything."""
    for name, field_name in ID_ARGUMENTS.items():
        value = getattr(args, name, None)
        for one in value if isinstance(value, list) else [value]:
            if one is not None:
                check_id(one, field_name)


def read_line(prompt: str) -> str:
    """One line from the keyboard (hidden) or from piped stdin."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def require_parental_pin(
    engine: actions.Engine, purpose: str, *, stdin_free: bool = True
) -> None:
    """When a parental PIN is set, take it from $FAMTUNE_PIN or stdin and check it.

    A wrong PIN is counted and audited even though the command then fails.
    """
    if not actions.pin_is_set(engine.ft):
        return
    given = os.environ.get("FAMTUNE_PIN") or (read_line("Parental PIN: ") if stdin_free
                                               else "")
    actions.require_pin(engine.ft, pin=given or None, purpose=purpose)
