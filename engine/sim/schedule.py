"""When a simulated family uses the appliance, who is there, and what the day is like.

A few sessions a day at plausible times (before school, after school, evenings; more and
later on weekends), the weather of the day (a seasonal Markov chain), and the context a
session happens in: ``timeOfDay``/``dayOfWeek`` from the wall clock, ``familyMembers``
present, ``environmentalFactors`` (home, weekend, school_night, the weather, guests, tired...),
and a ``currentActivity`` from the interaction log's vocabulary (never free text).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np

from engine.schema.context import day_of_week_for, time_of_day_for
from engine.schema.profiles import FamilyProfile
from engine.sim.tastes import ADULT_ROLES

# (slot, first hour, last hour, weight): when a session may start.
WEEKDAY_SLOTS = (("early_morning", 6.5, 7.75, 0.5), ("afternoon", 15.5, 16.9, 0.8),
                 ("evening", 17.5, 20.5, 0.9), ("night", 21.0, 22.5, 0.25))  # fmt: skip
WEEKEND_SLOTS = (("morning", 8.0, 10.9, 0.8), ("midday", 11.0, 13.9, 0.6),
                 ("afternoon", 14.0, 16.9, 0.8), ("evening", 17.0, 20.5, 0.8),
                 ("night", 21.0, 22.75, 0.25))  # fmt: skip
ACTIVITIES = {
    "early_morning": ("breakfast",), "morning": ("breakfast", "playtime"),
    "midday": ("lunch", "playtime"), "afternoon": ("homework", "snack", "playtime"),
    "evening": ("dinner", "relaxing", "playtime"), "night": ("relaxing", "bedtime"),
}  # fmt: skip
WEATHERS = ("sunny", "cloudy", "rain", "snow")


def _season(month: int) -> list[float]:
    if month in (12, 1, 2):
        return [0.25, 0.35, 0.2, 0.2]
    if month in (6, 7, 8):
        return [0.55, 0.25, 0.2, 0.0]
    return [0.35, 0.35, 0.3, 0.0]


@dataclass(frozen=True)
class Session:
    """One moment the family looks at the screen."""

    at: datetime
    audience: list[str]
    context: dict[str, Any]


class Schedule:
    """An endless, seeded sequence of sessions for a family, from a start time on."""

    def __init__(self, profile: FamilyProfile, rng: np.random.Generator) -> None:
        self.rng = rng
        self.members = [(m.user_id, m.age, m.role in ADULT_ROLES or m.age >= 18)
                        for m in profile.members]  # fmt: skip
        self._weather = ""

    def sessions(self, start: datetime) -> Iterator[Session]:
        day = start.date()
        while True:
            for session in self._day(day, start.tzinfo):
                if session.at >= start:
                    yield session
            day += timedelta(days=1)

    def _day(self, day: Any, tz: Any) -> list[Session]:
        rng = self.rng
        probs = _season(day.month)
        if (
            self._weather in WEATHERS
            and probs[WEATHERS.index(self._weather)] > 0
            and (rng.random() < 0.55)
        ):
            weather = self._weather
        else:
            weather = WEATHERS[int(rng.choice(len(WEATHERS), p=probs))]
        self._weather = weather
        weekend = day.weekday() >= 5
        slots = WEEKEND_SLOTS if weekend else WEEKDAY_SLOTS
        count = int(rng.choice([2, 3, 4], p=[0.3, 0.45, 0.25]) if weekend
                    else rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))  # fmt: skip
        weights = np.array([s[3] for s in slots])
        picked = sorted(rng.choice(len(slots), size=count, replace=False,
                                   p=weights / weights.sum()))  # fmt: skip
        out: list[Session] = []
        for k in picked:
            name, first, last, _ = slots[int(k)]
            hours = first + rng.random() * (last - first)
            minute = int(hours * 60)
            at = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
            audience = self._present(name, weekend)
            out.append(Session(at, audience, self._context(at, audience, weather, weekend)))
        return out

    def _present(self, slot: str, weekend: bool) -> list[str]:
        rng = self.rng
        present: list[str] = []
        for user_id, age, adult in self.members:
            if slot == "night":
                p = 0.7 if adult else (0.3 if age >= 15 else 0.0)
            elif weekend or slot == "evening":
                p = 0.8
            elif slot == "early_morning":
                p = 0.85
            else:  # a weekday afternoon: children home from school, a parent perhaps
                p = 0.5 if adult else 0.9
            if rng.random() < p:
                present.append(user_id)
        eligible = [u for u, age, adult in self.members if slot != "night" or adult or age >= 15]
        if not present and eligible:
            present.append(eligible[int(rng.integers(len(eligible)))])
        ages = {u: (age, adult) for u, age, adult in self.members}
        adults = [u for u, _, adult in self.members if adult]
        young = any(ages[u][0] < 10 and not ages[u][1] for u in present)
        if young and adults and not any(ages[u][1] for u in present):
            present.append(adults[int(rng.integers(len(adults)))])
        order = [u for u, _, _ in self.members]
        return sorted(present, key=order.index)

    def _context(self, at: datetime, audience: Sequence[str], weather: str,
                 weekend: bool) -> dict[str, Any]:  # fmt: skip
        rng = self.rng
        tod = time_of_day_for(at.hour)
        day = day_of_week_for(at)
        factors: list[str] = []
        if rng.random() < 0.9:
            factors.append("home")
        if weekend:
            factors.append("weekend")
        elif tod in ("evening", "night") and day != "friday":
            factors.append("school_night")
        factors.append(weather)
        if tod != "night" and rng.random() < (0.12 if weekend else 0.04):
            factors.append("guests")
        if tod in ("evening", "night") and rng.random() < 0.3:
            factors.append("tired")
        if tod in ("morning", "afternoon") and rng.random() < 0.15:
            factors.append("energetic")
        if rng.random() < 0.08:
            factors.append("bored")
        context: dict[str, Any] = {"timeOfDay": tod, "dayOfWeek": day}
        if rng.random() < 0.7:
            choices = ACTIVITIES[tod]
            context["currentActivity"] = choices[int(rng.integers(len(choices)))]
        context["familyMembers"] = list(audience)
        context["environmentalFactors"] = factors
        context["at"] = at.isoformat()
        return context
