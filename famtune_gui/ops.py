"""The GUI's operations: one small function per user action, run by the bridge off the GUI
thread. No Qt here. Each opens its own transaction, calls the engine and returns plain data
(or raises a FamtuneError whose message is for people)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.app.integration import IntegrationMetrics, SimpleFineTuningIntegration
from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from engine.db.tables import AuditEvent, Family
from engine.domain import audit, datarights, families, pin_recovery
from engine.domain import pin as parental
from engine.domain.home import Famtune
from engine.domain.modelstore import VersionInfo
from engine.domain.pin import PinCheck
from engine.recommend.service import Batch
from engine.schema.profiles import (
    MAX_PROFILE_BYTES,
    FamilyProfile,
    parse_profile,
    parse_profile_text,
)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class FamilyRef:
    family_id: str
    name: str
    is_demo: bool


@dataclass(frozen=True)
class Overview:
    """What the app needs to know when it opens a data directory."""

    families: list[FamilyRef]
    pin_set: bool
    personalization: bool


@dataclass(frozen=True)
class ProfileChange:
    """A validated profile ready to save, and whether saving it needs the parental PIN."""

    profile: FamilyProfile
    created: bool
    needs_pin: bool


@dataclass(frozen=True)
class Vocabulary:
    """Tags offered as chips: catalog topics (most used first), the sensitive topics of the
    safety lexicon, and the catalog's categories."""

    topics: list[str]
    sensitive: list[str]
    categories: list[str]


@dataclass(frozen=True)
class ModelsOverview:
    family_id: str
    versions: list[VersionInfo]
    active: VersionInfo | None
    since_last_model: int
    needed: int
    personalization: bool
    data_note: str | None = None  # the engine's sentence on whether there is enough data


# -- opening ---------------------------------------------------------------------------------


def list_families(ft: Famtune) -> list[FamilyRef]:
    with ft.db.read() as session:
        return [
            FamilyRef(f.id, f.family_name or f.id, f.is_demo)
            for f in families.list_families(session)
        ]


def open_overview(facade: SimpleFineTuningIntegration) -> Overview:
    """Open the data directory (migrations, crash leftovers) and read what the app shows."""
    facade.initialize()
    ft = facade.ft
    _ = ft.config  # resolve the configuration here (it probes the machine), not on the GUI
    with ft.db.read() as session:
        pin_set = parental.pin_is_set(session)
    return Overview(list_families(ft), pin_set, facade.is_enabled())


def initialize(ft: Famtune, say: Callable[[str], None], demo: bool = True) -> dict[str, Any]:
    return ft.initialize(demo=demo, training_cache=True, progress=say)


def create_family(
    ft: Famtune, document: dict[str, Any], pin: str, recovery_code: str, now: datetime
) -> FamilyProfile:
    """First run: the family a parent set up (audited ``family_created``), the parental PIN
    and the hash of the recovery code they were shown, in one transaction."""
    profile = parse_profile(document)
    with ft.db.write() as session:
        if families.family_exists(session, family_id=profile.family_id):
            raise FamtuneError(f"a family called {profile.family_name} already exists")
        families.save_profile(session, profile=profile, actor="parent", created_in_app=True)
        if not parental.pin_is_set(session):
            parental.set_pin(session, pin, now=now)
            pin_recovery.set_recovery_code(session, recovery_code)
    return load_profile(ft, profile.family_id)


def vocabulary() -> Vocabulary:
    from collections import Counter

    from engine.domain.catalog import CATEGORIES, load_builtin_catalog
    from engine.safety.lexicon import default_lexicon

    sensitive = sorted(default_lexicon().topics)
    counts = Counter(t for item in load_builtin_catalog() for t in item.topics)
    topics = [t for t, _ in counts.most_common() if t not in sensitive]
    return Vocabulary(topics, sensitive, list(CATEGORIES))


# -- profiles --------------------------------------------------------------------------------


def load_profile(ft: Famtune, family_id: str) -> FamilyProfile:
    with ft.db.read() as session:
        return families.get_profile(session, family_id=family_id)


def prepare_profile(ft: Famtune, document: dict[str, Any]) -> ProfileChange:
    """Validate a profile document (ValidationFailed names the field) and compare it with
    the stored one."""
    profile = parse_profile(document)
    families.check_rating_cap(profile, ft.config.max_content_rating_cap)
    with ft.db.read() as session:
        exists = families.family_exists(session, family_id=profile.family_id)
        old = families.get_profile(session, family_id=profile.family_id) if exists else None
    needs_pin = families.needs_pin_to_replace(old, profile)
    return ProfileChange(profile, old is None, needs_pin)


def read_profile_file(ft: Famtune, path: Path) -> ProfileChange:
    if not path.is_file():
        raise FamtuneError(f"{path.name} does not exist or is not a file")
    if path.stat().st_size > MAX_PROFILE_BYTES:
        raise ValidationFailed("", f"{path.name} is too large for a family profile")
    profile = parse_profile_text(path.read_bytes())
    return prepare_profile(ft, profile.to_json())


def save_profile(ft: Famtune, profile: FamilyProfile, created: bool = False) -> FamilyProfile:
    """Store a profile; ``created``: a family a parent just made in the app (audited as
    ``family_created``, not as an import)."""
    with ft.db.write() as session:
        families.save_profile(
            session, profile=profile, actor="parent", rating_cap=ft.config.max_content_rating_cap,
            created_in_app=created,
        )
    return load_profile(ft, profile.family_id)


def write_json(path: Path, document: Any) -> Path:
    """Write a JSON file all or nothing, owner-only, never through a planted symlink
    (:func:`engine.base.fileio.write_private`)."""
    from engine.base.fileio import write_private

    write_private(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())
    return path


def export_profile(ft: Famtune, family_id: str, path: Path) -> Path:
    return write_json(path, load_profile(ft, family_id).to_json())


def load_demo_family(ft: Famtune) -> list[FamilyRef]:
    ft.load_demo_family()
    return list_families(ft)


def get_privacy_level(ft: Famtune, family_id: str) -> str:
    with ft.db.read() as session:
        family = session.get(Family, family_id)
        if family is None:
            raise NotFound(f"no family {family_id!r}")
        return family.privacy_level


def set_privacy_level(ft: Famtune, family_id: str, level: str) -> str:
    with ft.db.write() as session:
        families.set_privacy_level(session, family_id=family_id, level=level)
    return level


# -- recommendations and interactions --------------------------------------------------------


@dataclass(frozen=True)
class Ideas:
    """Suggestions for a moment, and a sentence about the moment (bedtime) or None."""

    batch: Batch
    note: str | None = None


def recommend(
    facade: SimpleFineTuningIntegration,
    family_id: str,
    context: dict[str, Any],
    target: str | None,
    n: int = 5,
) -> Ideas:
    from engine.general.ranking import wind_down_note
    from engine.schema.context import parse_context

    batch = facade.recommend(family_id, context, target, n=n)
    profile = load_profile(facade.ft, family_id)
    members = [target] if target else []
    note = wind_down_note(profile, parse_context(context), members)
    if note:  # bedtime: calm, short ideas or none (ranked first; the rest is dropped here)
        from dataclasses import replace

        from engine.domain.catalog import load_builtin_catalog
        from engine.general.ranking import winds_down

        known = {item.id: item for item in load_builtin_catalog()}
        calm = [
            r for r in batch.recommendations if r.id not in known or winds_down(known[r.id])
        ]
        batch = replace(batch, recommendations=calm)
    return Ideas(batch, note)


def record(
    facade: SimpleFineTuningIntegration,
    family_id: str,
    members: Sequence[str],
    item_id: str,
    outcome: str,
    rating: int | None,
    context: dict[str, Any],
) -> int:
    """One interaction for each member present (they did it together)."""
    records = [
        {"member": m, "itemId": item_id, "outcome": outcome, "rating": rating, "context": context}
        for m in members
    ]
    return facade.learning_engine.record_many(family_id, records)


# -- the parental PIN ------------------------------------------------------------------------


def pin_is_set(ft: Famtune) -> bool:
    with ft.db.read() as session:
        return parental.pin_is_set(session)


def check_pin(ft: Famtune, pin: str, now: datetime) -> PinCheck:
    with ft.db.write() as session:
        return parental.check_pin(session, pin, now=now)


def set_pin(ft: Famtune, new_pin: str, current_pin: str | None, now: datetime) -> bool:
    with ft.db.write() as session:
        return parental.set_pin(session, new_pin, current_pin=current_pin, now=now)


def set_pin_with_code(ft: Famtune, new_pin: str, now: datetime) -> str:
    """Set the first PIN and issue its recovery code (returned, to be shown once)."""
    with ft.db.write() as session:
        parental.set_pin(session, new_pin, current_pin=None, now=now)
        return pin_recovery.issue_recovery_code(session)


def new_recovery_code(ft: Famtune) -> str:
    """A new recovery code for the PIN (the parental lock is open), replacing the old one."""
    with ft.db.write() as session:
        if not parental.pin_is_set(session):
            raise FamtuneError("Set a parental PIN first.")
        return pin_recovery.issue_recovery_code(session)


def has_recovery_code(ft: Famtune) -> bool:
    with ft.db.read() as session:
        return pin_recovery.has_recovery_code(session)


def recover_pin(ft: Famtune, code: str, new_pin: str, now: datetime) -> pin_recovery.Recovery:
    with ft.db.write() as session:
        return pin_recovery.recover_pin(session, code, new_pin, now=now)


def kiosk_exit(ft: Famtune, pin: str, now: datetime) -> PinCheck:
    """Check the PIN; when it is right, audit ``kiosk_exit`` in the same transaction."""
    with ft.db.write() as session:
        result = parental.check_pin(session, pin, now=now)
        if result.ok:
            audit.record_event(session, event_type="kiosk_exit", actor="parent")
    return result


# -- audit and data rights -------------------------------------------------------------------


def list_audit(ft: Famtune, event_type: str | None, limit: int = 200) -> list[AuditEvent]:
    with ft.db.read() as session:
        return audit.list_events(session, event_type=event_type, limit=limit)


def verify_audit(ft: Famtune) -> audit.ChainReport:
    with ft.db.read() as session:
        return audit.verify_chain(session)


def export_data(ft: Famtune, family_id: str, path: Path) -> Path:
    return write_json(path, datarights.export_family_data(ft, family_id))


def erase_data(
    ft: Famtune, family_id: str, member_id: str | None, pin: str, now: datetime
) -> dict[str, Any]:
    return datarights.erase_family_data(ft, family_id, member_id, pin=pin, now=now)


# -- family models ---------------------------------------------------------------------------


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
