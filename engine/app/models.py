"""Family model actions: the overview a parent sees, rollback, delete, validate, metrics, and
switching personalization on or off."""

from __future__ import annotations

from dataclasses import dataclass

from engine.app.integration import IntegrationMetrics, SimpleFineTuningIntegration
from engine.domain.modelstore import VersionInfo


@dataclass(frozen=True)
class ModelsOverview:
    family_id: str
    versions: list[VersionInfo]
    active: VersionInfo | None
    since_last_model: int
    needed: int
    personalization: bool
    data_note: str | None = None  # the engine's sentence on whether there is enough data


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
