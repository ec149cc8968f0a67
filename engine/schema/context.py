"""The request context: when and where a recommendation is asked for or an interaction happens.

The seed's shape, camelCase and bounded::

    {"timeOfDay": "morning", "dayOfWeek": "saturday", "currentActivity": "breakfast",
     "familyMembers": ["parent1", "child1"], "environmentalFactors": ["home", "weekend"],
     "at": "2025-06-07T08:30:00+02:00"}

``timeOfDay`` and ``dayOfWeek`` may be left out when ``at`` is given; they are then derived
from ``at``'s wall-clock time. Known environmental factors are normalized ("Sick Day" ->
``sick_day``); unknown ones are kept as typed (they are free text, and the privacy filter needs
their original capitalization to find names in them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, NamedTuple, get_args

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
from engine.schema.profiles import Identifier, validation_failed

TimeOfDay = Literal["early_morning", "morning", "midday", "afternoon", "evening", "night"]
DayOfWeek = Literal["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
TIMES_OF_DAY: tuple[TimeOfDay, ...] = get_args(TimeOfDay)
# Sunday first, so that an index matches a profile's ``daysOfWeek`` (0 = Sunday).
DAYS: tuple[DayOfWeek, ...] = get_args(DayOfWeek)
WEEKEND_DAYS: frozenset[str] = frozenset({"saturday", "sunday"})

MAX_ACTIVITY_CHARS = 200
MAX_MEMBERS = 16
MAX_FACTORS = 20
MAX_FACTOR_CHARS = 40

# Environmental factors that are tags, not free text: stored as they are, never scrubbed.
KNOWN_FACTORS: frozenset[str] = frozenset({
    "home", "away", "indoors", "outdoors", "weekend", "weekday", "holiday", "vacation",
    "school_day", "school_night", "sick_day", "guests", "visitors", "travel", "car",
    "sunny", "cloudy", "rain", "rainy", "snow", "snowy", "windy", "storm", "hot", "cold",
    "warm", "dark", "quiet", "noisy", "busy", "tired", "bored", "energetic", "late",
    "morning_rush", "bedtime_soon", "low_battery", "no_internet",
})  # fmt: skip

Factor = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FACTOR_CHARS)
]
Activity = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_ACTIVITY_CHARS)]


def normalize_tag(text: str) -> str:
    """Lowercase, runs of spaces and hyphens to one underscore: 'Sick Day' -> 'sick_day'."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def time_of_day_for(hour: int) -> TimeOfDay:
    """The part of the day an hour (0-23) falls in."""
    if 5 <= hour < 8:
        return "early_morning"
    if 8 <= hour < 11:
        return "morning"
    if 11 <= hour < 14:
        return "midday"
    if 14 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 21:
        return "evening"
    return "night"


def day_of_week_for(at: datetime) -> DayOfWeek:
    """The weekday of ``at``'s wall-clock date (Python's Monday=0 mapped to our names)."""
    return DAYS[(at.weekday() + 1) % 7]


class ContextBucket(NamedTuple):
    """A coarse, hashable summary of a context, for caches."""

    time_of_day: str
    day_of_week: str
    weekend: bool
    factors: tuple[str, ...]

    def key(self) -> str:
        flag = "weekend" if self.weekend else "weekday"
        return "|".join((self.time_of_day, self.day_of_week, flag, ",".join(self.factors)))


_STAND_IN = {"timeOfDay": "morning", "dayOfWeek": "monday"}


class RequestContext(BaseModel):
    """The context of one request or interaction (see the module docstring)."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True, str_max_length=2000
    )

    time_of_day: TimeOfDay = Field(alias="timeOfDay")
    day_of_week: DayOfWeek = Field(alias="dayOfWeek")
    current_activity: Activity | None = Field(None, alias="currentActivity")
    family_members: Annotated[list[Identifier], Field(max_length=MAX_MEMBERS)] = Field(
        default_factory=list, alias="familyMembers"
    )
    environmental_factors: Annotated[list[Factor], Field(max_length=MAX_FACTORS)] = Field(
        default_factory=list, alias="environmentalFactors"
    )
    at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_from_at(cls, data: Any) -> Any:
        """Derive a missing timeOfDay or dayOfWeek from ``at`` when ``at`` is given."""
        if not isinstance(data, Mapping) or data.get("at") is None:
            return data
        missing = [
            k
            for k in ("timeOfDay", "dayOfWeek")
            if k not in data
            and {"timeOfDay": "time_of_day", "dayOfWeek": "day_of_week"}[k] not in data
        ]
        if not missing:
            return data
        at = data["at"]
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                # Only the bad timestamp is reported ("at: ... day value is outside expected
                # range"), not the fields it would have filled: stand-ins fill them.
                return {**data, **{k: _STAND_IN[k] for k in missing}}
        if not isinstance(at, datetime):
            return data
        out = dict(data)
        if "timeOfDay" in missing:
            out["timeOfDay"] = time_of_day_for(at.hour)
        if "dayOfWeek" in missing:
            out["dayOfWeek"] = day_of_week_for(at)
        return out

    @field_validator("time_of_day", "day_of_week", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return normalize_tag(value) if isinstance(value, str) else value

    @field_validator("at")
    @classmethod
    def _convertible(cls, value: datetime | None) -> datetime | None:
        """A time that cannot be shown in local time or UTC (year 1 at +14:00, year 9999 at
        -14:00) would break every later step; refuse it here."""
        if value is not None:
            try:
                value.astimezone()
                value.astimezone(timezone.utc)
            except (OverflowError, ValueError, OSError):
                raise ValueError("the time is out of range") from None
        return value

    @field_validator("current_activity")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("family_members")
    @classmethod
    def _unique_members(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("member userIds must not repeat")
        return value

    @field_validator("environmental_factors")
    @classmethod
    def _normalize_factors(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for factor in value:
            tag = normalize_tag(factor)
            item = tag if tag in KNOWN_FACTORS else factor
            if item not in out:
                out.append(item)
        return out

    @property
    def is_weekend(self) -> bool:
        return self.day_of_week in WEEKEND_DAYS

    @property
    def day_index(self) -> int:
        """0 = Sunday ... 6 = Saturday, as in a profile's ``daysOfWeek``."""
        return DAYS.index(self.day_of_week)

    def bucket(self) -> ContextBucket:
        """Time of day, weekday, weekend flag and the sorted known factors (free text ignored)."""
        factors = sorted({normalize_tag(f) for f in self.environmental_factors} & KNOWN_FACTORS)
        return ContextBucket(self.time_of_day, self.day_of_week, self.is_weekend, tuple(factors))

    def to_json(self) -> dict[str, Any]:
        """The camelCase document; fields that are not set are left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def parse_context(data: Any, *, path: str = "") -> RequestContext:
    """Validate a decoded JSON object as a context, or raise ValidationFailed naming the field.

    ``path`` prefixes the field path in errors (e.g. ``"context"`` -> ``context.timeOfDay``).
    """
    if isinstance(data, RequestContext):
        return data
    if not isinstance(data, Mapping):
        raise ValidationFailed(path, "a context must be a JSON object")
    try:
        return RequestContext.model_validate(dict(data))
    except ValidationError as exc:
        err = validation_failed(exc, RequestContext)
        field = err.field if err.field != RequestContext.__name__ else ""
        full = ".".join(p for p in (path, field) if p).replace(".[", "[")
        raise ValidationFailed(full, err.detail) from None


def context_from_clock(
    at: datetime,
    *,
    members: list[str] | None = None,
    factors: list[str] | None = None,
) -> RequestContext:
    """A default context for the wall-clock time of ``at`` (pass a local time).

    Weekends get the ``weekend`` factor unless ``factors`` is given.
    """
    day = day_of_week_for(at)
    if factors is None:
        factors = ["weekend"] if day in WEEKEND_DAYS else []
    return RequestContext(
        time_of_day=time_of_day_for(at.hour),
        day_of_week=day,
        family_members=list(members or []),
        environmental_factors=list(factors),
        at=at,
    )
