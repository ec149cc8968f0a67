"""Hidden tastes of a simulated family: what its members really like, which only the
simulator may read.

Each member has an affinity for every catalog category and topic, drawn from a seeded numpy
Generator around a family archetype, a role bias (children, teens, adults), what the profile
says (``interests``, ``preferredTopics``, ``avoidedTopics``, mostly true) and a few secret loves
and dislikes the profile does not mention, which personalization has to discover. Members also
have an energy preference that moves with the time of day, a liking for the outdoors on fine
days, a patience for long activities, and parents defer to the youngest child some of the time.
Affinities drift a little every simulated week (a mean-reverting random walk).

A member's utility for an item in a situation is its hidden affinity plus how well the item fits
the moment (best times, energy, weather, weekday length, group size, guests, age range).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from engine.domain.catalog import BEST_TIMES, CATEGORIES, ENERGIES, CatalogItem, best_time_for
from engine.schema.context import TIMES_OF_DAY
from engine.schema.profiles import FamilyProfile, normalize_topic

Array = npt.NDArray[np.float64]
Archetype = Literal["outdoorsy", "bookish-artsy", "sporty-competitive", "stem-builders", "random"]
ARCHETYPES: tuple[Archetype, ...] = get_args(Archetype)
ADULT_ROLES = frozenset({"parent", "guardian", "grandparent", "caregiver"})

# Family-wide category and topic leanings of each archetype ("random" draws its own).
CATEGORY_BIAS: dict[str, dict[str, float]] = {
    "outdoorsy": {"outdoor": 1.2, "physical": 0.6, "social": 0.2, "reading": -0.4,
                  "entertainment": -0.5},
    "bookish-artsy": {"reading": 1.2, "creative": 1.0, "music": 0.6, "relaxation": 0.3,
                      "physical": -0.6, "outdoor": -0.4, "games": -0.2},
    "sporty-competitive": {"physical": 1.2, "games": 0.9, "outdoor": 0.5, "social": 0.3,
                           "reading": -0.6, "relaxation": -0.5, "creative": -0.3},
    "stem-builders": {"stem": 1.3, "educational": 0.7, "games": 0.3, "creative": 0.3,
                      "entertainment": -0.2, "social": -0.3},
}  # fmt: skip
TOPIC_BIAS: dict[str, dict[str, float]] = {
    "outdoorsy": {"nature": 1.0, "animals": 0.7, "gardening": 0.8, "weather": 0.5, "insects": 0.5,
                  "ocean": 0.5, "swimming": 0.4, "geography": 0.3, "movies": -0.5},
    "bookish-artsy": {"reading": 1.0, "writing": 0.9, "art": 1.0, "crafts": 0.8, "music": 0.6,
                      "theatre": 0.7, "languages": 0.4, "history": 0.4, "photography": 0.5,
                      "sports": -0.7},
    "sporty-competitive": {"sports": 1.2, "fitness": 1.0, "swimming": 0.6, "dance": 0.3,
                           "board_games": 0.3, "puzzles": -0.3, "reading": -0.5},
    "stem-builders": {"science": 1.1, "engineering": 1.0, "technology": 0.9, "coding": 1.0,
                      "math": 0.8, "space": 0.8, "building": 0.9, "puzzles": 0.5,
                      "dinosaurs": 0.4},
}  # fmt: skip
ENERGY_SHIFT = {"outdoorsy": 0.2, "bookish-artsy": -0.4, "sporty-competitive": 0.4,
                "stem-builders": 0.0, "random": 0.0}  # fmt: skip
OUTDOOR_PREF = {"outdoorsy": 1.0, "bookish-artsy": -0.3, "sporty-competitive": 0.6,
                "stem-builders": 0.1, "random": 0.0}  # fmt: skip
ROLE_BIAS: dict[str, dict[str, float]] = {
    "kid": {"entertainment": 0.3, "games": 0.4, "physical": 0.2, "educational": -0.3,
            "life_skills": -0.5, "relaxation": -0.3},
    "teen": {"social": 0.4, "entertainment": 0.3, "music": 0.2, "life_skills": -0.3},
    "adult": {"educational": 0.2, "cooking": 0.2, "relaxation": 0.3, "life_skills": 0.1,
              "games": -0.1},
}  # fmt: skip
# What a stated interest or preferred topic points at: (categories, topics).
INTEREST_MAP: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "technology": (("stem",), ("technology", "coding")), "sports": (("physical",), ("sports",)),
    "cooking": (("cooking",), ("cooking", "baking")), "baking": (("cooking",), ("baking",)),
    "animals": (("outdoor",), ("animals", "insects")), "drawing": (("creative",), ("art",)),
    "painting": (("creative",), ("art",)), "art": (("creative",), ("art", "crafts")),
    "music": (("music",), ("music",)), "dance": (("music", "physical"), ("dance",)),
    "science": (("stem", "educational"), ("science",)), "history": (("educational",), ("history",)),
    "reading": (("reading",), ("reading",)), "books": (("reading",), ("reading", "writing")),
    "writing": (("reading", "creative"), ("writing",)), "nature": (("outdoor",), ("nature",)),
    "hiking": (("outdoor", "physical"), ("nature",)), "games": (("games",), ("board_games",)),
    "board_games": (("games",), ("board_games",)), "puzzles": (("games",), ("puzzles",)),
    "building": (("stem", "creative"), ("building", "engineering")),
    "lego": (("stem", "creative"), ("building",)), "space": (("stem",), ("space",)),
    "math": (("stem", "educational"), ("math",)), "coding": (("stem",), ("coding", "technology")),
    "crafts": (("creative",), ("crafts",)),
    "theatre": (("creative", "entertainment"), ("theatre",)),
    "movies": (("entertainment",), ("movies",)), "gardening": (("outdoor",), ("gardening",)),
    "photography": (("creative",), ("photography",)), "swimming": (("physical",), ("swimming",)),
    "dinosaurs": (("educational",), ("dinosaurs",)),
    "languages": (("educational",), ("languages",)),
    "creativity": (("creative",), ()), "fitness": (("physical",), ("fitness",)),
    "robots": (("stem",), ("engineering", "technology")), "ocean": (("outdoor",), ("ocean",)),
}  # fmt: skip
# How eager for energetic things people are at each time of day (added to their preference).
HABIT_BASE = np.array([-0.3, 0.2, 0.0, 0.25, -0.25, -0.7])
_WEATHER_TAGS = {"rain": "rain", "rainy": "rain", "storm": "rain", "snow": "snow",
                 "snowy": "snow", "sunny": "sunny", "hot": "sunny", "cloudy": "cloudy"}  # fmt: skip


def interest_targets(term: str, topics: Sequence[str]) -> tuple[list[str], list[str]]:
    """The categories and (known) topics a stated interest points at."""
    key = normalize_topic(term)
    cats, tops = INTEREST_MAP.get(key, ((), ()))
    categories = list(dict.fromkeys([*cats, *([key] if key in CATEGORIES else [])]))
    known = set(topics)
    return categories, [t for t in dict.fromkeys([*tops, key]) if t in known]


def _flags(items: Sequence[CatalogItem], test: Any) -> npt.NDArray[np.bool_]:
    return np.array([bool(test(i)) for i in items], dtype=bool)


@dataclass(frozen=True)
class ItemFeatures:
    """The catalog as arrays: one row per item."""

    ids: tuple[str, ...]
    index: Mapping[str, int]
    topics: tuple[str, ...]
    cat: Array  # (items, categories), rows sum to 1
    top: Array  # (items, topics), rows sum to 1 (or 0 without topics)
    has_topic: npt.NDArray[np.bool_]
    energy: Array
    best: npt.NDArray[np.bool_]  # (items, 4) in BEST_TIMES order
    outdoor: Array  # 1 outdoor, 0.5 either, 0 indoor
    any_weather: npt.NDArray[np.bool_]
    ok_rain: npt.NDArray[np.bool_]
    ok_snow: npt.NDArray[np.bool_]
    ok_sunny: npt.NDArray[np.bool_]
    ok_dry: npt.NDArray[np.bool_]
    duration: Array
    group_min: Array
    group_max: Array
    max_age: Array
    sociable: npt.NDArray[np.bool_]

    @classmethod
    def build(cls, items: Sequence[CatalogItem]) -> ItemFeatures:
        topics = tuple(sorted({t for item in items for t in item.topics}))
        tpos = {t: j for j, t in enumerate(topics)}
        cat = np.zeros((len(items), len(CATEGORIES)))
        top = np.zeros((len(items), len(topics)))
        for i, item in enumerate(items):
            for c in item.categories:
                cat[i, CATEGORIES.index(c)] = 1.0 / len(item.categories)
            for t in item.topics:
                top[i, tpos[t]] = 1.0 / len(item.topics)
        best = np.array([[t in item.best_times for t in BEST_TIMES] for item in items], dtype=bool)
        return cls(
            ids=tuple(item.id for item in items),
            index={item.id: i for i, item in enumerate(items)},
            topics=topics, cat=cat, top=top, has_topic=top.sum(axis=1) > 0,
            energy=np.array([float(ENERGIES.index(item.energy)) for item in items]),
            best=best.reshape(len(items), len(BEST_TIMES)),
            outdoor=np.array([{"outdoor": 1.0, "either": 0.5}.get(i.setting, 0.0) for i in items]),
            any_weather=_flags(items, lambda i: "any" in i.weather),
            ok_rain=_flags(items, lambda i: "rain" in i.weather),
            ok_snow=_flags(items, lambda i: "snow" in i.weather),
            ok_sunny=_flags(items, lambda i: "sunny" in i.weather),
            ok_dry=_flags(items, lambda i: "dry" in i.weather),
            duration=np.array([float(i.duration_minutes) for i in items]),
            group_min=np.array([float(i.group_size.min) for i in items]),
            group_max=np.array([float(i.group_size.max) for i in items]),
            max_age=np.array([float(200 if i.max_age is None else i.max_age) for i in items]),
            sociable=_flags(items, lambda i: {"social", "games"} & set(i.categories)),
        )  # fmt: skip


@dataclass(frozen=True)
class Situation:
    """A context reduced to what the taste model reads."""

    time_of_day: str
    weekend: bool
    weather: str  # sunny, cloudy, rain, snow or "" (unknown)
    factors: frozenset[str]

    @classmethod
    def of(cls, context: Mapping[str, Any]) -> Situation:
        raw = context.get("environmentalFactors") or []
        factors = frozenset(normalize_topic(str(f)) for f in raw)
        weather = next((_WEATHER_TAGS[f] for f in sorted(factors) if f in _WEATHER_TAGS), "")
        day = str(context.get("dayOfWeek", ""))
        return cls(
            time_of_day=str(context.get("timeOfDay", "afternoon")),
            weekend=day in ("saturday", "sunday") or bool({"weekend", "holiday"} & factors),
            weather=weather,
            factors=factors,
        )


@dataclass(frozen=True)
class MomentRule:
    """A taste for a topic that holds only for these members together, on weekends (True),
    weekdays (False) or both (None), at these parts of the day."""

    members: tuple[int, ...]
    weekend: bool | None
    parts: frozenset[str]
    topic: int
    sign: float


class HiddenTastes:
    """The members' hidden tastes for one catalog, and their weekly drift."""

    DRIFT_SIGMA = 0.07  # weekly random-walk step of an affinity
    DRIFT_PULL = 0.04  # weekly pull back towards the member's base taste
    MAX_WEEKS = 520
    AFFINITY_SCALE = 1.6  # affinities weigh more than the fit to the moment

    MOMENT_WEIGHT = 1.6  # how much a moment rule moves a member's utility
    MOMENT_RULES = 3  # moment rules per member (with ``moment_tastes``)

    def __init__(self, profile: FamilyProfile, features: ItemFeatures, archetype: Archetype,
                 seed: int, *, moment_tastes: bool = False) -> None:  # fmt: skip
        if archetype not in ARCHETYPES:
            raise ValueError(f"unknown archetype {archetype!r} (one of {', '.join(ARCHETYPES)})")
        self.features = features
        self.archetype = archetype
        self.members = tuple(m.user_id for m in profile.members)
        self.ages = np.array([float(m.age) for m in profile.members])
        self.is_kid = np.array([m.age < 18 for m in profile.members], dtype=bool)
        self.is_parent = np.array(
            [m.role in ADULT_ROLES and m.age >= 18 for m in profile.members], dtype=bool
        )
        rng = np.random.default_rng([seed, 0])
        self._drift_rng = np.random.default_rng([seed, 1])
        n, k = len(self.members), len(features.topics)
        self.category_base = np.zeros((n, len(CATEGORIES)))
        self.topic_base = np.zeros((n, k))
        self._draw_affinities(profile, rng)
        kind_energy = np.where(self.ages < 13, 1.3, np.where(self.ages < 18, 1.0, 0.8))
        self.energy_pref = np.clip(
            kind_energy + ENERGY_SHIFT[archetype] + rng.normal(0, 0.25, n), 0.0, 2.0
        )
        self.habit = HABIT_BASE + rng.normal(0, 0.2, (n, len(TIMES_OF_DAY)))
        self.outdoor_pref = OUTDOOR_PREF[archetype] + rng.normal(0, 0.4, n)
        kid_patience = 15.0 + 5.0 * self.ages
        self.patience = np.where(self.is_kid, kid_patience, 90.0) * rng.lognormal(0, 0.3, n)
        self.deference = np.where(self.is_parent, rng.uniform(0.2, 0.6, n), 0.0)
        self._weeks: list[tuple[Array, Array]] = [(self.category_base, self.topic_base)]
        self.rules: list[MomentRule] = []
        if moment_tastes:
            self._draw_moment_rules(profile, np.random.default_rng([seed, 7]))

    # -- drawing --------------------------------------------------------------------------------

    def _draw_affinities(self, profile: FamilyProfile, rng: np.random.Generator) -> None:
        topics = self.features.topics
        cat_bias = np.zeros(len(CATEGORIES))
        top_bias = np.zeros(len(topics))
        if self.archetype == "random":
            cat_bias = rng.normal(0, 0.6, len(CATEGORIES))
            top_bias = rng.normal(0, 0.4, len(topics))
        else:
            for c, v in CATEGORY_BIAS[self.archetype].items():
                cat_bias[CATEGORIES.index(c)] = v
            for t, v in TOPIC_BIAS[self.archetype].items():
                if t in topics:
                    top_bias[topics.index(t)] = v
        blocked = {normalize_topic(t) for t in profile.safety_settings.blocked_topics}
        for m, member in enumerate(profile.members):
            kind = "kid" if member.age < 13 else "teen" if member.age < 18 else "adult"
            cat = 0.8 * cat_bias + rng.normal(0, 0.7, len(CATEGORIES))
            for c, v in ROLE_BIAS[kind].items():
                cat[CATEGORIES.index(c)] += v
            top = 0.8 * top_bias + rng.normal(0, 0.6, len(topics))
            prefs = member.preferences
            stated_c: set[str] = set()
            stated_t: set[str] = set()
            for term in [*prefs.interests, *prefs.preferred_topics]:
                cats, tops = interest_targets(term, topics)
                strength = 0.2 if rng.random() < 0.2 else 1.0  # a few stated likes are lukewarm
                for c in cats:
                    cat[CATEGORIES.index(c)] += 0.6 * strength
                for t in tops:
                    top[topics.index(t)] += 0.9 * strength
                stated_c.update(cats)
                stated_t.update(tops)
            for t in {normalize_topic(x) for x in prefs.avoided_topics} | blocked:
                if t in topics:
                    top[topics.index(t)] -= 2.0
            # Secrets: loves and dislikes the profile does not mention.
            free_c = [i for i, c in enumerate(CATEGORIES) if c not in stated_c]
            free_t = [i for i, t in enumerate(topics) if t not in stated_t]
            if free_c:
                picks = rng.choice(free_c, size=min(2, len(free_c)), replace=False)
                cat[picks[0]] += 0.9
                if len(picks) > 1:
                    cat[picks[1]] -= 0.9
            if free_t:
                picks = rng.choice(free_t, size=min(3, len(free_t)), replace=False)
                top[picks[:2]] += 1.2
                if len(picks) > 2:
                    top[picks[2]] -= 1.0
            self.category_base[m] = cat
            self.topic_base[m] = top

    def _draw_moment_rules(self, profile: FamilyProfile, rng: np.random.Generator) -> None:
        """Tastes that depend on the moment and on who is there, and that contradict the
        profile: each member loves or dislikes a few topics only on weekdays or weekends at
        some parts of the day; pairs of members love something only together; and one
        interest each member declares is, in truth, disliked."""
        topics = self.features.topics
        n = len(self.members)
        for m in range(n):
            for _ in range(self.MOMENT_RULES):
                parts = frozenset(
                    TIMES_OF_DAY[int(j)] for j in rng.choice(len(TIMES_OF_DAY), 2, replace=False)
                )
                sign = 1.0 if rng.random() < 0.7 else -1.0
                self.rules.append(MomentRule((m,), bool(rng.random() < 0.5), parts,
                                             int(rng.integers(len(topics))), sign))  # fmt: skip
        for _ in range(max(0, n - 1)):
            pair = tuple(int(j) for j in rng.choice(n, 2, replace=False)) if n > 1 else (0,)
            self.rules.append(MomentRule(pair, None, frozenset(TIMES_OF_DAY),
                                         int(rng.integers(len(topics))), 1.0))  # fmt: skip
        for m, member in enumerate(profile.members):
            stated = [t for term in member.preferences.interests
                      for t in interest_targets(term, topics)[1]]  # fmt: skip
            if stated:
                j = topics.index(stated[int(rng.integers(len(stated)))])
                self.topic_base[m, j] -= 1.8

    def moment_bonus(self, members: Sequence[int], situation: Situation) -> Array:
        """(len(members), items): what the moment rules add now."""
        f = self.features
        idx = list(members)
        out = np.zeros((len(idx), len(f.ids)))
        present = set(idx)
        for rule in self.rules:
            if not set(rule.members) <= present or situation.time_of_day not in rule.parts:
                continue
            if rule.weekend is not None and rule.weekend != situation.weekend:
                continue
            column = np.where(f.top[:, rule.topic] > 0, self.MOMENT_WEIGHT * rule.sign, 0.0)
            for m in rule.members:
                out[idx.index(m)] += column
        return out

    # -- drift ----------------------------------------------------------------------------------

    def at_week(self, week: int) -> tuple[Array, Array]:
        """(category affinities, topic affinities) of every member in simulated week ``week``."""
        week = min(max(week, 0), self.MAX_WEEKS)
        while len(self._weeks) <= week:
            cat, top = self._weeks[-1]
            step_c = self._drift_rng.normal(0, self.DRIFT_SIGMA, cat.shape)
            step_t = self._drift_rng.normal(0, self.DRIFT_SIGMA, top.shape)
            self._weeks.append((
                cat + self.DRIFT_PULL * (self.category_base - cat) + step_c,
                top + self.DRIFT_PULL * (self.topic_base - top) + step_t,
            ))  # fmt: skip
        return self._weeks[week]

    # -- utilities --------------------------------------------------------------------------------

    def affinity(self, week: int) -> Array:
        """(members, items): how much each member likes each item, context aside."""
        cat, top = self.at_week(week)
        f = self.features
        by_cat = f.cat @ cat.T
        by_topic = f.top @ top.T
        mixed = np.where(f.has_topic[:, None], 0.55 * by_cat + 0.45 * by_topic, by_cat)
        return np.asarray(self.AFFINITY_SCALE * mixed.T)

    def utilities(self, members: Sequence[int], situation: Situation, week: int,
                  group_size: int) -> Array:  # fmt: skip
        """(len(members), items): affinity plus how well each item fits the moment."""
        f = self.features
        idx = list(members)
        aff = self.affinity(week)[idx]
        slot = BEST_TIMES.index(best_time_for(situation.time_of_day))
        common = np.where(f.best[:, slot], 0.2, -0.5) + self._weather_fit(situation.weather)
        if not situation.weekend:
            common = common - 0.3 * np.clip((f.duration - 60.0) / 60.0, 0.0, 2.0)
        guests = "guests" in situation.factors or "visitors" in situation.factors
        size = group_size + (2 if guests else 0)
        common = common - np.where(size < f.group_min, 1.0, 0.0)
        common = common - np.where(size > f.group_max, 0.5, 0.0)
        if guests:
            common = common + np.where(f.sociable, 0.4, 0.0)
        tod = (
            TIMES_OF_DAY.index(situation.time_of_day)
            if (situation.time_of_day in TIMES_OF_DAY)
            else 3
        )
        mood = 0.3 * ("energetic" in situation.factors) - 0.4 * ("tired" in situation.factors)
        want = np.clip(self.energy_pref[idx] + self.habit[idx, tod] + mood, 0.0, 2.0)
        energy_fit = -0.35 * np.abs(f.energy[None, :] - want[:, None])
        sunny = 0.4 * (situation.weather == "sunny")
        outdoors = sunny * self.outdoor_pref[idx][:, None] * f.outdoor[None, :]
        too_long = np.log2(f.duration[None, :] / self.patience[idx][:, None])
        patience = -0.2 * np.maximum(0.0, too_long)
        too_old = self.ages[idx][:, None] - f.max_age[None, :]
        age_fit = -1.2 * np.clip(too_old / 3.0, 0.0, 1.0)
        total = aff + common[None, :] + energy_fit + outdoors + patience + age_fit
        if self.rules:
            total = total + self.moment_bonus(idx, situation)
        return np.asarray(total)

    def _weather_fit(self, weather: str) -> Array:
        f = self.features
        fair = f.any_weather | f.ok_dry | f.ok_sunny
        if weather == "rain":
            fit = np.where(f.any_weather | f.ok_rain, 0.0, -1.3)
        elif weather == "snow":
            fit = np.where(f.ok_snow, 0.2, np.where(f.any_weather, 0.0, -1.0))
        elif weather == "sunny":
            fit = np.where(fair, 0.15 * f.ok_sunny, -1.2)
        elif weather == "cloudy":
            fit = np.where(f.any_weather | f.ok_dry, 0.0, np.where(f.ok_sunny, -0.4, -1.2))
        else:
            return np.zeros(len(f.ids))
        return np.asarray(fit * f.outdoor)

    def weights(self, members: Sequence[int], rng: np.random.Generator | None) -> Array:
        """Each present member's say. A parent defers to the youngest child present some of the
        time (sampled with ``rng``; in expectation when None)."""
        idx = list(members)
        w = np.ones(len(idx))
        kids = [j for j, i in enumerate(idx) if self.is_kid[i]]
        if not kids:
            return w
        youngest = min(kids, key=lambda j: self.ages[idx[j]])
        for j, i in enumerate(idx):
            if self.is_parent[i]:
                p = float(self.deference[i])
                d = p if rng is None else float(rng.random() < p)
                moved = 0.8 * w[j] * d
                w[j] -= moved
                w[youngest] += moved
        return w

    def group(self, members: Sequence[int], utilities: Array, weights: Array) -> Array:
        """(items,): the group's utility; siblings who disagree make an item less appealing."""
        g = weights @ utilities / weights.sum()
        kids = [j for j, i in enumerate(members) if self.is_kid[i]]
        if len(kids) >= 2:
            g = g - 0.35 * utilities[kids].std(axis=0)
        return np.asarray(g)
