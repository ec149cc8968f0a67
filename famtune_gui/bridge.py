"""Where engine calls run: two executors and the way their results come back to the GUI.

- ``db``: one thread for everything that touches SQLite (reads and writes), so writes never
  race each other and the GUI thread never waits on a lock or a disk flush.
- ``model``: heavy model work (recommendations through llama.cpp, validation, training).
  It has two threads so that a long training job does not hold up a recommendation.

``run_op(fn, on_success, on_failure)`` runs ``fn`` on one of them and calls a handler on the
GUI thread with the result, through one queued signal (Anki's ``CollectionOp`` pattern).
``GeneratorWorker`` runs a generator of events (training) and emits each event as a signal,
checking its cancel flag between events (superqt's ``GeneratorWorker`` pattern).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Literal, TypeVar

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")
Lane = Literal["db", "model"]
ErrorHandler = Callable[[BaseException, str], None]
EventFactory = Callable[[threading.Event], Iterator[Any]]


def _log_error(exc: BaseException, what: str) -> None:
    log.error("%s failed", what or "operation", exc_info=exc)


class Bridge(QObject):
    """The executors and the queued signal that brings results back to the GUI thread."""

    _deliver = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="famtune-db")
        self.model = ThreadPoolExecutor(max_workers=2, thread_name_prefix="famtune-model")
        self.error_handler: ErrorHandler = _log_error
        self._pending = 0
        self._closed = False
        self._deliver.connect(self._call, Qt.ConnectionType.QueuedConnection)

    def executor(self, lane: Lane) -> Executor:
        return self.db if lane == "db" else self.model

    @property
    def pending(self) -> int:
        """Operations submitted whose handlers have not run yet."""
        return self._pending

    def run_op(
        self,
        fn: Callable[[], T],
        on_success: Callable[[T], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        *,
        lane: Lane = "db",
        owner: QObject | None = None,
        what: str = "",
    ) -> Future[T]:
        """Run ``fn`` on ``lane``; then ``on_success(result)`` or ``on_failure(exc)`` on the
        GUI thread. Without ``on_failure`` the error goes to ``error_handler``. Handlers of an
        ``owner`` that has been deleted meanwhile are skipped."""
        future: Future[T] = self.executor(lane).submit(fn)
        self._pending += 1
        if self._pending == 1:
            self.busy_changed.emit(True)
        future.add_done_callback(
            lambda f: self._deliver.emit(
                partial(self._finish, f, on_success, on_failure, owner, what)
            )
        )
        return future

    @Slot(object)
    def _call(self, callback: Callable[[], None]) -> None:
        callback()

    def _finish(
        self,
        future: Future[T],
        on_success: Callable[[T], None] | None,
        on_failure: Callable[[BaseException], None] | None,
        owner: QObject | None,
        what: str,
    ) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.busy_changed.emit(False)
        if self._closed or (owner is not None and not shiboken6.isValid(owner)):
            return
        exc = future.exception() if not future.cancelled() else None
        try:
            if future.cancelled():
                return
            if exc is not None:
                if on_failure is not None:
                    on_failure(exc)
                else:
                    self.error_handler(exc, what)
            elif on_success is not None:
                on_success(future.result())
        except Exception as handler_exc:  # a handler's bug must not take the app down
            self.error_handler(handler_exc, what)

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking work; by default wait for running work (SQLite writes) to end."""
        self._closed = True
        self.db.shutdown(wait=wait, cancel_futures=True)
        self.model.shutdown(wait=wait, cancel_futures=True)


class GeneratorWorker(QObject):
    """Runs ``factory(cancel)`` (a generator of events) on an executor; emits each event.

    ``cancel()`` sets the flag the generator receives (so the engine can stop inside a long
    step); from the next event on nothing more is emitted. The generator may keep yielding
    for up to ``wind_down_s`` while it cleans up (the engine records a cancelled run that
    way); then it is closed, so its ``finally`` blocks run. Each event comes as
    ``yielded(event)``; exactly one of ``finished(last_event)``, ``failed(exc)`` and
    ``cancelled()`` is emitted at the end.
    Every signal is emitted on the GUI thread: the worker thread hands each item over
    through one queued signal.
    """

    yielded = Signal(object)
    finished = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    _relay = Signal(str, object)

    def __init__(
        self, factory: EventFactory, executor: Executor, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._factory = factory
        self._executor = executor
        self._cancel = threading.Event()
        self._future: Future[None] | None = None
        self._active = False
        self.events_seen = 0
        self.wind_down_s = 30.0
        self._relay.connect(self._on_relay, Qt.ConnectionType.QueuedConnection)

    @property
    def running(self) -> bool:
        """True from ``start()`` until the final signal has been emitted."""
        return self._active

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> None:
        if self._future is not None:
            raise RuntimeError("a GeneratorWorker runs once")
        self._active = True
        self._future = self._executor.submit(self._run)

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the generator has ended (tests and shutdown)."""
        if self._future is not None:
            self._future.exception(timeout)

    @Slot(str, object)
    def _on_relay(self, kind: str, payload: Any) -> None:
        if kind == "event":
            self.yielded.emit(payload)
            return
        self._active = False
        if kind == "finished":
            self.finished.emit(payload)
        elif kind == "failed":
            self.failed.emit(payload)
        else:
            self.cancelled.emit()

    def _run(self) -> None:
        last: Any = None
        gen: Iterator[Any] | None = None
        wind_down_until: float | None = None
        try:
            gen = self._factory(self._cancel)
            for item in gen:
                if self._cancel.is_set():
                    # Cancelled: nothing more is shown, but the job has seen the flag and may
                    # be winding down (stopping its worker, recording the run); give it a
                    # moment to finish on its own before closing it.
                    if wind_down_until is None:
                        wind_down_until = time.monotonic() + self.wind_down_s
                    if time.monotonic() > wind_down_until:
                        break
                    continue
                last = item
                self.events_seen += 1
                self._relay.emit("event", item)
        except Exception as exc:
            if not self._cancel.is_set():
                self._relay.emit("failed", exc)
                return
            log.warning("training job failed while cancelling: %s", exc)
        finally:
            close = getattr(gen, "close", None)
            if callable(close):
                close()
        self._relay.emit("cancelled" if self._cancel.is_set() else "finished", last)
