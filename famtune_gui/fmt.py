"""How things read on screen: times, scores, time windows, error messages. Presentation only."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timezone

from engine.app import TimeRestriction
from engine.base.errors import FamtuneError, ValidationFailed

log = logging.getLogger(__name__)

DAY_SHORT = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # 0 = Sunday, as in profiles
WEEKDAYS = (1, 2, 3, 4, 5)
WEEKEND = (0, 6)
SCHOOL_NIGHTS = (0, 1, 2, 3, 4)


def slug(text: str) -> str:
    """'Anna Maria' -> 'anna-maria': an id made from a name (at most 40 characters)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "member"


def words(tag: str) -> str:
    text = tag.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def local(moment: datetime) -> datetime:
    """A stored time (UTC, naive when SQLite dropped the zone) as local wall-clock time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone()


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return local(moment).strftime("%d %b %Y, %H:%M")


def score(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def days_text(days: Sequence[int]) -> str:
    chosen = tuple(sorted(set(days)))
    if len(chosen) == 7:
        return "Every day"
    if chosen == WEEKDAYS:
        return "Weekdays"
    if chosen == WEEKEND:
        return "Weekends"
    if chosen == SCHOOL_NIGHTS:
        return "School nights (Sun-Thu)"
    return ", ".join(DAY_SHORT[d] for d in chosen) or "No days"


def span_text(start: str, end: str) -> str:
    """'21:00 -> 07:00 next day' for a window across midnight, '09:00 -> 12:00' otherwise."""
    if end < start:
        return f"{start} → {end} next day"
    return f"{start} → {end}"


# The time-limit choice "screens" (engine.schema.profiles.SCREENS) is not a catalog category but
# every activity with a screen, which is what parents look for; in a sentence it reads
# "no screens".
SCREENS_LABEL = "Screens (TV, tablet, games)"


def window_text(window: TimeRestriction) -> str:
    paused = ", ".join(words(c).lower() for c in window.restricted_content)
    return (
        f"{days_text(window.days_of_week)}, {span_text(window.start_time, window.end_time)}:"
        f" no {paused}"
    )


def plain_error(exc: BaseException, what: str = "") -> str:
    """A message a parent understands: the engine's own words for its errors, a calm general
    sentence (and a log entry with the details) for anything else. Never a traceback."""
    if isinstance(exc, ValidationFailed):
        return exc.detail if not exc.field else f"{field_words(exc.field)}: {exc.detail}"
    if isinstance(exc, FamtuneError):
        text = str(exc)
        return text[:1].upper() + text[1:]
    log.error("unexpected error while %s", what or "working", exc_info=exc)
    doing = f" while {what}" if what else ""
    return f"Something went wrong{doing}. famtune is still running; please try again."


_FIELD_WORDS = {
    "displayName": "name", "userId": "member id", "familyName": "family name",
    "familyId": "family id", "preferences": "", "safetySettings": "",
    "learningStyle": "learning style", "difficultyLevel": "difficulty",
    "preferredTopics": "preferred topics", "avoidedTopics": "avoided topics",
    "safetyLevel": "safety level", "communicationStyle": "communication style",
    "contentCategories": "content categories", "educationalFocus": "educational focus",
    "maxContentRating": "maximum rating", "blockedTopics": "blocked topics",
    "timeRestrictions": "time limit", "startTime": "start", "endTime": "end",
    "daysOfWeek": "days", "restrictedContent": "paused categories",
}  # fmt: skip


def field_words(path: str) -> str:
    """'members[1].preferences.avoidedTopics[0]' -> 'Member 2, avoided topics'."""
    out: list[str] = []
    for part in path.split("."):
        name, _, index = part.partition("[")
        if name == "members" and index:
            out.append(f"Member {int(index.split(']')[0]) + 1}")
            continue
        if name == "timeRestrictions" and index:
            out.append(f"Time limit {int(index.split(']')[0]) + 1}")
            continue
        text = _FIELD_WORDS.get(name, name)
        if text:
            out.append(text)
    joined = ", ".join(out)
    return joined[:1].upper() + joined[1:]
