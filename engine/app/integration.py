"""``SimpleFineTuningIntegration``: the seed's API in Python naming, used by the CLI and the GUI.

Quick start::

    from engine.base.config import RuntimeConfigDetector
    from engine.domain.home import Famtune
    from engine.app.integration import SimpleFineTuningIntegration
    from engine.domain.interactions import InteractionLog

    config = RuntimeConfigDetector().detect_optimal_config()
    learning = InteractionLog(Famtune())          # the default data directory
    fine_tuning = SimpleFineTuningIntegration(config, learning)
    fine_tuning.initialize()
    recs = fine_tuning.generate_personalized_recommendations(
        "smith-family",
        {"timeOfDay": "morning", "dayOfWeek": "saturday", "currentActivity": "breakfast",
         "familyMembers": ["dad-john", "child-emma"], "environmentalFactors": ["home"]},
        "child-emma",
    )
    created = fine_tuning.create_or_update_family_model("smith-family")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil

from engine.base.config import FineTuningConfig
from engine.db.tables import Setting
from engine.domain.interactions import InteractionLog
from engine.domain.modelstore import ModelStore, VersionInfo
from engine.general.recommendation import Recommendation
from engine.personalize.events import TrainingEvent
from engine.recommend.service import ENABLED_KEY, Batch, RecommendationService
from engine.schema.context import RequestContext


@dataclass(frozen=True)
class IntegrationMetrics:
    total_family_models: int
    active_models: int
    average_performance: float
    safety_compliance: float
    memory_usage: float  # MB, resident set of this process

    def to_json(self) -> dict[str, Any]:
        return {
            "totalFamilyModels": self.total_family_models,
            "activeModels": self.active_models,
            "averagePerformance": round(self.average_performance, 4),
            "safetyCompliance": round(self.safety_compliance, 4),
            "memoryUsage": round(self.memory_usage, 1),
        }


class SimpleFineTuningIntegration:
    """The facade over recommendations, fine-tuning and the model store of one data dir."""

    def __init__(
        self, config: FineTuningConfig | None, learning_engine: InteractionLog
    ) -> None:
        self.learning_engine = learning_engine
        self.ft = learning_engine.ft
        if config is not None:
            self.ft.use_config(config)
        self.store = ModelStore(self.ft)
        self.recommender = RecommendationService(self.ft)
        self.last_training: dict[str, Any] = {}

    @property
    def config(self) -> FineTuningConfig:
        return self.ft.config

    def initialize(self) -> None:
        """Open the data directory (migrations run), and clear leftovers of a crash."""
        self.ft.require_initialized()
        _ = self.ft.db
        for path in self.store.recover():
            self.ft.log_event("warning", "models", f"removed unfinished model files {path}")

    def close(self) -> None:
        self.recommender.close()

    # -- recommendations ----------------------------------------------------------------------

    def generate_personalized_recommendations(
        self,
        family_id: str,
        context: RequestContext | dict[str, Any],
        target_member: str | None = None,
        *,
        n: int = 5,
    ) -> list[Recommendation]:
        return self.recommend(family_id, context, target_member, n=n).recommendations

    def recommend(
        self,
        family_id: str,
        context: RequestContext | dict[str, Any],
        target_member: str | None = None,
        *,
        n: int = 5,
    ) -> Batch:
        """Like ``generate_personalized_recommendations``, with how the answer was made."""
        return self.recommender.recommend(family_id, context, target_member, n=n)

    # -- family models ------------------------------------------------------------------------

    def create_or_update_family_model(self, family_id: str) -> bool:
        """Train, evaluate and (if it passes the gate) activate a new version.

        Returns True when a new version was created and activated; False with the reason in
        ``last_training[family_id]`` when there is too little data or the gate refused it.
        """
        outcome = None
        for event in self.train_family_model(family_id):
            outcome = event
        return bool(getattr(outcome, "activated", False))

    def training_due(
        self, family_id: str, *, now: datetime | None = None, idle: Callable[[], bool] | None = None
    ) -> tuple[bool, str]:
        """Whether the family should train now without a tap, and why (or why not)."""
        from engine.personalize.scheduler import device_idle, training_due

        if not self.config.enabled or not self.is_enabled():
            return False, "personalization is switched off"
        return training_due(
            self.ft,
            family_id,
            config=self.config,
            waiting=self.learning_engine.interactions_since_last_model(family_id),
            now=now or datetime.now(),
            idle=idle or device_idle,
        )

    def train_family_model(
        self, family_id: str, *, cancel: threading.Event | None = None, force: bool = False
    ) -> Iterator[TrainingEvent]:
        """The training job as a stream of events; the last one is the ``TrainOutcome``. One
        job at a time per data directory, whoever asks (the pipeline's ``training.lock``): a
        second one ends at once with an outcome that says another job is running."""
        from engine.personalize.pipeline import train_family

        outcome = None
        for event in train_family(self.ft, family_id, cancel=cancel, force=force):
            outcome = event
            yield event
        self.last_training[family_id] = outcome
        self.recommender.invalidate(family_id)

    def validate_all_family_models(self) -> dict[str, bool]:
        """Each family's active version: files match their checksums, the adapter loads in
        llama.cpp, and its recorded safety score meets the threshold."""
        results: dict[str, bool] = {}
        for info in self.get_all_family_models():
            if not info.is_active:
                continue
            results[info.family_id] = self.validate_version(info)[0]
        return results

    def validate_version(self, info: VersionInfo) -> tuple[bool, str]:
        from pathlib import Path

        from engine.gguf import ADAPTER_GGUF

        try:
            self.store.verify_files(info)
            self.recommender.llama().check_adapter(Path(info.path) / ADAPTER_GGUF)
        except Exception as exc:
            self.ft.log_event("error", "models", f"{info.family_id} v{info.version}: {exc}")
            return False, str(exc)
        problem = self.store.unservable(info)
        return (False, problem) if problem else (True, "ok")

    def get_family_model_info(self, family_id: str) -> VersionInfo | None:
        return self.store.active(family_id)

    def get_all_family_models(self) -> list[VersionInfo]:
        return self.store.versions()

    def delete_family_model(self, family_id: str) -> bool:
        removed = self.store.delete(family_id) > 0
        self.recommender.invalidate(family_id)
        return removed

    def rollback_family_model(self, family_id: str, to: int | None = None) -> VersionInfo:
        info = self.store.rollback(family_id, to)
        self.recommender.invalidate(family_id)
        return info

    def get_integration_metrics(self) -> IntegrationMetrics:
        versions = self.store.versions()
        active = [v for v in versions if v.is_active]
        scored = [v.performance_score for v in active if v.performance_score is not None]
        safe = [
            v
            for v in active
            if v.safety_score is not None and v.safety_score >= self.config.safety_threshold
        ]
        return IntegrationMetrics(
            total_family_models=len({v.family_id for v in versions}),
            active_models=len(active),
            average_performance=sum(scored) / len(scored) if scored else 0.0,
            safety_compliance=len(safe) / len(active) if active else 1.0,
            memory_usage=psutil.Process().memory_info().rss / 2**20,
        )

    def set_enabled(self, enabled: bool) -> None:
        """Personalization on or off; off means every answer comes from the general engine."""
        with self.ft.db.write() as session:
            row = session.get(Setting, ENABLED_KEY) or Setting(key=ENABLED_KEY, value="true")
            row.value = "true" if enabled else "false"
            session.add(row)
        self.recommender.invalidate()

    def is_enabled(self) -> bool:
        from engine.recommend.service import personalization_enabled

        with self.ft.db.read() as session:
            return personalization_enabled(session) and self.config.enabled
