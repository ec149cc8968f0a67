"""The child-safety validator: may this item be shown to these family members, now?

Rules (the issue's, exactly):
- Ratings G < PG < PG-13 < R. A member's age cap: <= 6 G, 7-12 PG, 13-16 PG-13, 17+ R;
  ``strict`` lowers it one step (never below G), ``moderate`` and ``relaxed`` keep it. The
  member's limit is the lower of that and the family's ``maxContentRating``.
- The audience is the members named, else the context's ``familyMembers``, else everyone.
  Its limit is the lowest member limit, ``minAge`` is compared with its youngest member, and
  the avoided topics are its members' ``avoidedTopics`` plus the family's ``blockedTopics``.
- An avoided topic blocks an item tagged with it, or whose title, description or generated
  reason contains one of the topic's lexicon terms as a whole word, in the text as written
  or in any of its normalized readings (look-alike letters, zero-width characters, digits
  for letters, spaced-out letters, plurals and verb forms: :mod:`engine.safety.normalize`).
- A time window that applies now blocks items in its ``restrictedContent`` categories, and
  every item that uses a screen (the catalog's ``screen`` flag) when it restricts ``screens``.
- A generated ``reason`` must also hold no URL, e-mail, phone number, street address, long
  ID number, or any of the family's own names.

safetyScore: 0.0 when any hard reason blocks the item. Otherwise 1.0 minus 0.25 for each
soft concern: ``at_rating_limit`` (rated above G and exactly at the audience's limit) and
``near_min_age`` (the youngest member is exactly ``minAge``, i.e. within a year of it).
An allowed item therefore scores 0.5, 0.75 or 1.0.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.base.errors import NotFound, ValidationFailed
from engine.base.vocabulary import RATINGS, ContentRating
from engine.safety.items import SafetyItem, parse_item
from engine.safety.lexicon import Lexicon, TermPattern, default_lexicon, words_of
from engine.safety.normalize import normalize_tag, readings
from engine.safety.windows import hhmm_of, local_moment, weekday_js, window_applies
from engine.schema.profiles import (
    SCREENS,
    FamilyMember,
    FamilyProfile,
    TimeRestriction,
    normalize_topic,
)

_HARD = """rating_above_limit below_min_age blocked_topic avoided_topic_term time_restricted
unsafe_generated_text"""
HARD_CODES = frozenset(_HARD.split())
SOFT_CODES = frozenset(("at_rating_limit", "near_min_age"))
SOFT_PENALTY = 0.25
_ROLES = """dad daddy mom mommy mum mummy mama papa father mother parent child kid kiddo son
daughter baby teen boy girl brother sister bro sis grandma grandpa granny grandparent
grandmother grandfather nana gran uncle aunt auntie guardian caregiver nanny other member
user the and family"""
ROLE_WORDS = frozenset(_ROLES.split())
_RANK: dict[str, int] = {rating: i for i, rating in enumerate(RATINGS)}
_LEVELS = ("strict", "moderate", "relaxed")

_DIGIT = re.compile(r"\d")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(
    r"(?:\b(?:https?|ftp)://|\bwww\.)\S+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|co|uk|us|ca|de|fr|info|biz|"
    r"app|dev|me|ly|tv|gg|xyz|site|online)\b",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w.])(?:(?:\+\d{1,3}[\s.-]?|\d{1,3}[\s.-])?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])?"
    r"\d{3}[\s.-]?\d{4}|\+?\d{10,13}|\+\d{1,3}(?:[\s.()-]{0,2}\d){6,12})(?!\w)"
)
_ID_NUMBER = re.compile(r"(?<!\w)(?:\d{3}-\d{2}-\d{4}|(?:\d[\s-]?){9,18}\d)(?!\w)")
_STREET = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|"
    r"Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Close)\b"
)


@dataclass(frozen=True)
class Reason:
    """Why an item is blocked (hard) or merely a concern (soft): a code and a sentence."""

    code: str
    message: str

    @property
    def hard(self) -> bool:
        return self.code in HARD_CODES

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class SafetyVerdict:
    allowed: bool
    reasons: list[Reason] = field(default_factory=list)
    safety_score: float = 1.0

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": [r.to_json() for r in self.reasons],
            "safetyScore": self.safety_score,
        }


@dataclass(frozen=True)
class Audience:
    """Who will see the items, with everything the checks need computed once."""

    members: tuple[FamilyMember, ...]
    limit: ContentRating
    limit_names: tuple[str, ...]
    youngest: FamilyMember
    avoided: tuple[str, ...]
    windows: tuple[TimeRestriction, ...]
    family_names: NameDenyList | None


# -- ratings and the audience ---------------------------------------------------------------


def rating_rank(rating: str, field_name: str = "contentRating") -> int:
    try:
        return _RANK[rating]
    except KeyError:
        raise ValidationFailed(
            field_name, f"unknown content rating {rating!r} (expected G, PG, PG-13 or R)"
        ) from None


def age_cap(age: int) -> ContentRating:
    if age <= 6:
        return "G"
    if age <= 12:
        return "PG"
    return "PG-13" if age <= 16 else "R"


def member_limit(member: FamilyMember, family_max: str) -> ContentRating:
    """The member's age cap, one step lower when strict, never above the family's maximum."""
    if member.safety_level not in _LEVELS:
        raise ValidationFailed(
            f"{member.user_id}.safetyLevel", f"unknown safety level {member.safety_level!r}"
        )
    rank = _RANK[age_cap(member.age)]
    if member.safety_level == "strict":
        rank = max(0, rank - 1)
    return RATINGS[min(rank, rating_rank(family_max, "maxContentRating"))]


def select_members(
    profile: FamilyProfile, members: Sequence[str] = (), context_members: Sequence[str] = ()
) -> tuple[FamilyMember, ...]:
    """The members named, else the context's familyMembers, else the whole family."""
    named = list(members) or list(context_members)
    if not named:
        return tuple(profile.members)
    chosen: dict[str, FamilyMember] = {}
    for user_id in named:
        member = profile.member(user_id) or next(
            (m for m in profile.members if m.user_id.lower() == str(user_id).lower()), None
        )
        if member is None:
            raise NotFound(f"no member {user_id!r} in family {profile.family_id!r}")
        chosen.setdefault(member.user_id, member)
    return tuple(chosen.values())


def capped_rating(family_max: str, cap: str | None) -> ContentRating:
    """The family's ``maxContentRating``, never above the configuration's
    ``maxContentRatingCap`` (when one is given)."""
    rank = rating_rank(family_max, "maxContentRating")
    if cap is not None:
        rank = min(rank, rating_rank(cap, "maxContentRatingCap"))
    return RATINGS[rank]


def audience_limit(
    profile: FamilyProfile,
    members: Sequence[str] = (),
    context_members: Sequence[str] = (),
    rating_cap: str | None = None,
) -> ContentRating:
    """The lowest member limit among the audience."""
    family_max = capped_rating(profile.safety_settings.max_content_rating, rating_cap)
    chosen = select_members(profile, members, context_members)
    return min((member_limit(m, family_max) for m in chosen), key=_RANK.__getitem__)


def name_parts(user_id: str) -> list[str]:
    """'dad-john' -> ['john']: the parts of a userId that are not role words or numbers."""
    parts = re.split(r"[-_.\s\d]+", user_id.lower())
    return [p for p in parts if len(p) >= 2 and p not in ROLE_WORDS]


def member_name(member: FamilyMember) -> str:
    """How a parent would call the member: the display name, else 'Emma' from 'child-emma'."""
    if member.display_name:
        return member.display_name
    parts = name_parts(member.user_id)
    return " ".join(p.capitalize() for p in parts) if parts else member.user_id


# Given names that are also everyday English words: matched only capitalized ("Will"), so a
# member called Will or May does not block every reason that says "will" or "may".
_WORD_NAMES_TEXT = """
will may june april august mark grace joy hope faith rose art bill pat sunny summer dawn ruby
jack max sky river autumn bob rich chase hunter drew ray frank penny daisy holly ivy iris lily
violet jade amber crystal heather storm rain reed wade miles grant sage rowan robin star brook
forest page sandy clay dean earl norman rusty harmony melody
"""
WORD_NAMES = frozenset(_WORD_NAMES_TEXT.split())


class NameDenyList:
    """The family's own names as whole words: case-insensitive, except names that are also
    everyday words (``WORD_NAMES``), which count only when capitalized."""

    def __init__(self, names: Iterable[str]) -> None:
        names = set(names)
        plain = sorted(n for n in names if n not in WORD_NAMES)
        worded = sorted(n.capitalize() for n in names if n in WORD_NAMES)
        self.patterns = [
            TermPattern(plain) if plain else None,
            TermPattern(worded, ignore_case=False) if worded else None,
        ]

    def find(self, text: str, words: frozenset[str] | None = None) -> re.Match[str] | None:
        for pattern in self.patterns:
            found = pattern.find(text, words) if pattern is not None else None
            if found:
                return found
        return None


def family_name_pattern(profile: FamilyProfile) -> NameDenyList | None:
    """Whole-word deny-list of the family's own names (see ``NameDenyList``)."""
    names: set[str] = set()
    for member in profile.members:
        names.update(name_parts(member.user_id))
    for spelled in (*(m.display_name for m in profile.members), profile.family_name):
        if spelled:
            names.update(w for w in re.split(r"[\s\-]+", spelled.lower()) if len(w) >= 2)
    return NameDenyList(names) if names else None


def build_audience(
    profile: FamilyProfile,
    members: Sequence[str] = (),
    context_members: Sequence[str] = (),
    rating_cap: str | None = None,
) -> Audience:
    """Who sees the items and their limits; ``rating_cap`` (the configuration's
    ``maxContentRatingCap``) bounds the family's ``maxContentRating``, whatever is stored."""
    chosen = select_members(profile, members, context_members)
    safety = profile.safety_settings
    family_max = capped_rating(safety.max_content_rating, rating_cap)
    limits = [(m, member_limit(m, family_max)) for m in chosen]
    lowest = min((limit for _, limit in limits), key=_RANK.__getitem__)
    avoided = dict.fromkeys(normalize_topic(t) for t in safety.blocked_topics)
    for member in chosen:
        avoided.update(dict.fromkeys(normalize_topic(t) for t in member.preferences.avoided_topics))
    return Audience(
        members=chosen,
        limit=lowest,
        limit_names=tuple(member_name(m) for m, limit in limits if limit == lowest),
        youngest=min(chosen, key=lambda m: m.age),
        avoided=tuple(avoided),
        windows=tuple(safety.time_restrictions),
        family_names=family_name_pattern(profile),
    )


# -- messages -------------------------------------------------------------------------------


def _words(tag: str) -> str:
    return tag.replace("_", " ")


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _limit_of(names: Sequence[str], limit: str) -> str:
    """Emma's limit of PG; the limit of PG for Emma and Liam."""
    if len(names) == 1:
        return f"{names[0]}'s limit of {limit}"
    return f"the limit of {limit} for {_join(names)}"


# -- the validator ---------------------------------------------------------------------------

ItemLike = SafetyItem | Mapping[str, Any]
ActiveWindow = tuple[TimeRestriction, tuple[str, ...]]


class SafetyValidator:
    """Judges items for a family. Cheap to keep: the lexicon is compiled once."""

    def __init__(self, lexicon: Lexicon | None = None, *, rating_cap: str | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        if rating_cap is not None:
            rating_rank(rating_cap, "maxContentRatingCap")
        self.rating_cap = rating_cap

    def audience(
        self,
        profile: FamilyProfile,
        members: Sequence[str] = (),
        context_members: Sequence[str] = (),
    ) -> Audience:
        return build_audience(profile, members, context_members, self.rating_cap)

    def check(
        self,
        profile: FamilyProfile,
        item: ItemLike,
        *,
        members: Sequence[str] = (),
        context_members: Sequence[str] = (),
        at: datetime | None = None,
    ) -> SafetyVerdict:
        parsed = parse_item(item)
        audience = build_audience(profile, members, context_members, self.rating_cap)
        return self.judge(audience, parsed, active_windows(audience, at))

    def check_many(
        self,
        profile: FamilyProfile,
        items: Iterable[ItemLike],
        *,
        members: Sequence[str] = (),
        context_members: Sequence[str] = (),
        at: datetime | None = None,
    ) -> list[SafetyVerdict]:
        """One verdict per item, in order; the audience and the windows are worked out once."""
        parsed = [parse_item(item, where=f"items[{i}]") for i, item in enumerate(items)]
        audience = build_audience(profile, members, context_members, self.rating_cap)
        active = active_windows(audience, at)
        return [self.judge(audience, item, active) for item in parsed]

    def judge(
        self, audience: Audience, item: SafetyItem, active: Sequence[ActiveWindow] = ()
    ) -> SafetyVerdict:
        """The verdict for one parsed item; ``active`` comes from ``active_windows``."""
        reasons: list[Reason] = []
        rating, limit = item.content_rating, audience.limit
        rank, limit_rank = rating_rank(rating), _RANK[limit]
        youngest, min_age = audience.youngest, item.min_age
        if rank > limit_rank:
            text = f"Rated {rating}, above {_limit_of(audience.limit_names, limit)}."
            reasons.append(Reason("rating_above_limit", text))
        if youngest.age < min_age:
            text = f"For ages {min_age} and up; {member_name(youngest)} is {youngest.age}."
            reasons.append(Reason("below_min_age", text))
        reasons += self._topic_reasons(audience, item)
        reasons += _window_reasons(item, active)
        if item.reason:
            reasons += _generated_text_reasons(item.reason, audience.family_names)
        if rank == limit_rank and rank > 0:
            text = f"Rated {rating}, the highest rating {_join(audience.limit_names)} may see."
            reasons.append(Reason("at_rating_limit", text))
        if min_age > 0 and youngest.age == min_age:
            text = f"For ages {min_age} and up; {member_name(youngest)} has only just reached it."
            reasons.append(Reason("near_min_age", text))
        hard = any(r.hard for r in reasons)
        soft = len({r.code for r in reasons if not r.hard})
        score = 0.0 if hard else round(max(0.0, 1.0 - SOFT_PENALTY * soft), 4)
        return SafetyVerdict(allowed=not hard, reasons=reasons, safety_score=score)

    def _topic_reasons(self, audience: Audience, item: SafetyItem) -> list[Reason]:
        reasons: list[Reason] = []
        tags = {normalize_topic(t) for t in item.topics}
        tags |= {normalize_topic(normalize_tag(t)) for t in item.topics}
        fields = [("title", item.title), ("description", item.description)]
        if item.reason:
            fields.append(("suggested reason", item.reason))
        field_readings: list[tuple[tuple[str, frozenset[str]], ...]] | None = None
        for topic in audience.avoided:
            words = _words(topic)
            if topic in tags:
                text = f"It is about {words}, which this family avoids."
                reasons.append(Reason("blocked_topic", text))
                continue
            matcher = self.lexicon.matcher(topic)
            if matcher is None:
                continue  # no lexicon entry: matched by tag only
            if field_readings is None:
                field_readings = [_readings_with_words(text) for _, text in fields]
            for (where, _), forms in zip(fields, field_readings, strict=True):
                term = next(
                    (t for form, seen in forms if (t := matcher.search(form, seen))), None
                )
                if term:
                    generated = where == "suggested reason"
                    code = "unsafe_generated_text" if generated else "avoided_topic_term"
                    text = f"The {where} mentions '{term}' ({words}), which this family avoids."
                    reasons.append(Reason(code, text))
        return reasons


@functools.lru_cache(maxsize=16384)
def _readings_with_words(text: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The text's readings (:func:`engine.safety.normalize.readings`) with their words."""
    return tuple((form, words_of(form)) for form in readings(text))


def active_windows(audience: Audience, at: datetime | None) -> list[ActiveWindow]:
    """The windows that apply at ``at`` (local time; now when None), with their
    normalized restricted categories."""
    moment = local_moment(at)
    day, hhmm = weekday_js(moment), hhmm_of(moment)
    return [
        (window, tuple(dict.fromkeys(normalize_topic(c) for c in window.restricted_content)))
        for window in audience.windows
        if window_applies(window, day, hhmm)
    ]


def restriction_kinds(categories: Iterable[str], screen: bool) -> frozenset[str]:
    """What a time window can pause an item for: its categories (normalized), and
    ``screens`` when the item uses a screen."""
    kinds = {normalize_topic(c) for c in categories}
    if screen:
        kinds.add(SCREENS)
    return frozenset(kinds)


def paused_by(
    active: Sequence[ActiveWindow], kinds: frozenset[str]
) -> list[tuple[TimeRestriction, list[str]]]:
    """Each active window that pauses an item of these ``restriction_kinds``, with what it
    pauses the item for (in the window's order). Empty: no window pauses the item."""
    found: list[tuple[TimeRestriction, list[str]]] = []
    for window, restricted in active:
        hit = [kind for kind in restricted if kind in kinds]
        if hit:
            found.append((window, hit))
    return found


def _window_reasons(item: SafetyItem, active: Sequence[ActiveWindow]) -> list[Reason]:
    if not active:
        return []
    reasons: list[Reason] = []
    for window, hit in paused_by(active, restriction_kinds(item.categories, item.screen)):
        what = _join([_words(kind) for kind in hit])
        verb = "is" if len(hit) == 1 and hit[0] != SCREENS else "are"
        when = f"from {window.start_time} to {window.end_time}"
        text = f"{what[:1].upper()}{what[1:]} {verb} paused {when}."
        reasons.append(Reason("time_restricted", text))
    return reasons


def _generated_text_reasons(text: str, family_names: NameDenyList | None) -> list[Reason]:
    """URL, e-mail, phone, address, ID number or family name in model-written text."""
    found: list[str] = []
    if "@" in text and _EMAIL.search(text):
        found.append("an e-mail address")
        text = _EMAIL.sub(" ", text)
    if ("." in text or "://" in text) and _URL.search(text):
        found.append("a web address")
    if _DIGIT.search(text):
        if _PHONE.search(text):
            found.append("a phone number")
            text = _PHONE.sub(" ", text)
        if _ID_NUMBER.search(text):
            found.append("a long number that could identify someone")
        if _STREET.search(text):
            found.append("a street address")
    reasons = [
        Reason("unsafe_generated_text", f"The suggested reason contains {what}.") for what in found
    ]
    name = family_names.find(text, words_of(text)) if family_names is not None else None
    if name:
        message = f"The suggested reason uses a family name ({name.group(0)})."
        reasons.append(Reason("unsafe_generated_text", message))
    return reasons
