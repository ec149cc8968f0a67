"""``pin recovery-code``, ``pin recover`` and ``pin reset``: the ways back from a forgotten
parental PIN.

``pin recovery-code`` reads the current PIN from stdin and prints a new recovery code (shown
once; it replaces any earlier code).
``pin recover`` reads the recovery code and then the new PIN from stdin (one a line, hidden
at a terminal), sets the PIN and prints the new recovery code that replaces the used one.
``pin reset --yes`` is the device owner's last resort when the code is lost too: it clears
the PIN and the recovery code; only root or the data directory's owner may run it.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine import app as actions
from engine.base.errors import FamtuneError
from engine.cli.common import Result, open_engine, read_line


def register(pin: Any, common: argparse.ArgumentParser) -> None:
    pin.add_parser(
        "recovery-code",
        parents=[common],
        help="make a new recovery code (the current PIN on stdin); prints it once",
    ).set_defaults(func=cmd_pin_recovery_code)
    pin.add_parser(
        "recover",
        parents=[common],
        help="set a new PIN with the recovery code: the code on the first line of stdin, "
        "the new PIN on the second; prints the new recovery code",
    ).set_defaults(func=cmd_pin_recover)
    reset = pin.add_parser(
        "reset",
        parents=[common],
        help="the device owner's last resort: clear the PIN and its recovery code "
        "(root or the data directory's owner only)",
    )
    reset.add_argument("--yes", action="store_true", help="really clear the PIN")
    reset.set_defaults(func=cmd_pin_reset)


def cmd_pin_recovery_code(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        if not actions.pin_is_set(engine.ft):
            raise FamtuneError("no parental PIN is set; set one with 'famtune-engine pin set'")
        given = read_line("PIN: ")
        code = actions.new_recovery_code(engine.ft, given)
    return Result(
        {"recoveryCode": code},
        f"recovery code {code} (shown once: write it down and keep it away from the device)",
    )


def cmd_pin_recover(args: argparse.Namespace) -> Result:
    with open_engine(args) as engine:
        code = read_line("Recovery code: ")
        new = read_line("New PIN: ")
        result = actions.recover_pin(engine.ft, code, new)
    if not result.ok:
        raise FamtuneError(result.message)
    return Result(
        {"pinSet": True, "recoveryCode": result.new_code},
        f"new PIN set. The old recovery code is used up; the new one is {result.new_code} "
        "(write it down and keep it away from the device)",
    )


def cmd_pin_reset(args: argparse.Namespace) -> Result:
    if not args.yes:
        raise FamtuneError("this clears the parental PIN; run it again with --yes to do it")
    with open_engine(args) as engine:
        was_set = actions.reset_pin(engine.ft).was_set
    return Result(
        {"pinSet": False, "wasSet": was_set},
        "parental PIN cleared: choose a new one under Parents in the app",
    )
