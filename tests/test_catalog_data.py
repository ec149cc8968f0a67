"""Data checks for resources/catalog.json and resources/safety_lexicon.json.

These are plain-JSON tests: they import nothing from the project, so they keep
working whatever shape the engine's models take. The safety checks mirror what
the child-safety validator relies on:

(a) no G or PG activity mentions any lexicon term (whole word, any case) in its
    title or description, nor carries a lexicon topic as a tag;
(b) every PG-13 or R activity that mentions a lexicon term is tagged with that
    term's topic.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
CATALOG_PATH = RESOURCES / "catalog.json"
LEXICON_PATH = RESOURCES / "safety_lexicon.json"

CATEGORIES = {
    "educational",
    "entertainment",
    "creative",
    "outdoor",
    "stem",
    "physical",
    "social",
    "cooking",
    "music",
    "reading",
    "games",
    "relaxation",
    "life_skills",
}
RATINGS = ("G", "PG", "PG-13", "R")
SETTINGS = {"indoor", "outdoor", "either"}
ENERGIES = {"low", "medium", "high"}
TIMES = {"morning", "afternoon", "evening", "night"}
WEATHERS = {"any", "dry", "sunny", "rain", "snow"}
COSTS = {"free", "low", "medium", "high"}
LEXICON_TOPICS = {
    "violence",
    "scary_content",
    "adult_content",
    "gambling",
    "weapons",
    "drugs_alcohol",
    "self_harm",
    "crude_humor",
    "romance",
    "dangerous_activities",
    "online_strangers",
}
REQUIRED_FIELDS = {
    "id",
    "title",
    "description",
    "categories",
    "topics",
    "contentRating",
    "minAge",
    "setting",
    "durationMinutes",
    "energy",
    "groupSize",
    "bestTimes",
    "weather",
    "cost",
}
OPTIONAL_FIELDS = {"maxAge", "screen"}

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TOPIC_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

MIN_ACTIVITIES = 230
MIN_PER_CATEGORY = 10
MIN_PG13 = 25
MIN_R = 15


@lru_cache(maxsize=1)
def _catalog() -> dict:
    with CATALOG_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _lexicon() -> dict:
    with LEXICON_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


def _activities() -> list[dict]:
    return _catalog()["activities"]


@lru_cache(maxsize=1)
def _term_patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    """(topic, term, compiled whole-word pattern) for every lexicon term."""
    out = []
    for topic, terms in _lexicon()["topics"].items():
        for term in terms:
            out.append((topic, term, re.compile(r"\b" + re.escape(term) + r"\b", re.IGNORECASE)))
    return tuple(out)


def _mentions(text: str) -> list[tuple[str, str]]:
    return [(topic, term) for topic, term, pat in _term_patterns() if pat.search(text)]


def _text(a: dict) -> str:
    return f"{a['title']}\n{a['description']}"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------- lexicon


def test_lexicon_shape() -> None:
    lex = _lexicon()
    assert lex.get("version") == 1
    topics = lex["topics"]
    assert set(topics) == LEXICON_TOPICS
    seen: dict[str, str] = {}
    for topic, terms in topics.items():
        assert isinstance(terms, list) and len(terms) >= 5, topic
        for term in terms:
            assert isinstance(term, str) and term, (topic, term)
            assert term == term.lower().strip(), (topic, term)
            assert "  " not in term, (topic, term)
            assert term not in seen, f"{term!r} listed under both {seen[term]} and {topic}"
            seen[term] = topic


def test_lexicon_contains_core_terms() -> None:
    topics = _lexicon()["topics"]
    core = {
        "gambling": {"poker", "casino", "betting", "bet", "blackjack", "roulette", "lottery"},
        "scary_content": {"horror", "ghost", "ghosts", "zombie", "haunted", "monster", "slasher"},
        "violence": {"fight", "kill", "murder", "blood", "gore", "war", "assault"},
        "drugs_alcohol": {
            "beer",
            "wine",
            "cocktail",
            "vodka",
            "whiskey",
            "alcohol",
            "drunk",
            "marijuana",
            "cannabis",
            "drugs",
        },
        "weapons": {"gun", "rifle", "knife fight", "sword fight"},
        "adult_content": {"explicit", "nudity", "sexual", "strip club"},
        "self_harm": {"self-harm", "suicide"},
    }
    for topic, terms in core.items():
        missing = terms - set(topics[topic])
        assert not missing, f"{topic} lacks {sorted(missing)}"


def test_lexicon_avoids_everyday_words() -> None:
    """Bare words that would block ordinary family activities must not be terms."""
    everyday = {
        "shoot",
        "shooting",
        "knife",
        "beat",
        "high",
        "pot",
        "punch",
        "ale",
        "gin",
        "spirits",
        "battle",
        "fire",
        "dark",
        "love",
        "bar",
        "shot",
        "shots",
    }
    all_terms = {t for terms in _lexicon()["topics"].values() for t in terms}
    assert not everyday & all_terms, sorted(everyday & all_terms)


# --------------------------------------------------------------------------- schema


def test_catalog_top_level() -> None:
    cat = _catalog()
    assert set(cat) == {"version", "activities"}
    assert cat["version"] == 1
    assert isinstance(cat["activities"], list)


def test_activity_schema() -> None:
    problems: list[str] = []
    for a in _activities():
        aid = a.get("id", "?")

        def bad(msg: str, aid: str = aid) -> None:
            problems.append(f"{aid}: {msg}")

        keys = set(a)
        if REQUIRED_FIELDS - keys:
            bad(f"missing {sorted(REQUIRED_FIELDS - keys)}")
            continue
        if keys - REQUIRED_FIELDS - OPTIONAL_FIELDS:
            bad(f"unknown fields {sorted(keys - REQUIRED_FIELDS - OPTIONAL_FIELDS)}")

        if not (isinstance(a["id"], str) and ID_RE.match(a["id"])):
            bad("id is not kebab-case")
        title = a["title"]
        if not (isinstance(title, str) and title.strip() == title and 0 < len(title) <= 60):
            bad(f"bad title length/shape ({len(title) if isinstance(title, str) else title!r})")
        desc = a["description"]
        if not (isinstance(desc, str) and desc.strip() == desc and 20 <= len(desc) <= 240):
            bad(f"bad description length/shape ({len(desc) if isinstance(desc, str) else desc!r})")

        cats = a["categories"]
        if not (
            isinstance(cats, list)
            and 1 <= len(cats) <= 3
            and len(set(cats)) == len(cats)
            and set(cats) <= CATEGORIES
        ):
            bad(f"bad categories {cats!r}")
        topics = a["topics"]
        if not (
            isinstance(topics, list)
            and 1 <= len(topics) <= 4
            and len(set(topics)) == len(topics)
            and all(isinstance(t, str) and TOPIC_RE.match(t) for t in topics)
        ):
            bad(f"bad topics {topics!r}")

        if a["contentRating"] not in RATINGS:
            bad(f"bad contentRating {a['contentRating']!r}")
        min_age = a["minAge"]
        if not (_is_int(min_age) and 0 <= min_age <= 18):
            bad(f"bad minAge {min_age!r}")
        if "maxAge" in a:
            max_age = a["maxAge"]
            if not (_is_int(max_age) and _is_int(min_age) and min_age <= max_age <= 18):
                bad(f"bad maxAge {max_age!r}")

        if a["setting"] not in SETTINGS:
            bad(f"bad setting {a['setting']!r}")
        if "screen" in a and a["screen"] is not True:
            bad(f"screen is written only as true, not {a['screen']!r}")
        dur = a["durationMinutes"]
        if not (_is_int(dur) and 5 <= dur <= 240):
            bad(f"bad durationMinutes {dur!r}")
        if a["energy"] not in ENERGIES:
            bad(f"bad energy {a['energy']!r}")

        gs = a["groupSize"]
        if not (
            isinstance(gs, dict)
            and set(gs) == {"min", "max"}
            and _is_int(gs["min"])
            and _is_int(gs["max"])
            and 1 <= gs["min"] <= gs["max"]
        ):
            bad(f"bad groupSize {gs!r}")

        times = a["bestTimes"]
        if not (
            isinstance(times, list)
            and times
            and len(set(times)) == len(times)
            and set(times) <= TIMES
        ):
            bad(f"bad bestTimes {times!r}")
        weather = a["weather"]
        if not (
            isinstance(weather, list)
            and weather
            and len(set(weather)) == len(weather)
            and set(weather) <= WEATHERS
        ):
            bad(f"bad weather {weather!r}")
        elif "any" in weather and len(weather) > 1:
            bad("weather 'any' combined with other values")
        elif a["setting"] == "indoor" and weather != ["any"]:
            bad("indoor activity must have weather ['any']")

        if a["cost"] not in COSTS:
            bad(f"bad cost {a['cost']!r}")
    assert not problems, "\n".join(problems)


def test_ids_unique() -> None:
    dupes = [i for i, n in Counter(a["id"] for a in _activities()).items() if n > 1]
    assert not dupes, dupes


def test_titles_unique() -> None:
    dupes = [t for t, n in Counter(a["title"].lower() for a in _activities()).items() if n > 1]
    assert not dupes, dupes


# --------------------------------------------------------------------------- coverage


def test_catalog_size() -> None:
    assert len(_activities()) >= MIN_ACTIVITIES


def test_every_category_well_covered() -> None:
    counts = Counter(c for a in _activities() for c in a["categories"])
    thin = {c: counts.get(c, 0) for c in CATEGORIES if counts.get(c, 0) < MIN_PER_CATEGORY}
    assert not thin, thin


def test_rating_mix() -> None:
    counts = Counter(a["contentRating"] for a in _activities())
    assert all(counts[r] > 0 for r in RATINGS), counts
    assert counts["PG-13"] >= MIN_PG13, counts
    assert counts["R"] >= MIN_R, counts
    # mostly family-friendly
    assert counts["G"] + counts["PG"] > len(_activities()) / 2, counts


def test_age_coverage() -> None:
    acts = _activities()
    toddler = [a for a in acts if a["minAge"] <= 3]
    assert len(toddler) >= 15
    assert sum(1 for a in toddler if "maxAge" in a and a["maxAge"] <= 5) >= 8
    assert sum(1 for a in acts if a["minAge"] == 0) >= 3
    adults = [a for a in acts if a["minAge"] >= 18]
    assert len(adults) >= 20
    assert any(a["contentRating"] in ("G", "PG") for a in adults)


def test_mature_ratings_have_sensible_ages() -> None:
    for a in _activities():
        if a["contentRating"] == "R":
            assert a["minAge"] >= 17, a["id"]
        elif a["contentRating"] == "PG-13":
            assert a["minAge"] >= 10, a["id"]


def test_every_time_of_day_covered() -> None:
    counts = Counter(t for a in _activities() for t in a["bestTimes"])
    for t in TIMES:
        assert counts[t] >= 10, (t, counts)


def test_weather_and_setting_coverage() -> None:
    acts = _activities()
    assert sum("rain" in a["weather"] for a in acts) >= 4
    assert sum("snow" in a["weather"] for a in acts) >= 5
    settings = Counter(a["setting"] for a in acts)
    assert all(settings[s] >= 5 for s in SETTINGS), settings


def test_group_size_coverage() -> None:
    acts = _activities()
    assert sum(a["groupSize"]["max"] == 1 for a in acts) >= 5, "need solo activities"
    assert sum(a["groupSize"]["max"] >= 20 for a in acts) >= 10, "need big-group activities"


def test_energy_and_cost_spread() -> None:
    acts = _activities()
    energy = Counter(a["energy"] for a in acts)
    cost = Counter(a["cost"] for a in acts)
    assert all(energy[e] >= 10 for e in ENERGIES), energy
    assert all(cost[c] >= 10 for c in COSTS), cost


# --------------------------------------------------------------------------- safety consistency


def test_family_items_mention_no_lexicon_terms() -> None:
    problems = []
    for a in _activities():
        if a["contentRating"] not in ("G", "PG"):
            continue
        hits = _mentions(_text(a))
        if hits:
            problems.append(f"{a['id']} ({a['contentRating']}): {hits}")
    assert not problems, "\n".join(problems)


def test_family_items_carry_no_lexicon_topics() -> None:
    problems = [
        f"{a['id']}: {sorted(set(a['topics']) & LEXICON_TOPICS)}"
        for a in _activities()
        if a["contentRating"] in ("G", "PG") and set(a["topics"]) & LEXICON_TOPICS
    ]
    assert not problems, "\n".join(problems)


def test_mature_items_tagged_with_mentioned_topics() -> None:
    problems = []
    for a in _activities():
        if a["contentRating"] not in ("PG-13", "R"):
            continue
        for topic, term in _mentions(_text(a)):
            if topic not in a["topics"]:
                problems.append(f"{a['id']}: mentions {term!r} but lacks topic {topic!r}")
    assert not problems, "\n".join(problems)


def test_r_items_are_tagged_with_a_safety_topic() -> None:
    untagged = [
        a["id"]
        for a in _activities()
        if a["contentRating"] == "R" and not set(a["topics"]) & LEXICON_TOPICS
    ]
    assert not untagged, untagged


def test_safety_topics_well_represented() -> None:
    counts = Counter(t for a in _activities() for t in a["topics"] if t in LEXICON_TOPICS)
    for topic in (
        "violence",
        "scary_content",
        "gambling",
        "weapons",
        "drugs_alcohol",
        "romance",
        "crude_humor",
        "adult_content",
    ):
        assert counts[topic] >= 1, (topic, counts)


@pytest.mark.parametrize(
    "text, topic",
    [
        ("Texas hold'em night at the casino", "gambling"),
        ("A haunted house full of ghosts", "scary_content"),
        ("Sword fight in the yard", "weapons"),
        ("Wine tasting for grown-ups", "drugs_alcohol"),
    ],
)
def test_lexicon_matches_obvious_text(text: str, topic: str) -> None:
    assert topic in {t for t, _ in _mentions(text)}


@pytest.mark.parametrize(
    "text",
    [
        "Count shooting stars at the meteor shower",
        "Kid-safe knife skills for slicing cucumbers",
        "Tap out the beat on a drum",
        "Fruit punch and ginger ale at the picnic",
        "Photo walk shooting portraits at golden hour",
        "Pull weeds in the community garden",
        "Alphabet games and a spelling bee",
        "Ball possession drills at soccer practice",
        "Visible to the naked eye on a clear night",
        "Chill the dough before rolling it out",
    ],
)
def test_lexicon_leaves_ordinary_text_alone(text: str) -> None:
    assert _mentions(text) == []
