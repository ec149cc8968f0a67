"""The on-screen keyboard in the real kiosk stack (cage, as on the appliance).

    python scripts/kiosk_keyboard.py --home DIR --shot OUT.png [--result OUT.json]

copies the data directory DIR (it needs a family) to a place cage's user can use and starts
``cage -- python scripts/kiosk_keyboard.py --client ...``: famtune's window as ``famtune
--kiosk`` shows it (full screen, the app's own keyboard on) as a Wayland client of cage. The
client opens Family → Add (a dialog, a separate Wayland surface), focuses its text field and
taps the on-screen keys for "Kiosk Ok", writes ``result.json`` (what the field holds, where
the keyboard and the dialog are, Qt's platform) and ``ready``, and keeps the screen until it
sees ``done``; meanwhile ``grim`` takes the screenshot of the composited screen. Then the
client taps the keyboard's Enter (OK) and leaves, and cage with it.

cage refuses to run as root: as root, cage runs as the unprivileged user ``nobody`` with its
own XDG_RUNTIME_DIR (mode 0700) and an interpreter that user can execute (this one, or the
system's python of the same version with this environment's site-packages on PYTHONPATH).
``tests/gui/test_kiosk_cage.py`` and ``scripts/screenshots.py`` run it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

TEXT = "Kiosk Ok"
USER = "nobody"


class CageMissing(RuntimeError):
    """This machine cannot run the kiosk stack; the message says why."""


def missing() -> str | None:
    """Why the kiosk stack cannot run here, or None."""
    for tool in ("cage", "grim"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install cage grim)"
    import PySide6

    platforms = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    if not any(p.name.startswith("libqwayland") for p in platforms.glob("*")):
        return "this PySide6 has no Wayland platform plugin"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cage refuses to run as root"
    return None


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _interpreter() -> tuple[str, str]:
    """(python, PYTHONPATH) that cage's user can run with PySide6."""
    pythonpath = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version) or "", f"/usr/bin/{version}"):
        if not candidate:
            continue
        probe = _as_user([candidate, "-c", "import PySide6.QtWidgets, sqlmodel"])
        env = {**os.environ, "PYTHONPATH": pythonpath}
        if subprocess.run(probe, env=env, capture_output=True, timeout=60).returncode == 0:
            return candidate, pythonpath
    raise CageMissing(f"no Python interpreter that the user {USER!r} can run with PySide6")


def _copy_home(src: Path, dst: Path) -> None:
    """The data directory for cage's user (large files hard-linked where possible)."""

    def copy(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy)


def run_under_cage(home: Path, shot: Path, timeout_s: float = 120.0) -> dict[str, Any]:
    """Type into a dialog with the on-screen keys in famtune under cage; grim's screenshot
    goes to ``shot``. Returns the client's result (see the module's docstring)."""
    reason = missing()
    if reason:
        raise CageMissing(reason)
    python, pythonpath = _interpreter()
    with tempfile.TemporaryDirectory(prefix="famtune-cage-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)
        data, run_dir, out = tmp / "home", tmp / "run", tmp / "out"
        _copy_home(home, data)
        run_dir.mkdir(mode=0o700)
        out.mkdir()
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{USER}:", str(tmp)], check=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(data),
            "XDG_RUNTIME_DIR": str(run_dir),
            "WLR_BACKENDS": "headless",
            "WLR_RENDERER": "pixman",
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "QT_QPA_PLATFORM": "wayland",
            "QT_WAYLAND_DISABLE_WINDOWDECORATION": "1",  # as the systemd unit sets it
            "PYTHONPATH": pythonpath,
        }
        client = [python, str(Path(__file__).resolve()), "--client", "--home", str(data)]
        cmd = _as_user(["cage", "--", *client, "--out", str(out)])
        with (tmp / "cage.log").open("wb") as log:
            cage = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline and not (out / "ready").exists():
                    if cage.poll() is not None or (out / "result.json").exists():
                        break
                    time.sleep(0.2)
                if not (out / "result.json").exists():
                    raise RuntimeError(
                        "the client under cage gave no result:\n"
                        + (tmp / "cage.log").read_text(errors="replace")[-2000:]
                    )
                taken = out / "screen.png"
                grim_env = {**env, "WAYLAND_DISPLAY": "wayland-0"}
                subprocess.run(_as_user(["grim", str(taken)]), env=grim_env, check=True)
                (out / "done").write_text("1")
                result: dict[str, Any] = {"cageExit": cage.wait(timeout=60)}
            finally:
                if cage.poll() is None:
                    cage.kill()
        result.update(json.loads((out / "result.json").read_text()))
        shot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(taken, shot)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, help="a data directory with a family")
    parser.add_argument("--shot", help="where grim's screenshot goes")
    parser.add_argument("--result", help="where the result (JSON) goes; default: stdout")
    parser.add_argument("--client", action="store_true", help="(run by cage) the app side")
    parser.add_argument("--out", help="(client) where result.json, ready and done are")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.client:
        return client(args)
    try:
        result = run_under_cage(Path(args.home), Path(args.shot or "kiosk-keyboard.png"))
    except CageMissing as exc:
        print(f"kiosk_keyboard: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    if args.result:
        Path(args.result).write_text(text + "\n")
    else:
        print(text)
    return 0


def client(args: argparse.Namespace) -> int:
    """famtune in kiosk mode, typing into a dialog with its own keys (run by cage)."""
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
            family: Any = window.screens["family"]
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
