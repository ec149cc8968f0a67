"""Family profiles in the database: plain keyword-only functions that take a session."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, delete, select

from engine.base.errors import NotFound, ValidationFailed
from engine.base.vocabulary import RATINGS
from engine.db.tables import (
    Family,
    FamilyPreferenceRow,
    Member,
    SafetySettingsRow,
    TimeRestrictionRow,
    utcnow,
)
from engine.domain import audit
from engine.schema.profiles import (
    FamilyMember,
    FamilyPreferences,
    FamilyProfile,
    MemberPreferences,
    SafetySettings,
    TimeRestriction,
)


def safety_changes(session: Session, *, old: FamilyProfile, new: FamilyProfile) -> dict[str, Any]:
    """What changed in the parental settings, for the audit trail (members by reference)."""
    changes: dict[str, Any] = {}
    before, after = old.safety_settings, new.safety_settings
    if before.max_content_rating != after.max_content_rating:
        changes["maxContentRating"] = {
            "from": before.max_content_rating,
            "to": after.max_content_rating,
        }
    added = [t for t in after.blocked_topics if t not in before.blocked_topics]
    removed = [t for t in before.blocked_topics if t not in after.blocked_topics]
    if added or removed:
        changes["blockedTopics"] = {"added": added, "removed": removed}
    if before.time_restrictions != after.time_restrictions:
        changes["timeRestrictions"] = {
            "from": [w.model_dump(by_alias=True, mode="json") for w in before.time_restrictions],
            "to": [w.model_dump(by_alias=True, mode="json") for w in after.time_restrictions],
        }
    levels = []
    for member in new.members:
        previous = old.member(member.user_id)
        if previous is not None and previous.safety_level != member.safety_level:
            ref = audit.member_ref(session, family_id=new.family_id, member_id=member.user_id)
            levels.append({"member": ref, "from": previous.safety_level, "to": member.safety_level})
    if levels:
        changes["memberSafetyLevels"] = levels
    return changes


def check_rating_cap(profile: FamilyProfile, rating_cap: str | None) -> None:
    """ValidationFailed (``safetySettings.maxContentRating``) when the profile allows more
    than the configuration's ``maxContentRatingCap``."""
    if rating_cap is None:
        return
    chosen = profile.safety_settings.max_content_rating
    order: list[str] = list(RATINGS)
    if order.index(chosen) > order.index(rating_cap):
        raise ValidationFailed(
            "safetySettings.maxContentRating",
            f"{chosen} is above this device's maximum content rating {rating_cap} "
            "(maxContentRatingCap)",
        )


def save_profile(
    session: Session,
    *,
    profile: FamilyProfile,
    is_demo: bool = False,
    actor: str = "system",
    rating_cap: str | None = None,
    created_in_app: bool = False,
) -> bool:
    """Insert or replace a family's whole profile. Returns True when the family is new.
    ``rating_cap`` (the configuration's ``maxContentRatingCap``): a profile allowing more
    is refused with ValidationFailed before anything is written.

    Audited: ``profile_imported`` for a new family (``family_created`` when a parent set it up
    in the app, ``created_in_app``), ``settings_changed`` (with what changed)
    when the safety settings differ, else ``profile_updated``.
    """
    check_rating_cap(profile, rating_cap)
    family = session.get(Family, profile.family_id)
    created = family is None
    old = None if created else get_profile(session, family_id=profile.family_id)
    if family is None:
        family = Family(id=profile.family_id, is_demo=is_demo)
    family.family_name = profile.family_name
    family.updated_at = utcnow()
    session.add(family)
    for table in (Member, TimeRestrictionRow, FamilyPreferenceRow, SafetySettingsRow):
        session.exec(delete(table).where(col(table.family_id) == profile.family_id))
    session.flush()
    for position, m in enumerate(profile.members):
        session.add(
            Member(
                family_id=profile.family_id,
                position=position,
                user_id=m.user_id,
                display_name=m.display_name,
                age=m.age,
                role=m.role,
                safety_level=m.safety_level,
                learning_style=m.preferences.learning_style,
                difficulty_level=m.preferences.difficulty_level,
                interests=list(m.preferences.interests),
                preferred_topics=list(m.preferences.preferred_topics),
                avoided_topics=list(m.preferences.avoided_topics),
            )
        )
    prefs = profile.preferences
    session.add(
        FamilyPreferenceRow(
            family_id=profile.family_id,
            communication_style=prefs.communication_style,
            content_categories=list(prefs.content_categories),
            educational_focus=list(prefs.educational_focus),
        )
    )
    safety = profile.safety_settings
    session.add(
        SafetySettingsRow(
            family_id=profile.family_id,
            max_content_rating=safety.max_content_rating,
            blocked_topics=list(safety.blocked_topics),
        )
    )
    for position, window in enumerate(safety.time_restrictions):
        session.add(
            TimeRestrictionRow(
                family_id=profile.family_id,
                position=position,
                start_time=window.start_time,
                end_time=window.end_time,
                days_of_week=list(window.days_of_week),
                restricted_content=list(window.restricted_content),
            )
        )
    if old is None:
        audit.record_event(
            session,
            event_type="family_created" if created_in_app else "profile_imported",
            family_id=profile.family_id,
            actor=actor,
            details={"members": len(profile.members)},
        )
    else:
        changes = safety_changes(session, old=old, new=profile)
        audit.record_event(
            session,
            event_type="settings_changed" if changes else "profile_updated",
            family_id=profile.family_id,
            actor=actor,
            details={"members": len(profile.members), **({"changes": changes} if changes else {})},
        )
    return created


def get_profile(session: Session, *, family_id: str) -> FamilyProfile:
    family = session.get(Family, family_id)
    if family is None:
        raise NotFound(f"no family {family_id!r}")
    members = session.exec(
        select(Member).where(Member.family_id == family_id).order_by(col(Member.position))
    ).all()
    prefs = session.get(FamilyPreferenceRow, family_id)
    safety = session.get(SafetySettingsRow, family_id)
    windows = session.exec(
        select(TimeRestrictionRow)
        .where(TimeRestrictionRow.family_id == family_id)
        .order_by(col(TimeRestrictionRow.position))
    ).all()
    return FamilyProfile(
        family_id=family.id,
        family_name=family.family_name,
        members=[
            FamilyMember(
                user_id=m.user_id,
                display_name=m.display_name,
                age=m.age,
                role=m.role,
                safety_level=m.safety_level,
                preferences=MemberPreferences(
                    interests=m.interests,
                    learning_style=m.learning_style,
                    difficulty_level=m.difficulty_level,
                    preferred_topics=m.preferred_topics,
                    avoided_topics=m.avoided_topics,
                ),
            )
            for m in members
        ],
        preferences=FamilyPreferences(
            communication_style=prefs.communication_style,  # type: ignore[arg-type]
            content_categories=prefs.content_categories,
            educational_focus=prefs.educational_focus,
        )
        if prefs
        else FamilyPreferences(),
        safety_settings=SafetySettings(
            max_content_rating=safety.max_content_rating,  # type: ignore[arg-type]
            blocked_topics=safety.blocked_topics,
            time_restrictions=[
                TimeRestriction(
                    start_time=w.start_time,
                    end_time=w.end_time,
                    days_of_week=w.days_of_week,
                    restricted_content=w.restricted_content,
                )
                for w in windows
            ],
        )
        if safety
        else SafetySettings(),
    )


def list_families(session: Session) -> list[Family]:
    return list(session.exec(select(Family).order_by(col(Family.id))).all())


def family_exists(session: Session, *, family_id: str) -> bool:
    return session.get(Family, family_id) is not None


def delete_family(session: Session, *, family_id: str) -> None:
    """Remove a family and, through ON DELETE CASCADE, every row that belongs to it."""
    family = session.get(Family, family_id)
    if family is None:
        raise NotFound(f"no family {family_id!r}")
    members = session.exec(select(Member).where(Member.family_id == family_id)).all()
    session.delete(family)
    audit.record_event(
        session, event_type="family_deleted", family_id=family_id, details={"members": len(members)}
    )


def pin_guarded_view(profile: FamilyProfile) -> Any:
    """What the parental PIN guards in a profile: the safety settings, and each member's
    age, safety level and avoided topics. A change to this view needs the PIN."""
    members = sorted(
        (m.user_id, m.age, m.safety_level, tuple(m.preferences.avoided_topics))
        for m in profile.members
    )
    return profile.safety_settings.model_dump(), members


def needs_pin_to_replace(old: FamilyProfile | None, new: FamilyProfile) -> bool:
    """Whether storing ``new`` over ``old`` changes anything the parental PIN guards."""
    return old is not None and pin_guarded_view(old) != pin_guarded_view(new)


PRIVACY_LEVELS = ("standard", "strict")


def set_privacy_level(
    session: Session, *, family_id: str, level: str, actor: str = "parent"
) -> bool:
    """Set a family's privacy level, audited. Returns True when it changed."""
    if level not in PRIVACY_LEVELS:
        raise ValidationFailed("privacyLevel", "must be standard or strict")
    family = session.get(Family, family_id)
    if family is None:
        raise NotFound(f"no family {family_id!r}")
    if family.privacy_level == level:
        return False
    audit.record_event(
        session,
        event_type="settings_changed",
        family_id=family_id,
        actor=actor,
        details={"changes": {"privacyLevel": {"from": family.privacy_level, "to": level}}},
    )
    family.privacy_level = level
    family.updated_at = utcnow()
    session.add(family)
    return True
