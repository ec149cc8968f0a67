"""The profile's vocabulary for the screens that show and edit it: the validated
:class:`FamilyProfile` the family actions return, the kinds its forms offer as choices, the
time windows and the "screens" restriction, and how a member is called. Nothing here reads or
writes; the family actions (:mod:`engine.app.families`) do. The GUI takes these names from
this layer so it reaches no floor below it."""

from __future__ import annotations

from engine.safety.validator import member_name, name_parts
from engine.schema.profiles import (
    SCREENS,
    CommunicationStyle,
    Difficulty,
    FamilyMember,
    FamilyProfile,
    LearningStyle,
    Role,
    SafetyLevel,
    TimeRestriction,
    normalize_topic,
)

__all__ = [
    "SCREENS",
    "CommunicationStyle",
    "Difficulty",
    "FamilyMember",
    "FamilyProfile",
    "LearningStyle",
    "Role",
    "SafetyLevel",
    "TimeRestriction",
    "member_name",
    "name_parts",
    "normalize_topic",
]
