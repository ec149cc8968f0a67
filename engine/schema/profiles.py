"""The family profile in the seed's JSON shape (camelCase), validated at the boundary.

A profile arriving from a file, the CLI or the GUI is parsed here before anything is written.
Every bound is explicit so that a 2 MB name or a 500-member family is refused, not stored.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.base.errors import ValidationFailed
from engine.base.ids import ID_PATTERN
from engine.base.vocabulary import ContentRating

SafetyLevel = Literal["strict", "moderate", "relaxed"]
Role = Literal["parent", "guardian", "grandparent", "caregiver", "child", "teen", "other"]
LearningStyle = Literal["visual", "auditory", "kinesthetic", "reading", "mixed"]
Difficulty = Literal["beginner", "intermediate", "advanced"]
CommunicationStyle = Literal["friendly", "playful", "formal", "casual", "encouraging", "concise"]

MAX_PROFILE_BYTES = 256 * 1024

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN, min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
TagList = Annotated[list[Tag], Field(max_length=40)]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Day = Annotated[int, Field(ge=0, le=6)]

# What a time window's ``restrictedContent`` may pause besides the catalog's categories
# ("entertainment", "games", ...): every activity whose catalog entry says it uses a screen
# (TV, films, video games, tablets, apps, computers, video calls), whatever its categories.
SCREENS = "screens"


def normalize_topic(topic: str) -> str:
    """Lowercase, spaces and hyphens to underscores: 'Scary Content' -> 'scary_content'."""
    return re.sub(r"[\s\-]+", "_", topic.strip().lower())


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, str_max_length=2000, strict=True
    )


class MemberPreferences(_Strict):
    interests: TagList = Field(default_factory=list)
    learning_style: LearningStyle = Field("mixed", alias="learningStyle")
    difficulty_level: Difficulty = Field("beginner", alias="difficultyLevel")
    preferred_topics: TagList = Field(default_factory=list, alias="preferredTopics")
    avoided_topics: TagList = Field(default_factory=list, alias="avoidedTopics")


class FamilyMember(_Strict):
    user_id: Identifier = Field(alias="userId")
    display_name: ShortText | None = Field(None, alias="displayName")
    age: int = Field(ge=0, le=120)
    role: Role
    preferences: MemberPreferences = Field(default_factory=MemberPreferences)
    safety_level: SafetyLevel = Field("moderate", alias="safetyLevel")


class FamilyPreferences(_Strict):
    communication_style: CommunicationStyle = Field("friendly", alias="communicationStyle")
    content_categories: TagList = Field(default_factory=list, alias="contentCategories")
    educational_focus: TagList = Field(default_factory=list, alias="educationalFocus")


class TimeRestriction(_Strict):
    """A window of days and hours that pauses its ``restrictedContent``: catalog categories
    and/or ``SCREENS`` (see ``engine.safety.validator``)."""

    start_time: HHMM = Field(alias="startTime")
    end_time: HHMM = Field(alias="endTime")
    days_of_week: Annotated[list[Day], Field(min_length=1, max_length=7)] = Field(
        alias="daysOfWeek"
    )
    restricted_content: Annotated[list[Tag], Field(min_length=1, max_length=20)] = Field(
        alias="restrictedContent"
    )

    @field_validator("days_of_week")
    @classmethod
    def _unique_days(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError("days must not repeat")
        return days

    @model_validator(mode="after")
    def _not_empty_window(self) -> TimeRestriction:
        if self.start_time == self.end_time:
            raise ValueError("startTime and endTime must differ")
        return self


class SafetySettings(_Strict):
    max_content_rating: ContentRating = Field("PG", alias="maxContentRating")
    blocked_topics: TagList = Field(default_factory=list, alias="blockedTopics")
    time_restrictions: Annotated[list[TimeRestriction], Field(max_length=20)] = Field(
        default_factory=list, alias="timeRestrictions"
    )


class FamilyProfile(_Strict):
    family_id: Identifier = Field(alias="familyId")
    family_name: ShortText | None = Field(None, alias="familyName")
    members: Annotated[list[FamilyMember], Field(min_length=1, max_length=16)]
    preferences: FamilyPreferences = Field(default_factory=FamilyPreferences)
    safety_settings: SafetySettings = Field(default_factory=SafetySettings, alias="safetySettings")

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[FamilyMember]) -> list[FamilyMember]:
        seen: set[str] = set()
        for member in members:
            key = member.user_id.lower()
            if key in seen:
                raise ValueError(f"duplicate member userId {member.user_id!r}")
            seen.add(key)
        return members

    def member(self, user_id: str) -> FamilyMember | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    def to_json(self) -> dict[str, Any]:
        """The seed's camelCase document; optional fields that were never set are left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _field_path(loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    parts: list[str] = []
    for piece in loc:
        if isinstance(piece, int):
            parts.append(f"[{piece}]")
        else:
            parts.append(("." if parts else "") + piece)
    return "".join(parts) or model.__name__


def validation_failed(exc: ValidationError, model: type[BaseModel]) -> ValidationFailed:
    """Turn pydantic's error into one line that names the first bad field path."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(p for p in first["loc"] if p not in ("function-after[_not_empty_window()]",))
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(_field_path(loc, model), message)


def parse_profile(data: Any) -> FamilyProfile:
    """Validate a decoded JSON object as a family profile, or raise ValidationFailed."""
    if not isinstance(data, dict):
        raise ValidationFailed("", "a family profile must be a JSON object")
    try:
        return FamilyProfile.model_validate(data)
    except ValidationError as exc:
        raise validation_failed(exc, FamilyProfile) from None


def load_json_text(text: str | bytes, what: str, max_bytes: int = MAX_PROFILE_BYTES) -> Any:
    """Decode JSON with a size bound and a plain message for truncated or broken documents."""
    if len(text) > max_bytes:
        raise ValidationFailed("", f"{what} is too large ({len(text)} bytes, limit {max_bytes})")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationFailed("", f"{what} is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an int of 4300+ digits
        if isinstance(exc, json.JSONDecodeError):
            detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        elif isinstance(exc, UnicodeDecodeError):
            detail = "not UTF-8 text"
        else:
            detail = "a number is too long"
        raise ValidationFailed("", f"{what} is not valid JSON: {detail}") from None


def parse_profile_text(text: str | bytes) -> FamilyProfile:
    return parse_profile(load_json_text(text, "family profile"))
