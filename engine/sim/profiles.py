"""Synthetic family profiles for the simulator's archetypes (no real names: ``parent-a``,
``kid-b``...). What a profile states is only part of the family's hidden tastes."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.schema.profiles import FamilyProfile, parse_profile
from engine.sim.tastes import ARCHETYPES, Archetype

# Interests a member of each archetype might state (drawn from, a few each).
STATED: dict[str, tuple[str, ...]] = {
    "outdoorsy": ("nature", "animals", "hiking", "gardening", "swimming", "ocean"),
    "bookish-artsy": ("reading", "drawing", "writing", "music", "crafts", "theatre"),
    "sporty-competitive": ("sports", "fitness", "swimming", "games", "dance"),
    "stem-builders": ("science", "building", "coding", "space", "math", "robots"),
    "random": ("animals", "music", "cooking", "games", "art", "science", "sports", "reading",
               "movies", "puzzles", "nature", "history"),
}  # fmt: skip
GENERAL = ("cooking", "movies", "puzzles", "history", "music", "animals", "games")
FOCUS = {"outdoorsy": ["nature"], "bookish-artsy": ["creativity", "literacy"],
         "sporty-competitive": ["teamwork"], "stem-builders": ["stem"], "random": []}  # fmt: skip
CATEGORIES = {"outdoorsy": ["outdoor", "physical"], "bookish-artsy": ["reading", "creative"],
              "sporty-competitive": ["physical", "games"], "stem-builders": ["stem", "educational"],
              "random": ["entertainment"]}  # fmt: skip


def _pick(rng: np.random.Generator, pool: tuple[str, ...], k: int) -> list[str]:
    return [pool[int(i)] for i in rng.choice(len(pool), size=min(k, len(pool)), replace=False)]


def _member(rng: np.random.Generator, user_id: str, age: int, archetype: str) -> dict[str, Any]:
    adult = age >= 18
    interests = _pick(rng, STATED[archetype], 2) + _pick(rng, GENERAL, 1)
    interests = list(dict.fromkeys(interests))
    preferred = _pick(rng, STATED[archetype], 1)
    avoided = ["scary_content"] if age < 10 else (["violence"] if not adult else [])
    return {
        "userId": user_id,
        "age": age,
        "role": "parent" if adult else ("teen" if age >= 13 else "child"),
        "preferences": {
            "interests": interests,
            "learningStyle": ("visual", "auditory", "kinesthetic", "reading", "mixed")[
                int(rng.integers(5))],
            "difficultyLevel": "advanced" if adult else ("intermediate" if age >= 10
                                                          else "beginner"),
            "preferredTopics": preferred,
            "avoidedTopics": avoided,
        },
        "safetyLevel": "strict" if age < 8 else "moderate",
    }  # fmt: skip


def synthetic_profile(family_id: str, archetype: Archetype = "random", seed: int = 0,
                      ) -> FamilyProfile:  # fmt: skip
    """A valid family profile with one or two parents and one to three children."""
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r} (one of {', '.join(ARCHETYPES)})")
    rng = np.random.default_rng([seed, ARCHETYPES.index(archetype), 7])
    parents = 2 if rng.random() < 0.75 else 1
    kids = int(rng.choice([1, 2, 3], p=[0.35, 0.45, 0.2]))
    members = [_member(rng, f"parent-{'ab'[i]}", int(rng.integers(29, 50)), archetype)
               for i in range(parents)]  # fmt: skip
    kid_ages = sorted((int(a) for a in rng.integers(3, 17, size=kids)), reverse=True)
    members += [_member(rng, f"kid-{'abc'[i]}", age, archetype) for i, age in enumerate(kid_ages)]
    youngest = min(kid_ages)
    document = {
        "familyId": family_id,
        "members": members,
        "preferences": {
            "communicationStyle": "friendly",
            "contentCategories": CATEGORIES[archetype],
            "educationalFocus": FOCUS[archetype],
        },
        "safetySettings": {
            "maxContentRating": "PG" if youngest < 13 else "PG-13",
            "blockedTopics": ["violence", "adult_content"],
            "timeRestrictions": [{
                "startTime": "21:00", "endTime": "07:00", "daysOfWeek": [0, 1, 2, 3, 4, 5, 6],
                "restrictedContent": ["entertainment"],
            }],
        },
    }  # fmt: skip
    return parse_profile(document)
