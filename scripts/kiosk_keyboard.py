"""The on-screen keyboard in the real kiosk stack: run by cage as its Wayland client.

    cage -- python scripts/kiosk_keyboard.py --home DIR --out DIR

It starts famtune's window as ``famtune --kiosk`` does (full screen, the app's own keyboard
on), opens Family → Add (a dialog, a separate Wayland surface), focuses its text field and
taps the on-screen keys for "Kiosk Ok". It writes ``result.json`` (what the field holds,
where the keyboard and the dialog are, Qt's platform) and ``ready`` into --out, keeps the
screen as it is until --out holds ``done`` (a screenshot is taken from outside with grim),
then taps the keyboard's Enter and leaves. ``tests/gui/test_kiosk_cage.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TEXT = "Kiosk Ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    out = Path(args.out)

    app = QApplication([sys.argv[0]])
    from famtune_gui.mainwindow import MainWindow
    from famtune_gui.screens.family import FamilyScreen
    from famtune_gui.session import EngineSession
    from famtune_gui.theme import apply_theme
    from famtune_gui.widgets.dialogs import TextPrompt
    from famtune_gui.widgets.keyboard import enable_keyboard

    apply_theme(app)
    enable_keyboard(True)
    session = EngineSession(args.home, "development")
    window = MainWindow(session, kiosk=True)
    window.showFullScreen()
    started = time.monotonic()
    state: dict[str, Any] = {"step": "wait-profile"}

    def rect(widget: Any) -> list[int]:
        top_left = widget.mapToGlobal(widget.rect().topLeft())
        return [top_left.x(), top_left.y(), widget.width(), widget.height()]

    def tick() -> None:
        if time.monotonic() - started > args.timeout:
            (out / "result.json").write_text(json.dumps({"error": f"stuck at {state['step']}"}))
            app.exit(3)
            return
        step = state["step"]
        if step == "wait-profile" and session.profile is not None:
            family = window.show_screen("family")
            assert isinstance(family, FamilyScreen)
            family._ask_new_member()
            state["step"] = "wait-dialog"
        elif step == "wait-dialog":
            prompt = next(
                (w for w in app.topLevelWidgets() if isinstance(w, TextPrompt) and w.isVisible()),
                None,
            )
            if prompt is not None and prompt.windowHandle() is not None:
                state["prompt"] = prompt
                prompt.activateWindow()
                prompt.edit.setFocus()
                state["step"] = "wait-keyboard"
        elif step == "wait-keyboard":
            prompt = state["prompt"]
            if not prompt.keyboard.isVisible():
                prompt.edit.setFocus()  # the compositor may activate the surface late
                return
            prompt.keyboard.type_text(TEXT)
            state["step"] = "settle"
            state["settle_until"] = time.monotonic() + 1.5
        elif step == "settle" and time.monotonic() > state["settle_until"]:
            prompt = state["prompt"]
            result = {
                "platform": QGuiApplication.platformName(),
                "typed": prompt.edit.text(),
                "keyboardVisible": prompt.keyboard.isVisible(),
                "keyboardInDialog": prompt.keyboard.window() is prompt,
                "dialog": rect(prompt),
                "keyboard": rect(prompt.keyboard),
                "enterKey": rect(prompt.keyboard.key("enter")),
                "screen": [window.width(), window.height()],
            }
            (out / "result.json").write_text(json.dumps(result))
            (out / "ready").write_text("1")
            state["step"] = "wait-done"
        elif step == "wait-done" and (out / "done").exists():
            prompt = state["prompt"]
            prompt.keyboard.key("enter").click()  # OK: the member is added, the dialog closes
            family = window.screens["family"]
            names = [m.get("displayName") for m in (family.doc or {}).get("members", [])]
            result = json.loads((out / "result.json").read_text())
            result["dialogClosed"] = not prompt.isVisible()
            result["memberAdded"] = TEXT in names
            (out / "result.json").write_text(json.dumps(result))
            window._leave()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    code = app.exec()
    session.close()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
