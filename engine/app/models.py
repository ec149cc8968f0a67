"""Family model actions: the overview a parent sees, rollback, delete, validate, metrics, and
switching personalization on or off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from engine.app.integration import IntegrationMetrics, SimpleFineTuningIntegration
from engine.base.errors import NotFound
from engine.domain.modelstore import VersionInfo
from engine.personalize.events import TrainingEvent, TrainOutcome
from engine.training.events import Checkpointed, MemoryAdjusted
from engine.training.events import Phase as TrainingPhase
from engine.training.events import Progress as TrainingProgress

__all__ = [
    "Checkpointed",
    "MemoryAdjusted",
    "ModelInfo",
    "ModelsOverview",
    "TrainOutcome",
    "TrainingEvent",
    "TrainingPhase",
    "TrainingProgress",
    "VersionInfo",
    "delete_models",
    "integration_metrics",
    "list_models",
    "model_info",
    "models_overview",
    "require_models",
    "require_versions",
    "rollback",
    "set_personalization",
    "train",
    "training_available",
    "validate_all",
]


@dataclass(frozen=True)
class ModelsOverview:
    family_id: str
    versions: list[VersionInfo]
    active: VersionInfo | None
    since_last_model: int
    needed: int
    personalization: bool
    data_note: str | None = None  # the engine's sentence on whether there is enough data


@dataclass(frozen=True)
class ModelInfo:
    """A family's active version (or None), every version kept, and how many interactions
    came after the newest one."""

    family_id: str
    active: VersionInfo | None
    versions: list[VersionInfo]
    waiting: int


def models_overview(facade: SimpleFineTuningIntegration, family_id: str) -> ModelsOverview:
    versions = facade.store.versions(family_id)
    active = next((v for v in versions if v.is_active), None)
    since = facade.learning_engine.interactions_since_last_model(family_id)
    config = facade.config
    needed = config.retraining_threshold if versions else config.min_interactions_for_training
    note: str | None = None
    try:
        from engine.personalize.dataset import enough_data
    except ImportError:  # a build without the training pipeline
        pass
    else:
        note = enough_data(facade.ft, family_id)[1]
    return ModelsOverview(family_id, versions, active, since, needed, facade.is_enabled(), note)


def rollback(facade: SimpleFineTuningIntegration, family_id: str, to: int | None) -> VersionInfo:
    return facade.rollback_family_model(family_id, to)


def delete_models(facade: SimpleFineTuningIntegration, family_id: str) -> bool:
    return facade.delete_family_model(family_id)


def validate_all(facade: SimpleFineTuningIntegration) -> dict[str, bool]:
    return facade.validate_all_family_models()


def integration_metrics(facade: SimpleFineTuningIntegration) -> IntegrationMetrics:
    return facade.get_integration_metrics()


def set_personalization(facade: SimpleFineTuningIntegration, enabled: bool) -> bool:
    facade.set_enabled(enabled)
    return facade.is_enabled()


def list_models(facade: SimpleFineTuningIntegration) -> list[VersionInfo]:
    """Every version of every family."""
    return facade.get_all_family_models()


def model_info(facade: SimpleFineTuningIntegration, *, family_id: str) -> ModelInfo:
    active = facade.get_family_model_info(family_id)
    versions = facade.store.versions(family_id)
    waiting = facade.learning_engine.interactions_since_last_model(family_id)
    return ModelInfo(family_id, active, versions, waiting)


def training_available() -> bool:
    """Whether this build has the training pipeline (``engine.personalize.pipeline``); found
    without importing it, so asking loads nothing of the training stack."""
    import importlib.util

    try:
        return importlib.util.find_spec("engine.personalize.pipeline") is not None
    except ImportError:
        return False


def train(
    facade: SimpleFineTuningIntegration,
    *,
    family_id: str,
    force: bool = False,
    cancel: threading.Event | None = None,
) -> Iterator[TrainingEvent]:
    """The training job as a stream of events; the last one is the :class:`TrainOutcome`.
    ``force`` trains even when the retraining threshold is not reached."""
    return facade.train_family_model(family_id, cancel=cancel, force=force)


def require_versions(facade: SimpleFineTuningIntegration, *, family_id: str) -> None:
    """NotFound unless the family has a version to roll back to (before a PIN is asked)."""
    if not facade.store.versions(family_id):
        raise NotFound(f"family {family_id!r} has no model versions")


def require_models(facade: SimpleFineTuningIntegration, *, family_id: str) -> None:
    """NotFound unless the family has models to delete (before a PIN is asked)."""
    if not facade.store.has_models(family_id):
        raise NotFound(f"family {family_id!r} has no models")
