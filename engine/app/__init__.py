"""The application layer: one function per user action, for the GUI and the CLI.

Each action opens its own transaction, calls the floors below and returns plain data (or
raises a FamtuneError whose message is for people); none imports Qt. The GUI runs them off
its thread (``from engine import app as actions``). The seed's facade
(:class:`engine.app.integration.SimpleFineTuningIntegration`) is the model-side handle they
share."""

from __future__ import annotations

from engine.app.data_rights import (
    erase_data as erase_data,
)
from engine.app.data_rights import (
    export_data as export_data,
)
from engine.app.families import (
    FamilyRef as FamilyRef,
)
from engine.app.families import (
    Overview as Overview,
)
from engine.app.families import (
    ProfileChange as ProfileChange,
)
from engine.app.families import (
    Vocabulary as Vocabulary,
)
from engine.app.families import (
    create_family as create_family,
)
from engine.app.families import (
    export_profile as export_profile,
)
from engine.app.families import (
    get_privacy_level as get_privacy_level,
)
from engine.app.families import (
    initialize as initialize,
)
from engine.app.families import (
    list_families as list_families,
)
from engine.app.families import (
    load_demo_family as load_demo_family,
)
from engine.app.families import (
    load_profile as load_profile,
)
from engine.app.families import (
    open_overview as open_overview,
)
from engine.app.families import (
    prepare_profile as prepare_profile,
)
from engine.app.families import (
    read_profile_file as read_profile_file,
)
from engine.app.families import (
    save_profile as save_profile,
)
from engine.app.families import (
    set_privacy_level as set_privacy_level,
)
from engine.app.families import (
    vocabulary as vocabulary,
)
from engine.app.families import (
    write_json as write_json,
)
from engine.app.ideas import (
    Ideas as Ideas,
)
from engine.app.ideas import (
    recommend as recommend,
)
from engine.app.ideas import (
    record as record,
)
from engine.app.models import (
    ModelsOverview as ModelsOverview,
)
from engine.app.models import (
    delete_models as delete_models,
)
from engine.app.models import (
    integration_metrics as integration_metrics,
)
from engine.app.models import (
    models_overview as models_overview,
)
from engine.app.models import (
    rollback as rollback,
)
from engine.app.models import (
    set_personalization as set_personalization,
)
from engine.app.models import (
    validate_all as validate_all,
)
from engine.app.parental import (
    check_pin as check_pin,
)
from engine.app.parental import (
    has_recovery_code as has_recovery_code,
)
from engine.app.parental import (
    kiosk_exit as kiosk_exit,
)
from engine.app.parental import (
    list_audit as list_audit,
)
from engine.app.parental import (
    new_recovery_code as new_recovery_code,
)
from engine.app.parental import (
    pin_is_set as pin_is_set,
)
from engine.app.parental import (
    recover_pin as recover_pin,
)
from engine.app.parental import (
    set_pin as set_pin,
)
from engine.app.parental import (
    set_pin_with_code as set_pin_with_code,
)
from engine.app.parental import (
    verify_audit as verify_audit,
)
