"""Family models: train now shows progress (real event dataclasses when the training package
has them), cancel stops between events, rollback changes the active version, delete."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.domain.modelstore import ModelStore
from engine.gguf import ADAPTER_GGUF
from famtune_gui.mainwindow import MainWindow
from famtune_gui.screens.models import ModelsScreen
from famtune_gui.session import EngineSession
from famtune_gui.widgets.dialogs import ConfirmDialog
from tests.gui.conftest import WAIT_MS, settle, tap
from tests.gui.fake_training import FakeJob


def _models(qtbot: QtBot, window: MainWindow, session: EngineSession) -> ModelsScreen:
    screen = window.show_screen("models")
    assert isinstance(screen, ModelsScreen)
    settle(qtbot, session)
    qtbot.waitUntil(lambda: screen.overview is not None, timeout=WAIT_MS)
    return screen


def _commit(store: ModelStore, *, perf: float, activate: bool = True) -> int:
    staged = store.staging_dir("smith-family")
    (staged / ADAPTER_GGUF).write_bytes(b"not really an adapter")
    info = store.commit(
        "smith-family",
        staged,
        {"baseSha256": "b" * 64, "datasetHash": "d" * 64},
        activate=activate,
        status="active" if activate else "rejected",
        reason=None if activate else "safety score too low",
        scores={"performanceScore": perf, "baselineScore": 0.4, "safetyScore": 0.99},
        interactions_used=60,
    )
    return info.version


def test_status_waits_for_data_without_a_model(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    screen = _models(qtbot, window, session)
    assert screen.status.text() == "Learning from your taps: 0 of 10 so far"
    assert "first family model needs 10" in screen.details.text()
    assert not screen.rollback_button.isEnabled() and not screen.delete_button.isEnabled()


def test_train_now_shows_progress_and_the_outcome(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    job = FakeJob(steps=6)
    session.train_factory = job
    screen = _models(qtbot, window, session)
    events: list[Any] = []
    session.training_event.connect(lambda _f, e: events.append(e))
    with qtbot.waitSignal(session.training_ended, timeout=WAIT_MS) as ended:
        tap(screen.train_button)
        assert screen.cancel_button.isEnabled() and not screen.train_button.isEnabled()
        assert screen.status.text() == "Training now…"
    assert ended.args == ["smith-family", "finished"]
    kinds = [u.kind for u in screen.training.updates]
    assert kinds == ["phase"] + ["progress"] * 6 + ["outcome"]
    assert len(events) == 8 and job.closed
    assert [p.y() for p in screen.training.chart.points] == [2.0 / s for s in range(1, 7)]
    assert screen.training.progress.value() == 1000
    assert screen.training.updates[3].message.startswith("Step 3 of 6 · loss 0.667")
    assert screen.training.updates[-1].message.startswith("Version 1 is now active")
    assert session.metrics.latest("train.loss") == 2.0 / 6
    assert screen.train_button.isEnabled() and not screen.cancel_button.isEnabled()


def test_cancel_stops_the_job_between_events(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    job = FakeJob(steps=400, pause_s=0.01)
    session.train_factory = job
    screen = _models(qtbot, window, session)
    tap(screen.train_button)
    qtbot.waitUntil(lambda: len(screen.training.updates) >= 3, timeout=WAIT_MS)
    with qtbot.waitSignal(session.training_ended, timeout=WAIT_MS) as ended:
        tap(screen.cancel_button)
    assert ended.args == ["smith-family", "cancelled"]
    assert job.closed and job.cancel_seen and job.produced < 400
    assert "cancelled" in screen.training.phase.text()
    assert not any(u.kind == "outcome" for u in screen.training.updates)
    assert screen.train_button.isEnabled() and not session.training


def test_rollback_changes_the_active_version(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    store = ModelStore(session.ft)
    _commit(store, perf=0.5)
    _commit(store, perf=0.7)
    screen = _models(qtbot, window, session)
    screen.refresh()
    settle(qtbot, session)
    assert screen.status.text() == "Active: version 2"
    assert [v.version for v in screen.versions.items()] == [2, 1]
    screen.list.setCurrentIndex(screen.versions.index(1))
    screen.list.clicked.emit(screen.versions.index(1))
    assert screen.rollback_button.isEnabled()
    tap(screen.rollback_button)
    dialog = next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, ConfirmDialog) and w.isVisible()
    )
    tap(dialog.confirm_button)
    qtbot.waitUntil(lambda: screen.status.text() == "Active: version 1", timeout=WAIT_MS)
    active = store.active("smith-family")
    assert active is not None and active.version == 1


def test_delete_removes_every_version(
    qtbot: QtBot, window: MainWindow, session: EngineSession
) -> None:
    store = ModelStore(session.ft)
    _commit(store, perf=0.5)
    _commit(store, perf=0.2, activate=False)
    screen = _models(qtbot, window, session)
    screen.refresh()
    settle(qtbot, session)
    assert screen.status.text() == "Version 2 was not used: safety score too low"
    dialog = screen.confirm_delete()
    assert dialog is not None
    dialog.accept()
    qtbot.waitUntil(lambda: screen.versions.rowCount() == 0, timeout=WAIT_MS)
    assert store.versions("smith-family") == []
