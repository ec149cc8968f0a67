"""Train now with the real pipeline behind the Models screen: the worker subprocess trains
the family's LoRA adapter and its progress events reach the screen (progress bar, loss
curve); the GUI thread's 10 ms heartbeat never stalls more than 50 ms meanwhile; Cancel
stops it between steps and nothing is published."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from engine.domain.home import Famtune
from engine.domain.modelstore import ModelStore
from engine.training.events import Progress
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.models import ModelsScreen
from famtune_gui.session import EngineSession
from tests.gui.conftest import WAIT_MS, settle, tap
from tests.gui.test_responsiveness import MAX_STALL_MS

TRAIN_WAIT_MS = 600_000  # loading the model and the first step on a busy 2-core machine


def test_real_training_shows_progress_and_cancel_publishes_nothing(
    qtbot: QtBot,
    training_cache: Path,
    smith_home: Path,
    make_session: Any,
    record_property: Callable[[str, object], None],
) -> None:
    from engine.cli.main import main as engine_cli

    assert training_cache.is_dir()
    (smith_home / "famtune.toml").write_text("epochs = 3\n")
    assert engine_cli(["--home", str(smith_home), "simulate", "--family", "smith-family",
                       "--interactions", "120", "--seed", "5"]) == 0  # fmt: skip
    session: EngineSession = make_session(smith_home)
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.resize(1024, 600)
    window.show()
    qtbot.waitUntil(lambda: session.profile is not None, timeout=WAIT_MS)
    screen = window.show_screen("models")
    assert isinstance(screen, ModelsScreen)
    settle(qtbot, session)
    steps: list[Progress] = []
    session.training_event.connect(
        lambda _f, e: steps.append(e) if isinstance(e, Progress) else None
    )
    tap(screen.train_button)
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=TRAIN_WAIT_MS)
    qtbot.waitUntil(lambda: bool(screen.training.chart.points), timeout=WAIT_MS)
    assert steps[0].total_steps > 1 and steps[0].rss_mb > 0
    assert 0 < screen.training.progress.value() < 1000
    assert session.metrics.latest("train.loss") == steps[-1].loss
    ticks: list[float] = []
    beat = QTimer()
    beat.setInterval(10)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    beat.start()
    qtbot.wait(3000)
    beat.stop()
    assert session.training  # the heartbeat ran while the worker trained
    max_gap = max((b - a) * 1000 for a, b in itertools.pairwise(ticks))
    record_property("max_heartbeat_gap_training_ms", round(max_gap, 1))
    assert len(ticks) > 150 and max_gap < MAX_STALL_MS
    with qtbot.waitSignal(session.training_ended, timeout=TRAIN_WAIT_MS) as ended:
        tap(screen.cancel_button)
    assert ended.args[0] == "smith-family" and ended.args[1] in ("cancelled", "finished")
    assert not session.training and screen.train_button.isEnabled()
    assert steps[-1].step < steps[-1].total_steps  # stopped before the end
    ft = Famtune(smith_home, profile="development")
    try:
        assert ModelStore(ft).versions("smith-family") == []
        assert not list((smith_home / "models").rglob("adapter.gguf"))
    finally:
        ft.close()
