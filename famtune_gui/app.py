"""Start the famtune window: ``famtune [--kiosk] [--home DIR] [--profile NAME]``.

Without ``--kiosk`` it is an ordinary window. With it: full screen, no decorations, no way
out without the parental PIN, dimming after a while without a tap.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from famtune_gui.mainwindow import IDLE_DIM_MS, MainWindow
from famtune_gui.session import EngineSession
from famtune_gui.systemd_notify import Notifier
from famtune_gui.theme import apply_theme
from famtune_gui.widgets.keyboard import enable_keyboard


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="famtune", description="famtune's touchscreen app")
    parser.add_argument(
        "--kiosk",
        action="store_true",
        help="full screen, no decorations, leave only with the parental PIN",
    )
    parser.add_argument("--home", metavar="DIR", help="data directory (default: $FAMTUNE_HOME)")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="configuration profile (jetson, development, child-safe, ...)",
    )
    parser.add_argument(
        "--keyboard",
        choices=("auto", "on", "off"),
        default="auto",
        help="the app's own on-screen keyboard for text fields (auto: on in kiosk mode)",
    )
    parser.add_argument(
        "--dim-after",
        metavar="S",
        type=int,
        default=IDLE_DIM_MS // 1000,
        help="kiosk: dim the screen after S seconds without a tap",
    )
    args, qt_args = parser.parse_known_args(list(argv))
    return args, qt_args


def wants_keyboard(args: argparse.Namespace) -> bool:
    """Whether text fields get the app's own on-screen keyboard (``--keyboard``; auto: in
    kiosk mode). The keyboard is drawn by the app in its own windows, so it works as a Wayland
    client of cage, where Qt's virtual keyboard refuses to run on the client side."""
    if args.keyboard == "auto":
        return bool(args.kiosk)
    return bool(args.keyboard == "on")


def use_own_keyboard(on: bool) -> None:
    """With the app's keyboard on, Qt's virtual keyboard input method is switched off (it
    fails silently where its module is missing and cannot run under cage); another input
    method the environment chose is left alone."""
    if on and os.environ.get("QT_IM_MODULE") == "qtvirtualkeyboard":
        del os.environ["QT_IM_MODULE"]


def build(args: argparse.Namespace, app: QApplication) -> MainWindow:
    apply_theme(app)
    enable_keyboard(wants_keyboard(args))
    session = EngineSession(args.home, args.profile, settings=QSettings("famtune", "famtune"))
    window = MainWindow(session, kiosk=args.kiosk, idle_dim_ms=max(5, args.dim_after) * 1000)
    if args.kiosk:
        window.setWindowFlags(window.windowFlags() | Qt.WindowType.FramelessWindowHint)
        window.showFullScreen()
    else:
        window.show()
    return window


@dataclass
class Supervision:
    """What ``supervise`` set up: the notifier and the watchdog timer (None without one)."""

    notifier: Notifier
    watchdog_timer: QTimer | None = None

    def stop(self) -> None:
        """The app is quitting: no more pings, and systemd hears STOPPING=1."""
        if self.watchdog_timer is not None:
            self.watchdog_timer.stop()
        self.notifier.stopping("leaving")


def supervise(
    window: MainWindow, app: QCoreApplication, notifier: Notifier | None = None
) -> Supervision:
    """Report to systemd when started as a ``Type=notify`` service (a no-op otherwise):
    READY=1 once the first screen is up and the event loop runs, WATCHDOG=1 every half
    watchdog period from a timer on the GUI thread (a hung GUI thread stops pinging, and
    systemd kills and restarts the app), STOPPING=1 when the app quits."""
    supervision = Supervision(notifier if notifier is not None else Notifier.from_environment())
    if not supervision.notifier.enabled:
        return supervision
    announced: list[bool] = []

    def ready() -> None:
        if not announced:
            announced.append(True)
            supervision.notifier.ready(f"showing {window.title.text()}")

    if window.isVisible():
        QTimer.singleShot(0, window, ready)
    else:
        window.shown.connect(ready)
    # The connections below are lambdas, not bound methods: PySide may drop a connection to a
    # bound method of a plain object once nothing else holds it, and these must outlive the
    # caller's reference (a lost ping connection would have systemd kill a healthy app).
    interval = supervision.notifier.watchdog_interval_ms
    if interval is not None:
        timer = QTimer(window)
        timer.setObjectName("systemd-watchdog")
        timer.timeout.connect(lambda: supervision.notifier.watchdog())
        timer.start(interval)
        supervision.watchdog_timer = timer
    app.aboutToQuit.connect(lambda: supervision.stop())
    return supervision


def stop_on_sigterm(window: MainWindow) -> QTimer:
    """SIGTERM (systemd stopping the service, or shutting down) closes the app cleanly, kiosk
    mode or not. Python runs signal handlers only between bytecodes, so a timer lets the
    interpreter look at least twice a second while Qt's event loop waits."""
    signal.signal(signal.SIGTERM, lambda *_: QTimer.singleShot(0, window, window.system_shutdown))
    tick = QTimer(window)
    tick.setObjectName("signal-tick")
    tick.timeout.connect(lambda: None)
    tick.start(500)
    return tick


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args, qt_args = parse_args(sys.argv[1:] if argv is None else argv)
    use_own_keyboard(wants_keyboard(args))
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("famtune")
    notifier = Notifier.from_environment()
    notifier.status("opening the data directory")
    window = build(args, app)
    supervision = supervise(window, app, notifier)
    stop_on_sigterm(window)
    code = int(app.exec())
    supervision.notifier.close()
    del window
    return code


if __name__ == "__main__":
    raise SystemExit(main())
