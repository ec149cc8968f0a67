"""Time restrictions: when a family's "no entertainment after 21:00" window applies.

Days follow the seed (JavaScript): 0 = Sunday ... 6 = Saturday. A window with
start <= end applies on its days from start (inclusive) to end (exclusive). A window with
start > end crosses midnight: it applies on its days from start, and on the day after one
of its days until end, so "Saturday 21:00-07:00" still applies at Sunday 06:59.
"""

from __future__ import annotations

import re
from datetime import datetime

from engine.base.errors import ValidationFailed
from engine.schema.profiles import TimeRestriction

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def minutes(hhmm: str) -> int:
    """'07:30' -> 450. Raises ValidationFailed for anything that is not HH:MM."""
    found = _HHMM.match(hhmm)
    if found is None:
        raise ValidationFailed("time", f"{hhmm!r} is not a time of day in HH:MM form")
    return int(found.group(1)) * 60 + int(found.group(2))


def window_applies(window: TimeRestriction, weekday: int, hhmm: str) -> bool:
    """Whether ``window`` applies at local time ``hhmm`` on JS weekday ``weekday``."""
    if not 0 <= weekday <= 6:
        raise ValidationFailed("weekday", f"{weekday} is not a day 0 (Sunday) to 6 (Saturday)")
    t, start, end = minutes(hhmm), minutes(window.start_time), minutes(window.end_time)
    days = window.days_of_week
    if start <= end:
        return weekday in days and start <= t < end
    return (weekday in days and t >= start) or ((weekday - 1) % 7 in days and t < end)


def weekday_js(moment: datetime) -> int:
    """Python's Monday = 0 ... Sunday = 6 as JavaScript's Sunday = 0 ... Saturday = 6."""
    return (moment.weekday() + 1) % 7


def local_moment(at: datetime | None = None) -> datetime:
    """``at`` as local wall-clock time: now when None, a naive time as is (it is local
    already), an aware time converted to the machine's time zone."""
    if at is None:
        return datetime.now()
    if at.tzinfo is not None and at.utcoffset() is not None:
        return at.astimezone().replace(tzinfo=None)
    return at.replace(tzinfo=None)


def hhmm_of(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"
