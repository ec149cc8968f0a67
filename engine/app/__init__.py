"""The application layer: one function per user action, for the GUI and the CLI.

Each action opens its own transaction, calls the floors below and returns plain data (or
raises a FamtuneError whose message is for people); none imports Qt. The GUI runs them off
its thread (``from engine import app as actions``). The seed's facade
(:class:`engine.app.integration.SimpleFineTuningIntegration`) is the model-side handle they
share."""

from __future__ import annotations

from engine.app.data_rights import (
    DataExport,
    erase_data,
    export_data,
)
from engine.app.families import (
    FamilyRef,
    Overview,
    ProfileChange,
    Vocabulary,
    create_family,
    export_profile,
    get_privacy_level,
    initialize,
    list_families,
    load_demo_family,
    load_profile,
    open_overview,
    prepare_profile,
    profile_change,
    read_profile_file,
    save_profile,
    set_privacy_level,
    vocabulary,
)
from engine.app.ideas import (
    Ideas,
    recommend,
    record,
)
from engine.app.models import (
    ModelsOverview,
    delete_models,
    integration_metrics,
    models_overview,
    rollback,
    set_personalization,
    validate_all,
)
from engine.app.parental import (
    check_pin,
    has_recovery_code,
    kiosk_exit,
    list_audit,
    new_recovery_code,
    pin_is_set,
    recover_pin,
    set_pin,
    set_pin_with_code,
    verify_audit,
)

__all__ = [
    "DataExport",
    "FamilyRef",
    "Ideas",
    "ModelsOverview",
    "Overview",
    "ProfileChange",
    "Vocabulary",
    "check_pin",
    "create_family",
    "delete_models",
    "erase_data",
    "export_data",
    "export_profile",
    "get_privacy_level",
    "has_recovery_code",
    "initialize",
    "integration_metrics",
    "kiosk_exit",
    "list_audit",
    "list_families",
    "load_demo_family",
    "load_profile",
    "models_overview",
    "new_recovery_code",
    "open_overview",
    "pin_is_set",
    "prepare_profile",
    "profile_change",
    "read_profile_file",
    "recommend",
    "record",
    "recover_pin",
    "rollback",
    "save_profile",
    "set_personalization",
    "set_pin",
    "set_pin_with_code",
    "set_privacy_level",
    "validate_all",
    "verify_audit",
    "vocabulary",
]
