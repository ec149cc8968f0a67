"""Asking for the parental PIN where an action needs it (saving safety changes, erasing data,
leaving kiosk mode): the keypad dialog, the check in the background, the engine's back-off
shown as a countdown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from PySide6.QtWidgets import QWidget

from engine import app as actions
from engine.app import Famtune, PinCheck
from famtune_gui.session import EngineSession
from famtune_gui.widgets.dialogs import PinDialog

Checker = Callable[[Famtune, str, datetime], PinCheck]


def ask_pin(
    session: EngineSession,
    parent: QWidget,
    title: str,
    on_ok: Callable[[str], None],
    *,
    check: Checker = actions.check_pin,
    unlock: bool = True,
) -> PinDialog:
    """Open the keypad; when the PIN checks out, close it, (optionally) unlock the parental
    lock for this visit and call ``on_ok(pin)``. A wrong PIN keeps the dialog open with the
    engine's message and waits out its back-off."""
    dialog = PinDialog(title, parent=parent, can_recover=True)

    def checked(pin: str, result: PinCheck) -> None:
        if result.ok:
            dialog.accept()
            if unlock:
                session.lock.unlock()
            on_ok(pin)
        elif not result.is_set:
            dialog.accept()
            session.notify("No parental PIN is set yet. Set one under Parents first.", "info")
        else:
            dialog.refused(result.message, result.retry_after_s)

    def failed(exc: BaseException) -> None:
        dialog.refused("The PIN could not be checked. Try again.")
        session.report(exc, "checking the PIN")

    def entered(pin: str) -> None:
        session.run(
            partial(check, session.ft, pin, session.clock()),
            lambda result: checked(pin, result),
            failed,
            owner=dialog,
            what="checking the PIN",
        )

    def forgot() -> None:
        from famtune_gui.recovery import open_recovery

        open_recovery(session, parent)

    dialog.pin_entered.connect(entered)
    dialog.forgot.connect(forgot)
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


def with_pin(
    session: EngineSession, parent: QWidget, title: str, action: Callable[[], None]
) -> None:
    """Run ``action`` now when no PIN is set or the lock is open, else after the PIN."""
    if not session.pin_set or session.lock.unlocked:
        action()
        return
    ask_pin(session, parent, title, lambda _pin: action())
