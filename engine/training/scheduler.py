"""When to train: one job at a time, on the engine's model-work executor, preferably when the
family is asleep or the device is idle, while inference keeps serving the previous version.

A family becomes due when it first reaches ``min_interactions_for_training`` and then every
``retraining_threshold`` new interactions (``enough_data``). A due family trains at once in
quiet hours or when the CPU has been idle; otherwise it waits until it has twice the
threshold, so that a family using the device all day still gets a fresh model.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from engine.integration import SimpleFineTuningIntegration

log = logging.getLogger(__name__)
IDLE_CPU_PERCENT = 25.0


def in_quiet_hours(now: datetime, start: str, end: str) -> bool:
    """Whether ``now`` (local wall clock) falls in [start, end), which may cross midnight."""
    t = now.time()
    a, b = time.fromisoformat(start), time.fromisoformat(end)
    return a <= t < b if a <= b else (t >= a or t < b)


def device_idle(sample_s: float = 0.5) -> bool:
    return bool(psutil.cpu_percent(interval=sample_s) < IDLE_CPU_PERCENT)


class TrainingScheduler:
    """Runs due training jobs one at a time on a single background worker."""

    def __init__(
        self,
        facade: SimpleFineTuningIntegration,
        *,
        on_event: Callable[[str, Any], None] | None = None,
        clock: Callable[[], datetime] = datetime.now,
        idle: Callable[[], bool] = device_idle,
    ) -> None:
        self.facade = facade
        self.on_event = on_event
        self.clock = clock
        self.idle = idle
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="famtune-train")
        self._lock = threading.Lock()
        self._running: Future[Any] | None = None
        self._cancel = threading.Event()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None and not self._running.done()

    def due(self, family_id: str) -> tuple[bool, str]:
        """Whether the family should train now, and why (or why not)."""
        from engine.training.dataset import enough_data

        config = self.facade.config
        if not config.enabled or not self.facade.is_enabled():
            return False, "personalization is switched off"
        ready, reason = enough_data(self.facade.ft, family_id)
        if not ready:
            return False, reason
        if in_quiet_hours(self.clock(), config.quiet_hours_start, config.quiet_hours_end):
            return True, "quiet hours"
        waiting = self.facade.learning_engine.interactions_since_last_model(family_id)
        if waiting >= 2 * config.retraining_threshold:
            return True, f"{waiting} new interactions"
        if self.idle():
            return True, "the device is idle"
        return False, "waiting for quiet hours or an idle device"

    def maybe_schedule(self, family_id: str) -> Future[Any] | None:
        """Start a job for the family if it is due and nothing else is training."""
        if self.busy:
            return None
        ready, reason = self.due(family_id)
        if not ready:
            log.debug("not training %s: %s", family_id, reason)
            return None
        return self.submit(family_id)

    def submit(self, family_id: str, *, force: bool = False) -> Future[Any]:
        """Start a job now (the GUI's "train now"); refused while another job runs."""
        with self._lock:
            if self._running is not None and not self._running.done():
                raise RuntimeError("a training job is already running")
            self._cancel = threading.Event()
            self._running = self._executor.submit(self._run, family_id, force, self._cancel)
            return self._running

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self) -> None:
        self._cancel.set()
        self._executor.shutdown(wait=True)

    def _run(self, family_id: str, force: bool, cancel: threading.Event) -> Any:
        outcome = None
        for event in self.facade.train_family_model(family_id, cancel=cancel, force=force):
            outcome = event
            if self.on_event is not None:
                self.on_event(family_id, event)
        return outcome
