"""Family actions: open the data directory, set up a family, read, check and save profiles,
the demo family, the privacy level. Each opens its own transaction and returns plain data
(or raises a FamtuneError whose message is for people)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.app.integration import SimpleFineTuningIntegration
from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from engine.base.fileio import write_json_private
from engine.db.tables import Family
from engine.domain import families, pin_recovery
from engine.domain import pin as parental
from engine.domain.home import Famtune
from engine.schema.profiles import MAX_PROFILE_BYTES as MAX_PROFILE_BYTES
from engine.schema.profiles import (
    FamilyProfile,
    parse_profile,
    parse_profile_text,
)


@dataclass(frozen=True)
class FamilyRef:
    family_id: str
    name: str
    is_demo: bool


@dataclass(frozen=True)
class FamilySummary:
    """A family as ``family list`` shows it: its id, name, how many members, demo or not."""

    family_id: str
    family_name: str | None
    members: int
    demo: bool


@dataclass(frozen=True)
class FamilyDeleted:
    family_id: str


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


def list_families(ft: Famtune) -> list[FamilyRef]:
    with ft.db.read() as session:
        return [
            FamilyRef(f.id, f.family_name or f.id, f.is_demo)
            for f in families.list_families(session)
        ]


def family_summaries(ft: Famtune) -> list[FamilySummary]:
    with ft.db.read() as session:
        return [
            FamilySummary(
                f.id,
                f.family_name,
                len(families.get_profile(session, family_id=f.id).members),
                f.is_demo,
            )
            for f in families.list_families(session)
        ]


def require_family(ft: Famtune, *, family_id: str) -> None:
    """NotFound unless the family exists (before anyone is asked for a PIN)."""
    load_profile(ft, family_id)


def delete_family(ft: Famtune, *, family_id: str) -> FamilyDeleted:
    """Delete the family and everything stored about it in the database (audited)."""
    with ft.db.write() as session:
        families.delete_family(session, family_id=family_id)
    return FamilyDeleted(family_id)


def open_overview(facade: SimpleFineTuningIntegration) -> Overview:
    """Open the data directory (migrations, crash leftovers) and read what the app shows."""
    facade.initialize()
    ft = facade.ft
    _ = ft.config  # resolve the configuration here (it probes the machine), not on the GUI
    with ft.db.read() as session:
        pin_set = parental.pin_is_set(session)
    return Overview(list_families(ft), pin_set, facade.is_enabled())


def initialize(
    ft: Famtune, say: Callable[[str], None], demo: bool = True, *, training_cache: bool = True
) -> dict[str, Any]:
    """Create or repair the data directory (schema, key, base model and, unless
    ``training_cache`` is False, its training copy; the demo family when ``demo``)."""
    return ft.initialize(demo=demo, training_cache=training_cache, progress=say)


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


def load_profile(ft: Famtune, family_id: str) -> FamilyProfile:
    with ft.db.read() as session:
        return families.get_profile(session, family_id=family_id)


def prepare_profile(ft: Famtune, document: dict[str, Any]) -> ProfileChange:
    """Validate a profile document (ValidationFailed names the field) and compare it with
    the stored one."""
    return profile_change(ft, parse_profile(document))


def profile_change(ft: Famtune, profile: FamilyProfile) -> ProfileChange:
    """A validated profile against the configured rating cap and the stored profile: new or
    not, and whether saving it needs the parental PIN."""
    families.check_rating_cap(profile, ft.config.max_content_rating_cap)
    with ft.db.read() as session:
        exists = families.family_exists(session, family_id=profile.family_id)
        old = families.get_profile(session, family_id=profile.family_id) if exists else None
    needs_pin = families.needs_pin_to_replace(old, profile)
    return ProfileChange(profile, old is None, needs_pin)


def read_profile(raw: bytes) -> FamilyProfile:
    """A profile document as read from a file, decoded and validated (ValidationFailed
    names the field)."""
    return parse_profile_text(raw)


def read_profile_file(ft: Famtune, path: Path) -> ProfileChange:
    if not path.is_file():
        raise FamtuneError(f"{path.name} does not exist or is not a file")
    if path.stat().st_size > MAX_PROFILE_BYTES:
        raise ValidationFailed("", f"{path.name} is too large for a family profile")
    return profile_change(ft, parse_profile_text(path.read_bytes()))


def save_profile(
    ft: Famtune, profile: FamilyProfile, created: bool = False, *, actor: str = "parent"
) -> FamilyProfile:
    """Store a profile; ``created``: a family a parent just made in the app (audited as
    ``family_created``, not as an import). ``actor``: who the audit trail names."""
    with ft.db.write() as session:
        families.save_profile(
            session, profile=profile, actor=actor, rating_cap=ft.config.max_content_rating_cap,
            created_in_app=created,
        )
    return load_profile(ft, profile.family_id)


def export_profile(ft: Famtune, family_id: str, path: Path) -> Path:
    return write_json_private(path, load_profile(ft, family_id).to_json())


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
