"""The app's hold on the engine: one data directory, its facade, the bridge that runs engine
calls in the background, the current family, the parental lock and the training job.

Screens talk to the engine only through ``EngineSession.run`` (an action of the application
layer, ``engine.app``, imported as ``actions``, with success and failure handlers) and listen
to its signals.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from engine import app as actions
from engine.app import FamilyProfile, Famtune, TrainingEvent, utcnow
from engine.app.integration import SimpleFineTuningIntegration
from engine.base.errors import FamtuneError
from famtune_gui.bridge import Bridge, GeneratorWorker, Lane
from famtune_gui.fmt import plain_error
from famtune_gui.metrics_hub import MetricsHub
from famtune_gui.training_view import describe

log = logging.getLogger(__name__)
T = TypeVar("T")
TrainFactory = Callable[[str, threading.Event, bool], Iterator[TrainingEvent]]
RELOCK_MS = 120_000
RECONNECT_AFTER_S = 30.0
SWITCH_INTERVAL_S = 0.002


def tune_interpreter() -> None:
    """Hand the GIL over more often (every 2 ms instead of 5): engine work on the bridge's
    threads is Python too, and the GUI thread must get its turn quickly."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def freeze_heap() -> None:
    """Move everything alive now (modules, schemas, the catalog) out of the collector's
    reach. A full collection over the engine's ~150k long-lived objects holds the GIL for
    ~250 ms, wherever it happens to run: it froze the GUI thread. Called after the big
    one-off loads only (freezing also keeps any garbage alive that exists at that moment)."""
    gc.freeze()


class Prefs:
    """The app's own small preferences (last family, who is usually here): QSettings when
    given, else memory only (tests, screenshots)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings
        self._memory: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        if self._settings is None:
            return self._memory.get(key, default)
        return self._settings.value(key, default)

    def set(self, key: str, value: Any) -> None:
        if self._settings is None:
            self._memory[key] = value
        else:
            self._settings.setValue(key, value)


class ParentalLock(QObject):
    """Unlocked by the PIN gate for one visit; locks again after ``relock_ms`` without a tap,
    or when asked (leaving the parental screen)."""

    changed = Signal(bool)

    def __init__(self, relock_ms: int = RELOCK_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unlocked = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(relock_ms)
        self._timer.timeout.connect(self.lock)

    @property
    def unlocked(self) -> bool:
        return self._unlocked

    def unlock(self) -> None:
        self._timer.start()
        if not self._unlocked:
            self._unlocked = True
            self.changed.emit(True)

    def lock(self) -> None:
        self._timer.stop()
        if self._unlocked:
            self._unlocked = False
            self.changed.emit(False)

    def touch(self) -> None:
        """A tap while unlocked keeps it unlocked a while longer."""
        if self._unlocked:
            self._timer.start()


class EngineSession(QObject):
    opened = Signal(object)  # actions.Overview
    families_changed = Signal(list)  # list[actions.FamilyRef]
    family_selected = Signal(str)
    profile_loaded = Signal(object)  # FamilyProfile
    message = Signal(str, str)  # level (error, info, ok), text
    training_event = Signal(str, object)  # family, engine event
    training_ended = Signal(str, str)  # family, how: finished, failed or cancelled
    interaction_recorded = Signal(str)
    personalization_changed = Signal(bool)
    pin_state_changed = Signal(bool)
    vocabulary_loaded = Signal(object)  # actions.Vocabulary
    reopened = Signal()
    draft_changed = Signal(str)  # the name of a new family being edited, '' when none

    def __init__(
        self,
        home: Path | str | None,
        profile: str | None = None,
        *,
        settings: QSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
        local_clock: Callable[[], datetime] = datetime.now,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        tune_interpreter()
        self.home, self.profile_name = home, profile
        self._frozen: set[str] = set()
        self.bridge = Bridge(self)
        self.bridge.error_handler = self.report
        self.lock = ParentalLock(parent=self)
        self.metrics = MetricsHub(self)
        self.prefs = Prefs(settings)
        self.clock = clock
        self.local_clock = local_clock
        self.families: list[actions.FamilyRef] = []
        self.families_known = False  # False until the first list arrives (screens say "loading")
        self.family_id: str | None = None
        self.profile: FamilyProfile | None = None
        self.pin_set = False
        self.personalization = True
        self.trainer: GeneratorWorker | None = None
        self.training_family: str | None = None
        self.train_factory: TrainFactory = self._real_training
        self.vocabulary = actions.Vocabulary([], [], [])
        self._vocabulary_asked = False
        self._last_reconnect = 0.0
        self._open_engine()
        # The engine is asked on a timer, not only after a tap, whether a family is due for
        # training (quiet hours, an idle device, plenty of new data): a kiosk left alone at
        # night trains by itself, one job at a time, the current model serving meanwhile.
        self.auto_train_timer = QTimer(self)
        self.auto_train_timer.timeout.connect(self._auto_train)
        minutes = self.ft.config.auto_train_interval_minutes
        if minutes > 0:
            self.auto_train_timer.start(minutes * 60_000)

    def _auto_train(self) -> None:
        if self.family_id is not None and self.initialized:
            self.maybe_train(self.family_id)

    def _open_engine(self) -> None:
        # One handle for the data directory, its interaction log and the facade; the session
        # closes its parts on their own lanes (the facade on the model lane, the database on
        # the database lane), so it keeps them as attributes.
        self.engine = actions.Engine(self.home, self.profile_name)
        self.ft: Famtune = self.engine.ft
        self.facade: SimpleFineTuningIntegration = self.engine.facade

    @property
    def initialized(self) -> bool:
        return self.ft.initialized

    # -- operations ----------------------------------------------------------------------------

    def run(
        self,
        fn: Callable[[], T],
        on_success: Callable[[T], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        *,
        lane: Lane = "db",
        owner: QObject | None = None,
        what: str = "",
    ) -> Future[T]:
        return self.bridge.run_op(fn, on_success, on_failure, lane=lane, owner=owner, what=what)

    def report(self, exc: BaseException, what: str = "") -> None:
        """An engine error as a plain banner; the app carries on."""
        self.message.emit("error", plain_error(exc, what))
        if not isinstance(exc, FamtuneError) and _is_database_error(exc):
            now = time.monotonic()
            if now - self._last_reconnect > RECONNECT_AFTER_S:
                self._last_reconnect = now
                self.restart()

    def notify(self, text: str, level: str = "ok") -> None:
        self.message.emit(level, text)

    # -- opening and families ------------------------------------------------------------------

    def open(self) -> None:
        self.run(
            partial(actions.open_overview, self.facade),
            self._opened,
            what="opening the family data",
        )

    def load_vocabulary(self) -> None:
        """The tags offered as chips (the catalog takes a second to load: once, off-thread)."""
        if self._vocabulary_asked:
            return
        self._vocabulary_asked = True

        def loaded(vocabulary: actions.Vocabulary) -> None:
            self.vocabulary = vocabulary
            self.freeze_after("vocabulary")
            self.vocabulary_loaded.emit(vocabulary)

        self.run(
            actions.vocabulary, loaded, lambda exc: log.warning("vocabulary: %s", exc), lane="model"
        )

    def freeze_after(self, what: str) -> None:
        """``freeze_heap`` once after each big load (opening, the catalog, the lexicon)."""
        if what not in self._frozen:
            self._frozen.add(what)
            freeze_heap()

    def _opened(self, overview: actions.Overview) -> None:
        self.freeze_after("open")
        self.pin_set = overview.pin_set
        self.personalization = overview.personalization
        self._set_families(overview.families)
        self.opened.emit(overview)

    def refresh_families(self, select: str | None = None) -> None:
        def done(refs: list[actions.FamilyRef]) -> None:
            self._set_families(refs, select)

        self.run(partial(actions.list_families, self.ft), done, what="reading the families")

    def _set_families(self, refs: list[actions.FamilyRef], select: str | None = None) -> None:
        self.families = refs
        self.families_known = True
        self.families_changed.emit(refs)
        ids = [r.family_id for r in refs]
        wanted = select or self.family_id or self.prefs.get("family")
        if wanted in ids:
            self.select_family(str(wanted), force=True)
        elif ids:
            self.select_family(ids[0], force=True)
        else:
            self.family_id, self.profile = None, None
            self.family_selected.emit("")

    def select_family(self, family_id: str, *, force: bool = False) -> None:
        if family_id == self.family_id and not force:
            return
        self.family_id = family_id
        self.prefs.set("family", family_id)
        self.family_selected.emit(family_id)
        self.reload_profile()

    @property
    def is_demo(self) -> bool:
        """Whether the current family is the bundled demo family."""
        return any(r.family_id == self.family_id and r.is_demo for r in self.families)

    def reload_profile(self) -> None:
        family_id = self.family_id
        if not family_id:
            return

        def loaded(profile: FamilyProfile) -> None:
            if profile.family_id == self.family_id:
                self.profile = profile
                self.profile_loaded.emit(profile)

        self.run(
            partial(actions.load_profile, self.ft, family_id),
            loaded,
            what="reading the family profile",
        )

    def profile_saved(self, profile: FamilyProfile) -> None:
        """After a save: the new profile becomes current (and the family list may change)."""
        known = {r.family_id for r in self.families}
        if profile.family_id not in known or profile.family_id != self.family_id:
            self.refresh_families(select=profile.family_id)
            return
        self.profile = profile
        self.profile_loaded.emit(profile)

    def set_pin_state(self, is_set: bool) -> None:
        self.pin_set = is_set
        self.pin_state_changed.emit(is_set)

    def set_personalization(self, enabled: bool) -> None:
        def done(now: bool) -> None:
            self.personalization = now
            self.personalization_changed.emit(now)
            self.notify(
                "Personalization is on."
                if now
                else "Personalization is off: every idea comes from the general engine."
            )

        self.run(
            partial(actions.set_personalization, self.facade, enabled),
            done,
            what="switching personalization",
        )

    # -- training ------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        return self.trainer is not None and self.trainer.running

    def _real_training(
        self, family_id: str, cancel: threading.Event, force: bool
    ) -> Iterator[TrainingEvent]:
        return self.facade.train_family_model(family_id, cancel=cancel, force=force)

    def start_training(self, family_id: str, *, force: bool = True) -> GeneratorWorker | None:
        """Train the family's model now; events arrive as ``training_event``."""
        if self.training:
            self.notify("A training job is already running; wait for it or cancel it.", "info")
            return None
        factory = self.train_factory
        worker = GeneratorWorker(
            lambda cancel: factory(family_id, cancel, force), self.bridge.model, self
        )
        worker.yielded.connect(lambda event: self._training_event(family_id, event))
        worker.finished.connect(lambda _last: self._training_ended(family_id, "finished"))
        worker.cancelled.connect(lambda: self._training_ended(family_id, "cancelled"))
        worker.failed.connect(lambda exc: self._training_failed(family_id, exc))
        self.trainer, self.training_family = worker, family_id
        worker.start()
        return worker

    def cancel_training(self) -> None:
        if self.trainer is not None and self.trainer.running:
            self.trainer.cancel()

    def _training_event(self, family_id: str, event: TrainingEvent) -> None:
        update = describe(event)
        if update.loss is not None:
            self.metrics.log("train.loss", update.loss)
        if update.tokens_per_s:
            self.metrics.log("train.tokens_per_s", update.tokens_per_s)
        self.training_event.emit(family_id, event)

    def _training_failed(self, family_id: str, exc: BaseException) -> None:
        self.report(exc, "training the family model")
        self._training_ended(family_id, "failed")

    def _training_ended(self, family_id: str, how: str) -> None:
        self.training_family = None
        self.training_ended.emit(family_id, how)

    def maybe_train(self, family_id: str) -> None:
        """After new interactions: start a job if the engine's scheduler says the family is
        due (quiet hours, an idle device, or plenty of new data)."""
        if self.training or not self.personalization:
            return

        def due() -> bool:
            if self.train_factory == self._real_training and not actions.training_available():
                return False
            try:
                ready, reason = self.facade.training_due(family_id)
            except ImportError:  # the training pipeline is not installed in this build
                return False
            log.debug("training %s: %s (%s)", family_id, ready, reason)
            return ready

        def start(ready: bool) -> None:
            if ready and not self.training:
                self.start_training(family_id, force=False)

        self.run(due, start, lambda exc: log.warning("scheduler: %s", exc), lane="model")

    # -- restart and shutdown ------------------------------------------------------------------

    def restart(self) -> None:
        """Close the engine and open it again (after a restore, or when the database went
        away); screens reload through ``opened`` and ``reopened``."""
        self.cancel_training()
        old_facade, old_ft = self.facade, self.ft
        self.run(old_facade.close, lambda _r: None, lambda _e: None, lane="model")
        self.run(old_ft.close, lambda _r: None, lambda _e: None)
        self._open_engine()
        self.reopened.emit()
        self.open()

    def close(self, *, wait: bool = True) -> None:
        self.metrics.close()
        self.lock.lock()
        self.cancel_training()
        if self.trainer is not None and wait:
            try:
                self.trainer.wait(timeout=30)
            except (TimeoutError, FutureTimeout):  # closing must not fail the exit
                log.warning("the training job did not stop within 30 s; closing anyway")
        self.bridge.shutdown(wait=wait)
        try:
            self.facade.close()
            self.ft.close()
        except Exception:  # closing must not fail the exit
            log.exception("closing the engine")


def _is_database_error(exc: BaseException) -> bool:
    return any(cls.__name__ in ("OperationalError", "DatabaseError") for cls in type(exc).__mro__)
