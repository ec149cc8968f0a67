"""What a moment, an audience and an item are made of, as words.

The LoRA scorer's prompt and the contextual learner's features are built from the same
descriptions, so what one can see the other can too. People appear only as roles and ages
(prompts) or as a salted hash of their id (learner features): no name ever reaches a prompt,
a feature or a model file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.domain.catalog import CatalogItem
from engine.domain.interactions import ACTIVITY_WORDS, activity_word
from engine.schema.context import KNOWN_FACTORS, RequestContext

_WORD = re.compile(r"[a-z]+")
STOPWORDS = frozenset({
    "a", "an", "and", "the", "of", "to", "in", "on", "for", "with", "at", "by", "from", "or",
    "your", "you", "our", "it", "its", "into", "up", "out", "over", "under", "about", "as",
    "is", "be", "make", "making", "do", "doing",
})  # fmt: skip


@dataclass(frozen=True)
class Member:
    """One present member as the ranker sees them: a hashed key, a role and an age."""

    key: str
    role: str
    age: int


@dataclass(frozen=True)
class Moment:
    """When and for whom: the parts of a request the ranker conditions on."""

    day: str  # "saturday"
    daytype: str  # "weekend" / "weekday"
    part: str  # "morning", "evening", ...
    activity: str | None  # an activity word ("breakfast"), never free text
    factors: tuple[str, ...]  # known factors only ("home", "sunny", "guests")
    members: tuple[Member, ...]

    @property
    def group(self) -> str:
        """Who is present, as one key (sorted member keys)."""
        return "+".join(sorted(m.key for m in self.members)) or "nobody"


def member_key(family_id: str, user_id: str) -> str:
    """A stable, salted, short hash of a member id: features never carry names."""
    return hashlib.sha256(f"famtune-member\0{family_id}\0{user_id}".encode()).hexdigest()[:10]


def moment_of(family_id: str, ctx: RequestContext,
              members: Sequence[tuple[str, str, int]]) -> Moment:  # fmt: skip
    """``members``: (user id, role, age) of the audience."""
    activity = None
    if ctx.current_activity:
        lowered = ctx.current_activity.lower()
        activity = ACTIVITY_WORDS.get(lowered) or activity_word(lowered)
    factors = tuple(sorted({f for f in ctx.environmental_factors if f in KNOWN_FACTORS}))
    return Moment(
        day=ctx.day_of_week,
        daytype="weekend" if ctx.is_weekend else "weekday",
        part=ctx.time_of_day,
        activity=activity,
        factors=factors,
        members=tuple(Member(member_key(family_id, u), role, age) for u, role, age in members),
    )


def item_words(item: CatalogItem) -> list[str]:
    """The content words of an item's title (lower case, no stop words)."""
    return [w for w in _WORD.findall(item.title.lower()) if len(w) > 2 and w not in STOPWORDS]


def description_words(item: CatalogItem) -> list[str]:
    """Content words of the description that the title does not already have."""
    title = set(item_words(item))
    words = [w for w in _WORD.findall(item.description.lower())
             if len(w) > 3 and w not in STOPWORDS and w not in title]  # fmt: skip
    return list(dict.fromkeys(words))


def item_tokens(item: CatalogItem) -> list[str]:
    """What the learner knows of an item: its id, categories, topics, title and description
    words, energy, setting, length and best times."""
    length = "short" if item.duration_minutes <= 30 else "long" if item.duration_minutes > 75 \
        else "medium"  # fmt: skip
    return [
        f"i:{item.id}",
        *(f"c:{c}" for c in item.categories),
        *(f"t:{t}" for t in item.topics),
        *(f"w:{w}" for w in item_words(item)),
        *(f"dw:{w}" for w in description_words(item)),
        *(f"b:{b}" for b in item.best_times),
        f"e:{item.energy}",
        f"s:{item.setting}",
        f"l:{length}",
    ]


def moment_keys(moment: Moment) -> list[str]:
    """The contexts a taste can depend on: overall, the day type, the part of day, both,
    each present member alone and in those moments, and the whole group in those moments."""
    d, p = moment.daytype, moment.part
    keys = ["*", f"d:{d}", f"p:{p}", f"dp:{d}/{p}", f"g:{moment.group}",
            f"g:{moment.group}/dp:{d}/{p}"]  # fmt: skip
    for m in moment.members:
        keys += [f"m:{m.key}", f"m:{m.key}/d:{d}", f"m:{m.key}/p:{p}", f"m:{m.key}/dp:{d}/{p}"]
    if moment.activity:
        keys.append(f"a:{moment.activity}")
    keys += [f"f:{f}" for f in moment.factors]
    return keys
