"""The bridge: operations run off the GUI thread and hand results back on it; the generator
worker emits each event and stops between events when cancelled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from engine.base.errors import FamtuneError
from famtune_gui.bridge import Bridge, GeneratorWorker


def test_run_op_runs_in_the_background_and_answers_on_the_gui_thread(qtbot: QtBot) -> None:
    bridge = Bridge()
    gui = threading.get_ident()
    seen: dict[str, Any] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    def done(value: int) -> None:
        seen["value"], seen["handler"] = value, threading.get_ident()

    bridge.run_op(work, done)
    qtbot.waitUntil(lambda: "value" in seen)
    assert seen["value"] == 42 and seen["handler"] == gui and seen["worker"] != gui
    assert bridge.pending == 0
    bridge.shutdown()


def test_failures_go_to_the_failure_handler_or_the_error_handler(qtbot: QtBot) -> None:
    bridge = Bridge()
    errors: list[tuple[str, str]] = []
    bridge.error_handler = lambda exc, what: errors.append((str(exc), what))
    failed: list[BaseException] = []

    def boom() -> None:
        raise FamtuneError("the family is not there")

    bridge.run_op(boom, on_failure=failed.append)
    bridge.run_op(boom, what="reading")
    bridge.run_op(
        lambda: 1, lambda _v: (_ for _ in ()).throw(RuntimeError("handler bug")), what="showing"
    )
    qtbot.waitUntil(lambda: len(errors) == 2 and len(failed) == 1)
    assert str(failed[0]) == "the family is not there"
    assert ("the family is not there", "reading") in errors
    assert ("handler bug", "showing") in errors
    bridge.shutdown()


def test_handlers_of_a_deleted_owner_are_skipped(qtbot: QtBot) -> None:
    bridge = Bridge()
    owner = QWidget()
    gate = threading.Event()
    called: list[int] = []
    bridge.run_op(lambda: gate.wait(5), lambda _v: called.append(1), owner=owner)
    owner.deleteLater()
    qtbot.wait(20)
    gate.set()
    qtbot.waitUntil(lambda: bridge.pending == 0)
    assert called == []
    bridge.shutdown()


def _events(
    cancel: threading.Event, n: int = 20, pause: float = 0.01, state: dict[str, Any] | None = None
) -> Iterator[int]:
    state = state if state is not None else {}
    try:
        for i in range(n):
            state["produced"] = i + 1
            yield i
            time.sleep(pause)
    finally:
        state["closed"] = True
        state["flag"] = cancel.is_set()


def test_generator_worker_emits_every_event_then_finished(qtbot: QtBot) -> None:
    bridge = Bridge()
    worker = GeneratorWorker(lambda c: _events(c, 5), bridge.model)
    got: list[int] = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignal(worker.finished, timeout=5000) as blocker:
        worker.start()
    assert got == [0, 1, 2, 3, 4] and blocker.args == [4] and not worker.running
    bridge.shutdown()


def test_generator_worker_cancels_between_events_and_closes_the_generator(qtbot: QtBot) -> None:
    bridge = Bridge()
    state: dict[str, Any] = {}
    worker = GeneratorWorker(lambda c: _events(c, 1000, 0.005, state), bridge.model)
    worker.wind_down_s = 0.05  # this generator ignores the flag: closed after the wind-down
    got: list[int] = []
    worker.yielded.connect(got.append)
    worker.yielded.connect(lambda i: worker.cancel() if i == 2 else None)
    finished: list[Any] = []
    worker.finished.connect(finished.append)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start()
    assert state["closed"] and state["flag"] and finished == []
    assert state["produced"] < 1000 and got[:3] == [0, 1, 2]
    bridge.shutdown()


def test_generator_worker_reports_a_failure(qtbot: QtBot) -> None:
    bridge = Bridge()

    def broken(_cancel: threading.Event) -> Iterator[int]:
        yield 1
        raise FamtuneError("out of memory while training")

    worker = GeneratorWorker(broken, bridge.model)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    assert str(blocker.args[0]) == "out of memory while training"
    bridge.shutdown()


def test_a_cooperative_job_winds_down_on_its_own(qtbot: QtBot) -> None:
    bridge = Bridge()
    state: dict[str, Any] = {}

    def job(cancel: threading.Event) -> Iterator[str]:
        for i in range(1000):
            if cancel.is_set():
                yield "cleaned up"  # e.g. the engine's "cancelled" outcome
                state["stopped_at"] = i
                return
            yield f"step {i}"
            time.sleep(0.005)

    worker = GeneratorWorker(job, bridge.model)
    got: list[str] = []
    worker.yielded.connect(got.append)
    worker.yielded.connect(lambda e: worker.cancel() if e == "step 2" else None)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start()
    assert state["stopped_at"] < 1000 and "cleaned up" not in got
    bridge.shutdown()
