"""The general engine: ranks the catalog for a moment without any fine-tuned model.

It is used when a family has no active model, as the fallback when the family model fails,
and to pick the candidates the family model chooses from. The score of an item is a sum of
small, named parts (so the reason can say which ones mattered):

- ``time``: the item's best times include the request's part of the day;
- ``weather`` / ``place``: rain, snow or storms push outdoor things down, being away from home
  pushes long or costly things down;
- ``evening``: long or high-energy things on a school night or late at night are pushed down;
- ``group`` / ``age``: the audience fits the item's group size and age range; grown-ups on
  their own get grown-up ideas (things made for young children go down, teen-and-up things
  go up);
- ``interests``: the audience's interests and preferred topics meet the item's topics;
- ``family``: the family's content categories and educational focus;
- ``activity``: what the family is doing now (homework, bedtime, playtime...);
- ``history``: what this family accepted, completed, rated or dismissed before, by item,
  topic and category, with older taps counting less;
- ``variety``: things shown in the last two days are pushed down a little.

Late on a school night with a child in the audience (``night``, not Friday or Saturday,
anyone 12 or younger) calm, short things come first (``bedtime``: everything else goes far
down, still ranked, so ``rank`` keeps every safe item) and ``recommend`` offers only those,
to wind down for bed (:func:`wind_down_note` says so in words); when none fits, nothing.

Every candidate passes the safety validator before it is ranked; blocked items never come out.
Ties break on the item id, so the same inputs always give the same answer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from engine.domain.catalog import CatalogItem, best_time_for
from engine.general.recommendation import Recommendation, Source
from engine.safety import SafetyItem, SafetyValidator, SafetyVerdict, parse_item
from engine.safety.validator import Audience, active_windows
from engine.schema.context import RequestContext
from engine.schema.profiles import FamilyMember, FamilyProfile, normalize_topic

# How much each outcome says about liking an item (rated: (rating - 3) / 2 on top).
OUTCOME_WEIGHT = {
    "accepted": 1.0,
    "completed": 1.5,
    "rated": 0.5,
    "dismissed": -0.6,
    "shown": -0.05,
}
HALF_LIFE_DAYS = 21.0
ACTIVITY_HINTS: dict[str, tuple[set[str], str | None]] = {
    # activity word -> (categories that fit, the energy that fits)
    "homework": ({"educational", "stem", "reading"}, "low"),
    "bedtime": ({"relaxation", "reading", "music"}, "low"),
    "breakfast": ({"cooking", "relaxation", "reading"}, "low"),
    "lunch": ({"cooking", "games", "social"}, None),
    "dinner": ({"cooking", "social", "games"}, None),
    "playtime": ({"games", "physical", "creative"}, None),
    "chores": ({"life_skills", "cooking"}, None),
    "travel": ({"games", "reading", "music"}, "low"),
    "relaxing": ({"relaxation", "reading", "music", "creative"}, "low"),
    "exercise": ({"physical", "outdoor"}, "high"),
}
WET = {"rain", "rainy", "storm"}
SNOWY = {"snow", "snowy"}
AWAY = {"away", "travel", "car"}
ADULT_AGE = 18
BEDTIME_CHILD_AGE = 12  # an audience with anyone this young winds down late on a school night
CALM_CATEGORIES = frozenset({"relaxation", "reading", "music"})
WIND_DOWN_MAX_MINUTES = 45
WIND_DOWN_NOTE = "It is late on a school night: time to wind down for bed."
NOT_FOR_BEDTIME = -6.0  # below any calm item whatever else it scores


@dataclass(frozen=True)
class Scored:
    item: CatalogItem
    score: float
    parts: dict[str, float]
    verdict: SafetyVerdict


@dataclass
class Taste:
    """What a family's taps say about items, topics and categories (decayed sums)."""

    items: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    topics: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    categories: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    recently_shown: set[str] = field(default_factory=set)
    count: int = 0


def learn_taste(
    history: Iterable[Any],
    catalog: dict[str, CatalogItem],
    *,
    members: Sequence[str] = (),
    now: datetime | None = None,
) -> Taste:
    """Sum a family's interactions into item, topic and category preferences.

    ``history`` holds objects with member_id, item_id, outcome, rating and created_at (the
    learning engine's ``InteractionView``). Taps by the members in ``members`` count fully,
    other members' taps half, so a family's shared tastes still help.
    """
    now = now or datetime.now(timezone.utc)
    taste = Taste()
    wanted = set(members)
    for row in history:
        item = catalog.get(row.item_id)
        age_days = max(0.0, (now - _aware(row.created_at)).total_seconds() / 86400)
        if row.outcome in ("shown", "accepted") and age_days < 2:
            taste.recently_shown.add(row.item_id)
        weight = OUTCOME_WEIGHT.get(row.outcome, 0.0)
        if row.outcome == "rated" and row.rating is not None:
            weight += (row.rating - 3) / 2
        weight *= 0.5 ** (age_days / HALF_LIFE_DAYS)
        if wanted and row.member_id not in wanted:
            weight *= 0.5
        taste.count += 1
        taste.items[row.item_id] += weight
        if item is None:
            continue
        for topic in item.topics:
            taste.topics[topic] += weight / max(1, len(item.topics))
        for category in item.categories:
            taste.categories[category] += weight / max(1, len(item.categories))
    return taste


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _squash(value: float, scale: float) -> float:
    """Map any real to (-scale, scale), so no single signal can dominate."""
    return scale * math.tanh(value / scale) if scale else 0.0


class GeneralEngine:
    """Context-aware, safety-checked ranking of the catalog. Stateless and deterministic."""

    def __init__(self, validator: SafetyValidator | None = None) -> None:
        self.validator = validator or SafetyValidator()
        self._safety_items: dict[str, tuple[CatalogItem, SafetyItem]] = {}

    def _as_safety_items(self, items: Sequence[CatalogItem]) -> list[SafetyItem]:
        """The validator's view of each item, parsed once per distinct catalog item."""
        out: list[SafetyItem] = []
        for item in items:
            cached = self._safety_items.get(item.id)
            if cached is None or (cached[0] is not item and cached[0] != item):
                cached = (item, parse_item(item.to_json()))
                self._safety_items[item.id] = cached
            out.append(cached[1])
        return out

    def rank(
        self,
        profile: FamilyProfile,
        context: RequestContext,
        items: Sequence[CatalogItem],
        *,
        members: Sequence[str] = (),
        taste: Taste | None = None,
        at: datetime | None = None,
    ) -> list[Scored]:
        """Every safe item with its score, best first."""
        audience = self.validator.audience(profile, members, context.family_members)
        active = active_windows(audience, at or context.at)
        safety_items = self._as_safety_items(items)
        req = _Request.of(profile, audience, context)
        scored: list[Scored] = []
        for item, safety_item in zip(items, safety_items, strict=True):
            verdict = self.validator.judge(audience, safety_item, active)
            if not verdict.allowed:
                continue
            parts = self._parts(req, item, taste)
            parts["safety"] = verdict.safety_score - 1.0
            scored.append(Scored(item, sum(parts.values()), parts, verdict))
        scored.sort(key=lambda s: (-round(s.score, 9), s.item.id))
        return scored

    def recommend(
        self,
        profile: FamilyProfile,
        context: RequestContext,
        items: Sequence[CatalogItem],
        *,
        members: Sequence[str] = (),
        taste: Taste | None = None,
        n: int = 5,
        at: datetime | None = None,
    ) -> list[Recommendation]:
        ranked = [
            s
            for s in self.rank(profile, context, items, members=members, taste=taste, at=at)
            if s.parts.get("bedtime", 0.0) >= 0  # wind down, or nothing
        ]
        audience = self.validator.audience(profile, members, context.family_members)
        interests = interests_of(audience.members)
        return [
            to_recommendation(s, source=Source.GENERAL, context=context, interests=interests)
            for s in ranked[:n]
        ]

    # -- the score ----------------------------------------------------------------------------

    def _parts(self, req: _Request, item: CatalogItem, taste: Taste | None) -> dict[str, float]:
        parts: dict[str, float] = {}
        parts["time"] = 1.0 if req.best_time in item.best_times else -0.8
        parts["weather"] = _weather(item, req.factors)
        parts["place"] = _place(item, req.factors)
        parts["evening"] = _evening(item, req)
        parts["group"] = _group(item, req.people)
        parts["age"] = _age(item, req)
        if req.wind_down:
            parts["bedtime"] = 0.5 if winds_down(item) else NOT_FOR_BEDTIME
        tags = set(item.topics) | set(item.categories)
        parts["interests"] = sum(min(2, len(w & tags)) * 0.5 for w in req.wanted) / len(req.wanted)
        parts["family"] = (0.25 if req.categories & tags else 0.0) + (
            0.2 if req.focus & tags else 0.0
        )
        parts["activity"] = _activity(item, req.activity_hint)
        if taste is not None and taste.count:
            liked = (
                taste.items.get(item.id, 0.0)
                + 0.6 * sum(taste.topics.get(t, 0.0) for t in item.topics)
                + 0.4 * sum(taste.categories.get(c, 0.0) for c in item.categories)
            )
            parts["history"] = _squash(liked, 2.0)
            parts["variety"] = -0.4 if item.id in taste.recently_shown else 0.0
        return parts


FOCUS_CATEGORIES = {
    "creativity": "creative",
    "science": "stem",
    "technology": "stem",
    "math": "stem",
    "literacy": "reading",
    "fitness": "physical",
}


@dataclass(frozen=True)
class _Request:
    """Everything about the request the score needs, worked out once per request."""

    best_time: str
    factors: frozenset[str]
    time_of_day: str
    weekend: bool
    school_night: bool
    wind_down: bool
    people: int
    youngest: int
    wanted: tuple[frozenset[str], ...]
    categories: frozenset[str]
    focus: frozenset[str]
    activity_hint: tuple[set[str], str | None] | None

    @classmethod
    def of(cls, profile: FamilyProfile, audience: Audience, context: RequestContext) -> _Request:
        factors = frozenset(normalize_topic(f) for f in context.environmental_factors)
        late = context.time_of_day in ("evening", "night")
        prefs = profile.preferences
        text = (context.current_activity or "").lower()
        hint = next((h for word, h in ACTIVITY_HINTS.items() if word in text), None)
        youngest = min(m.age for m in audience.members)
        school_night = "school_night" in factors or (
            late and not context.is_weekend and context.day_of_week != "friday"
        )
        return cls(
            best_time=best_time_for(context.time_of_day),
            factors=factors,
            time_of_day=context.time_of_day,
            weekend=context.is_weekend,
            school_night=school_night,
            wind_down=is_wind_down(context.time_of_day, school_night, youngest),
            people=len(audience.members),
            youngest=youngest,
            wanted=tuple(
                frozenset(
                    normalize_topic(t)
                    for t in (*m.preferences.interests, *m.preferences.preferred_topics)
                )
                for m in audience.members
            ),
            categories=frozenset(normalize_topic(c) for c in prefs.content_categories),
            focus=frozenset(
                FOCUS_CATEGORIES.get(normalize_topic(f), normalize_topic(f))
                for f in prefs.educational_focus
            ),
            activity_hint=hint,
        )


def is_wind_down(time_of_day: str, school_night: bool, youngest: int) -> bool:
    """Late on a school night with a child in the audience."""
    return time_of_day == "night" and school_night and youngest <= BEDTIME_CHILD_AGE


def wind_down_note(
    profile: FamilyProfile, context: RequestContext, members: Sequence[str] = ()
) -> str | None:
    """The sentence that goes with wind-down suggestions (None when it is not bedtime)."""
    from engine.safety.validator import build_audience

    audience = build_audience(profile, members, context.family_members)
    factors = frozenset(normalize_topic(f) for f in context.environmental_factors)
    late = context.time_of_day in ("evening", "night")
    school_night = "school_night" in factors or (
        late and not context.is_weekend and context.day_of_week != "friday"
    )
    youngest = min(m.age for m in audience.members)
    return WIND_DOWN_NOTE if is_wind_down(context.time_of_day, school_night, youngest) else None


def winds_down(item: CatalogItem) -> bool:
    """Calm and short enough for the last thing before bed."""
    return (
        item.energy == "low"
        and bool(CALM_CATEGORIES & set(item.categories))
        and item.duration_minutes <= WIND_DOWN_MAX_MINUTES
    )


def _age(item: CatalogItem, req: _Request) -> float:
    """Outgrown things go down; grown-ups alone get grown-up ideas."""
    if item.max_age is not None and req.youngest > item.max_age:
        return -1.2
    if req.youngest >= ADULT_AGE:
        if item.min_age >= 13:
            return 0.8
        if item.min_age <= 6:
            return -0.8  # made for young children
        if item.min_age <= 9:
            return -0.3
    return 0.0


def _weather(item: CatalogItem, factors: frozenset[str]) -> float:
    outdoor = item.setting == "outdoor"
    if factors & WET:
        if outdoor and "rain" not in item.weather:
            return -2.0
        return 0.3 if item.setting == "indoor" or "rain" in item.weather else 0.0
    if factors & SNOWY:
        if "snow" in item.weather:
            return 0.8
        return -1.5 if outdoor and "any" not in item.weather else 0.1
    if "sunny" in factors or "warm" in factors:
        return 0.4 if item.setting != "indoor" else -0.1
    if "cold" in factors and outdoor:
        return -0.3
    return 0.0


def _place(item: CatalogItem, factors: frozenset[str]) -> float:
    if factors & AWAY:
        return -0.6 if item.duration_minutes > 90 or item.cost in ("medium", "high") else 0.2
    if "home" in factors or "indoors" in factors:
        return 0.2 if item.setting != "outdoor" else -0.2
    if "outdoors" in factors:
        return 0.4 if item.setting != "indoor" else -0.3
    return 0.0


def _evening(item: CatalogItem, req: _Request) -> float:
    score = 0.0
    if req.time_of_day == "night" and item.energy == "high":
        score -= 0.7
    if req.school_night and item.duration_minutes > 90:
        score -= 0.5
    if ("tired" in req.factors or "bedtime_soon" in req.factors) and item.energy != "low":
        score -= 0.5
    if req.weekend and item.duration_minutes >= 90 and req.time_of_day not in ("evening", "night"):
        score += 0.2
    return score


def _group(item: CatalogItem, people: int) -> float:
    if item.group_size.min <= people <= item.group_size.max:
        return 0.3
    return -0.9 if people < item.group_size.min else -0.4


def _activity(item: CatalogItem, hint: tuple[set[str], str | None] | None) -> float:
    if hint is None:
        return 0.0
    categories, energy = hint
    score = 0.5 if categories & set(item.categories) else 0.0
    if energy and item.energy != energy:
        score -= 0.3
    return score


# -- reasons ----------------------------------------------------------------------------------

_REASON_OF = {
    "history": "your family enjoyed things like this before",
    "interests": "it matches {interest}",
    "time": "it suits the {time}",
    "weather": "it works with today's weather",
    "activity": "it fits what you are doing now",
    "family": "it fits your family's favourite kinds of activity",
    "group": "it is right for a group this size",
    "place": "it fits where you are",
    "bedtime": "it is calm and short, right for winding down before bed",
}
_TIME_WORDS = {"early_morning": "early morning", "midday": "middle of the day"}


def reason_for(
    scored: Scored, context: RequestContext | None = None, interests: Iterable[str] = ()
) -> str:
    """A short plain sentence naming the strongest one or two reasons (no names)."""
    best = sorted(
        ((v, k) for k, v in scored.parts.items() if v > 0.15 and k in _REASON_OF), reverse=True
    )[:2]
    topics = [t for t in scored.item.topics if t in set(interests)]
    interest = f"an interest in {topics[0].replace('_', ' ')}" if topics else "your interests"
    time_word = "time of day"
    if context is not None:
        time_word = _TIME_WORDS.get(context.time_of_day, context.time_of_day)
    phrases = [_REASON_OF[k].format(interest=interest, time=time_word) for _, k in best]
    if not phrases:
        return f"A {scored.item.category.replace('_', ' ')} idea for right now."
    text = " and ".join(phrases)
    return text[0].upper() + text[1:] + "."


def confidence_of(score: float) -> float:
    return 1.0 / (1.0 + math.exp(-(score - 1.5)))


def to_recommendation(
    scored: Scored,
    *,
    source: Source,
    reason: str | None = None,
    model_version: int | None = None,
    context: RequestContext | None = None,
    interests: Iterable[str] = (),
) -> Recommendation:
    return Recommendation(
        id=scored.item.id,
        title=scored.item.title,
        category=scored.item.category,
        reason=reason or reason_for(scored, context, interests),
        confidence=confidence_of(scored.score),
        source=source,
        safety_score=scored.verdict.safety_score,
        model_version=model_version,
    )


def interests_of(members: Sequence[FamilyMember]) -> set[str]:
    return {
        normalize_topic(t)
        for m in members
        for t in (*m.preferences.interests, *m.preferences.preferred_topics)
    }
