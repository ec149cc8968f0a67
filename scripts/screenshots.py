"""Render every screen of the famtune app offscreen and write docs/screenshots/<screen>.png.

    .venv/bin/python scripts/screenshots.py [--size 1024x600] [--out docs/screenshots]

First run is live: an empty data directory, the real set-up in the background (it assembles
the base model) while the five steps are filled in with taps and the on-screen keyboard. Then
the demo family is loaded into another temporary data directory. PIN recovery and the
on-screen keyboard over a dialog are live dialogs, drawn over the window they belong to (a
dialog is its own window). Where cage and grim are installed, the keyboard is also shown
under the real kiosk stack (``kiosk-keyboard-cage.png``, grim's screenshot of cage's output,
1280x720). Two fake model versions and a replayed training run give the model screen
something to show; nothing here trains or runs the LLM.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEvent, QPoint, Qt  # noqa: E402
from PySide6.QtGui import QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QPushButton, QScrollArea, QWidget  # noqa: E402

PIN = "2468"


def wait(app: QApplication, done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not done():
        app.processEvents()
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    for _ in range(5):
        app.processEvents()
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def grab_over(app: QApplication, window: QWidget, dialog: QWidget, path: Path) -> None:
    """The window with a dialog over it, centred, as the compositor shows it."""
    for _ in range(8):
        app.processEvents()
    dialog.adjustSize()
    for _ in range(3):
        app.processEvents()
    picture = window.grab()
    shown = dialog.grab()
    painter = QPainter(picture)
    painter.setOpacity(0.55)
    painter.fillRect(picture.rect(), Qt.GlobalColor.black)
    painter.setOpacity(1.0)
    corner = QPoint(
        max(0, (picture.width() - shown.width()) // 2),
        max(0, (picture.height() - shown.height()) // 2),
    )
    painter.drawPixmap(corner, shown)
    painter.end()
    picture.save(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def first_run(app: QApplication, root: Path, size: tuple[int, int], out: Path, sfx: str) -> None:
    """The guided set-up, live: welcome, then the five steps, typed and tapped."""
    from famtune_gui.mainwindow import MainWindow
    from famtune_gui.session import EngineSession
    from famtune_gui.widgets.keyboard import enable_keyboard

    session = EngineSession(root / "empty", "development")
    window = MainWindow(session)
    window.resize(*size)
    window.show()
    window.activateWindow()
    setup: Any = window.first_run
    grab(app, window, out / f"firstrun{sfx}.png")
    enable_keyboard(True)
    setup.start_button.click()
    setup.name_page.field.edit.setFocus()
    wait(app, lambda: window.keyboard.isVisible(), 5)
    window.keyboard.type_text("Rivera")
    grab(app, window, out / f"setup-name{sfx}.png")
    window.keyboard.key("hide").click()
    setup.next_button.click()
    members = setup.members_page
    for name, age, who, interests in (
        ("Ana", 39, "parent", ["art", "cooking"]),
        ("Leo", 5, "child", ["animals", "building"]),
        ("Mia", 11, "child", ["science"]),
    ):
        members.name.edit.setText(name)
        members.age.set_value(age)
        members.role_choice._pick(who)
        for interest in interests:
            members.interests.chips[interest].click()
        members.add_button.click()
    members.name.edit.setText("Grandpa Joe")
    members.age.set_value(71)
    members.role_choice._pick("grandparent")
    window.keyboard.detach()
    grab(app, window, out / f"setup-members{sfx}.png")
    setup.next_button.click()
    setup.pin_page.pad.type_pin(PIN)
    setup.pin_page.pad.type_pin(PIN)
    grab(app, window, out / f"setup-pin{sfx}.png")
    setup.next_button.click()
    grab(app, window, out / f"setup-limits{sfx}.png")
    setup.next_button.click()
    grab(app, window, out / f"setup-code{sfx}.png")
    setup.next_button.click()  # Finish: waits for the set-up in the background
    wait(app, lambda: window.first_run is None, 180)
    home: Any = window.screen_named("home")
    wait(app, lambda: home.last_batch is not None and session.bridge.pending == 0, 60)
    grab(app, window, out / f"setup-done-home{sfx}.png")
    enable_keyboard(False)
    window.close()
    session.close()


def prepare_home(home: Path) -> None:
    from engine.domain import pin
    from engine.domain.home import Famtune
    from engine.domain.interactions import InteractionLog
    from engine.domain.modelstore import ModelStore
    from engine.gguf import ADAPTER_GGUF

    ft = Famtune(home, profile="development")
    ft.initialize(demo=True, training_cache=False)
    with ft.db.write() as session:
        pin.set_pin(session, PIN)
    store = ModelStore(ft)
    for version, (activate, perf, reason) in enumerate(
        [(True, 0.58, None), (False, 0.41, "it picked worse than the general ideas")], 1
    ):
        staged = store.staging_dir("smith-family")
        (staged / ADAPTER_GGUF).write_bytes(b"screenshot adapter %d" % version)
        store.commit(
            "smith-family",
            staged,
            {"baseSha256": "0" * 64, "datasetHash": "d" * 64},
            activate=activate,
            status="active" if activate else "rejected",
            reason=reason,
            scores={"performanceScore": perf, "baselineScore": 0.44, "safetyScore": 0.99},
            interactions_used=60,
        )
    learning = InteractionLog(ft)
    context = {
        "timeOfDay": "evening",
        "dayOfWeek": "saturday",
        "familyMembers": ["dad-john", "child-emma"],
        "environmentalFactors": ["home"],
    }
    learning.record_many(
        "smith-family",
        [
            {
                "member": "child-emma",
                "itemId": "bubble-chase-on-the-lawn",
                "outcome": "accepted",
                "context": context,
            }
        ]
        * 7,
    )
    ft.close()


def fake_training(window: Any) -> None:
    """Replay a short training run into the model screen (no real training)."""
    from famtune_gui.training_view import TrainingUpdate

    screen = window.screens["models"]
    panel = screen.training
    panel.started()
    total = 40
    for step in range(1, 29):
        loss = 2.6 * (0.93**step) + 0.35 + 0.05 * ((step * 7) % 3)
        panel.apply(
            TrainingUpdate(
                "progress",
                f"Step {step} of {total} · loss {loss:.3f} · 412 tokens/s · 1104 MB",
                fraction=step / total,
                loss=loss,
                eta_s=(total - step) * 4.2,
            )
        )
    screen.progress_line.setText("Training now: 70% done, about 50 s left.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1024x600")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if (width, height) == (1024, 600) else f"-{width}x{height}"

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    from famtune_gui.mainwindow import MainWindow
    from famtune_gui.session import EngineSession
    from famtune_gui.theme import apply_theme

    apply_theme(app)
    with tempfile.TemporaryDirectory(prefix="famtune-shots-") as tmp:
        first_run(app, Path(tmp), (width, height), out, suffix)

        home = Path(tmp) / "home"
        print("preparing a data directory with the demo family…")
        prepare_home(home)
        # Yesterday at 17:30: an afternoon scene whatever the hour, never in the future
        # (interactions logged "in the future" are refused).
        afternoon = (datetime.now() - timedelta(days=1)).replace(hour=17, minute=30)
        session = EngineSession(home, "development", local_clock=lambda: afternoon)
        window = MainWindow(session)
        window.resize(width, height)
        window.show()
        home_screen: Any = window.screens["home"]
        wait(app, lambda: home_screen.last_batch is not None and session.bridge.pending == 0, 60)
        grab(app, window, out / f"home{suffix}.png")

        # The same cards as the family model would label them (the badge and the status line).
        from dataclasses import replace

        from engine.general.recommendation import Source
        from engine.recommend.service import Batch

        batch = home_screen.last_batch
        mixed = [
            replace(r, source=Source.FAMILY_MODEL, model_version=1) if i < 3 else r
            for i, r in enumerate(batch.recommendations)
        ]
        home_screen._request += 1
        home_screen._show(home_screen._request, Batch(mixed, Source.FAMILY_MODEL, model_version=1))
        home_screen.cards.cards[0].mark("accepted")
        home_screen.cards.cards[0].stars.rate(4)
        grab(app, window, out / f"home-family-model{suffix}.png")

        window.show_screen("family")
        wait(app, lambda: session.bridge.pending == 0)
        grab(app, window, out / f"family{suffix}.png")
        family: Any = window.screens["family"]
        family.page_choice.set_value("family")
        family._page("family")
        grab(app, window, out / f"family-preferences{suffix}.png")
        from engine.base.errors import ValidationFailed

        family.page_choice.set_value("members")
        family._page("members")
        family.show_validation_error(
            ValidationFailed("members[1].age", "Input should be less than or equal to 120")
        )
        grab(app, window, out / f"family-error{suffix}.png")
        window.banner.hide()

        # The on-screen keyboard over a dialog (Family → Add), typed with its keys.
        from famtune_gui.recovery import RecoveryDialog
        from famtune_gui.widgets.dialogs import TextPrompt
        from famtune_gui.widgets.keyboard import enable_keyboard

        enable_keyboard(True)
        family._ask_new_member()
        prompt = next(w for w in app.topLevelWidgets() if isinstance(w, TextPrompt))
        prompt.keyboard.type_text("Ana-Maria")
        grab_over(app, window, prompt, out / f"keyboard-dialog{suffix}.png")
        prompt.reject()

        parents: Any = window.show_screen("parents")
        grab(app, window, out / f"parents-gate{suffix}.png")
        # PIN recovery: the code typed on the on-screen keys, then the new code, shown once
        with session.ft.db.write() as db:
            from engine.domain import pin_recovery
            code = pin_recovery.issue_recovery_code(db)
        parents.gate.forgot_button.click()
        recovery = next(w for w in app.topLevelWidgets() if isinstance(w, RecoveryDialog))
        recovery.keyboard.type_text(code)
        grab_over(app, window, recovery, out / f"recovery-code{suffix}.png")
        recovery.next_button.click()
        recovery.pad.type_pin(PIN)
        recovery.pad.type_pin(PIN)
        wait(app, lambda: recovery.step == "done")
        grab_over(app, window, recovery, out / f"recovery-done{suffix}.png")
        recovery.accept()
        enable_keyboard(False)
        window.banner.hide()
        parents.gate.pad.type_pin(PIN)
        wait(app, lambda: session.lock.unlocked)
        grab(app, window, out / f"parents-content{suffix}.png")
        # Time limits: the demo's bedtime window edited as a parent would, tapping "Screens"
        # (offered first), the editor scrolled to what is paused; then Done and Save, and the
        # saved row reads "no screens, …".
        from engine.schema.profiles import SCREENS

        parents.tabs.setCurrentIndex(1)
        time_limits = parents.time_limits
        row = time_limits.row_widgets[0]
        next(b for b in row.findChildren(QPushButton) if b.text() == "Edit").click()
        editor = time_limits.editor
        editor.categories.chips[SCREENS].click()
        for _ in range(5):
            app.processEvents()
        area = parents.tabs.currentWidget()
        assert isinstance(area, QScrollArea)
        area.ensureWidgetVisible(editor.done_button, 0, 12)
        grab(app, window, out / f"parents-time-editor{suffix}.png")
        editor.done_button.click()
        parents.save_button.click()
        wait(app, lambda: session.bridge.pending == 0 and not parents.dirty)
        window.banner.hide()
        # The replaced rows were deleteLater()'d; without a running event loop they would linger
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        grab(app, window, out / f"parents-time-limits{suffix}.png")
        parents.tabs.setCurrentIndex(2)
        wait(app, lambda: session.bridge.pending == 0)
        grab(app, window, out / f"parents-data{suffix}.png")
        parents.tabs.setCurrentIndex(3)
        wait(app, lambda: session.bridge.pending == 0)
        parents.audit.verify()
        wait(app, lambda: session.bridge.pending == 0)
        grab(app, window, out / f"parents-audit{suffix}.png")
        parents.tabs.setCurrentIndex(4)
        grab(app, window, out / f"parents-switches{suffix}.png")

        models: Any = window.show_screen("models")
        wait(app, lambda: session.bridge.pending == 0)
        fake_training(window)
        grab(app, window, out / f"models-summary{suffix}.png")
        models.details_button.click()  # the numbers, under Details
        grab(app, window, out / f"models{suffix}.png")

        # Real samples of this machine, taken quickly and then spread over the chart's two
        # minutes; latency and tokens/s are illustrative values (no LLM runs here).
        hub = session.metrics
        for i in range(60):
            hub.sample()
            if i % 5 == 0:
                hub.log("recommend.latency_ms", 40 + (i * 13) % 70)
                hub.log("inference.tokens_per_s", 70 + (i * 7) % 12)
            hub.log("train.loss", 2.4 * 0.95**i + 0.3)
            time.sleep(0.02)
        now = time.monotonic()
        for buf in hub.series.values():
            n = len(buf)
            spread = [(now - 118 + 118 * k / max(1, n - 1), v) for k, (_t, v) in enumerate(buf)]
            buf.clear()
            buf.extend(spread)
        window.show_screen("metrics")
        wait(app, lambda: session.bridge.pending == 0)
        grab(app, window, out / f"metrics{suffix}.png")

        window.overlay.dim(duration_ms=1)
        wait(app, lambda: window.overlay.alpha > 200, 2)
        grab(app, window, out / f"dimmed{suffix}.png")
        window.close()
        session.close()
        if not suffix:
            kiosk(home, out)
    return 0


def kiosk(home: Path, out: Path) -> None:
    """The keyboard under the real kiosk stack, where cage and grim are installed."""
    import importlib.util

    script = ROOT / "scripts" / "kiosk_keyboard.py"
    spec = importlib.util.spec_from_file_location("kiosk_keyboard", script)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reason = module.missing()
    if reason:
        print(f"kiosk-keyboard-cage.png not made: {reason}")
        return
    result = module.run_under_cage(home, out / "kiosk-keyboard-cage.png")
    print(f"wrote kiosk-keyboard-cage.png (typed {result['typed']!r} under cage)")


if __name__ == "__main__":
    raise SystemExit(main())
