"""The interaction log: every tap on a recommendation card, scrubbed and encrypted at rest.

The seed's ``InteractionLog`` records interactions and hands the history to
training. Here it validates each interaction against the family profile and the activity
catalog, passes every free-text field through the privacy filter *before* anything is stored,
and keeps the text (context, note) only inside the encrypted ``payload``; the clear columns
are identifiers, the outcome, the rating and the time.

Privacy levels (the stricter of the configuration's ``privacy_level`` and the family's):

- ``standard``: free text (``currentActivity``, a ``note``, environmental factors outside the
  known vocabulary) is stored as the privacy filter returns it (names, phone numbers... replaced);
- ``strict``: no free text is stored at all. ``currentActivity`` becomes the first activity
  vocabulary word it contains (``"Making pancakes for breakfast"`` -> ``breakfast``) or is
  dropped, unknown environmental factors and notes are dropped. The filter is not even called.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from engine.base.paths import resource_path
from engine.base.vocabulary import PrivacyLevel
from engine.db.tables import CustomActivity, Family, Interaction, ModelVersion, utcnow
from engine.domain import families
from engine.domain.home import Famtune
from engine.domain.interaction_input import (
    MAX_NOTE_CHARS,
    InteractionInput,
    RecordInvalid,
    _check_rating,
    parse_interaction,
)
from engine.schema.context import (
    KNOWN_FACTORS,
    MAX_ACTIVITY_CHARS,
    MAX_FACTOR_CHARS,
    RequestContext,
)
from engine.schema.profiles import FamilyProfile

CLOCK_SKEW = timedelta(minutes=5)
PAYLOAD_VERSION = 1

# Words (and a few synonyms) that strict mode keeps from a free-text currentActivity.
ACTIVITY_WORDS: dict[str, str] = {
    **{w: w for w in (
        "breakfast", "lunch", "dinner", "snack", "homework", "reading", "playtime", "bedtime",
        "bathtime", "naptime", "travel", "chores", "cleaning", "cooking", "baking", "relaxing",
        "exercise", "sports", "music", "drawing", "crafts", "gaming", "school", "shopping",
        "gardening", "walking", "movie", "tv", "practice", "studying", "dressing", "commute",
    )},
    "supper": "dinner", "brunch": "lunch", "play": "playtime", "playing": "playtime",
    "bed": "bedtime", "sleep": "bedtime", "bath": "bathtime", "nap": "naptime",
    "trip": "travel", "driving": "travel", "car": "travel", "chore": "chores",
    "relax": "relaxing", "resting": "relaxing", "study": "studying", "read": "reading",
    "cook": "cooking", "bake": "baking", "walk": "walking", "games": "gaming",
    "television": "tv", "film": "movie", "craft": "crafts", "art": "drawing",
}  # fmt: skip
_MULTI_WORDS = {"family_time": "family_time", "screen_time": "tv", "story_time": "reading",
                "quiet_time": "relaxing", "getting_ready": "dressing"}  # fmt: skip


class ScrubbedText(Protocol):
    @property
    def text(self) -> str: ...


class TextScrubber(Protocol):
    def scrub(self, text: str) -> ScrubbedText: ...


PrivacyFactory = Callable[[FamilyProfile, PrivacyLevel], TextScrubber]


def default_privacy(profile: FamilyProfile, level: PrivacyLevel) -> TextScrubber:
    """The real privacy filter (imported lazily: Presidio is heavy)."""
    from engine.privacy.filter import PrivacyFilter

    return PrivacyFilter(profile, level=level)


@dataclass(frozen=True)
class InteractionView:
    """A stored interaction, decrypted; ``context`` is the scrubbed camelCase context."""

    id: int
    family_id: str
    member_id: str
    item_id: str
    outcome: str
    rating: int | None
    created_at: datetime
    context: dict[str, Any]
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "familyId": self.family_id, "memberId": self.member_id,
            "itemId": self.item_id, "outcome": self.outcome, "rating": self.rating,
            "createdAt": self.created_at.isoformat(), "context": self.context, "note": self.note,
        }  # fmt: skip


def activity_word(text: str) -> str | None:
    """The first activity vocabulary word in ``text``, or None."""
    words = re.findall(r"[a-z]+", text.lower())
    for i, word in enumerate(words):
        if i + 1 < len(words) and f"{word}_{words[i + 1]}" in _MULTI_WORDS:
            return _MULTI_WORDS[f"{word}_{words[i + 1]}"]
        if word in ACTIVITY_WORDS:
            return ACTIVITY_WORDS[word]
    return None


def _aware(at: datetime) -> datetime:
    """Naive timestamps are taken as UTC; aware ones are converted to UTC."""
    return (
        at.replace(tzinfo=timezone.utc) if at.utcoffset() is None else at.astimezone(timezone.utc)
    )


# -- the activity catalog (until the catalog module exists) -----------------------------------

_catalog_cache: dict[tuple[str, int], frozenset[str]] = {}


def catalog_path() -> Path:
    return resource_path("catalog.json")


def catalog_ids() -> frozenset[str] | None:
    """The ids in the shipped catalog, or None when there is no catalog file."""
    path = catalog_path()
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    if stamp not in _catalog_cache:
        try:
            doc = json.loads(path.read_bytes())
            ids = frozenset(str(a["id"]) for a in doc["activities"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FamtuneError(f"the activity catalog {path} cannot be read: {exc}") from None
        _catalog_cache.clear()
        _catalog_cache[stamp] = ids
    return _catalog_cache[stamp]


class _Family:
    """What checking and scrubbing a family's interactions needs, read once."""

    def __init__(self, session: Session, family_id: str, config_level: str) -> None:
        family = session.get(Family, family_id)
        if family is None:
            raise NotFound(f"no family {family_id!r}")
        self.profile = families.get_profile(session, family_id=family_id)
        strict = "strict" in (config_level, family.privacy_level)
        self.level: PrivacyLevel = "strict" if strict else "standard"
        self.members = {m.user_id for m in self.profile.members}
        catalog = catalog_ids()
        self.items: frozenset[str] | None = None
        if catalog is not None:
            custom = session.exec(select(CustomActivity.id)).all()
            self.items = catalog | frozenset(custom)

    def check(self, record: InteractionInput, now: datetime) -> datetime:
        """Raise ValidationFailed for a record that does not fit; return its time (UTC)."""
        _check_rating(record)
        family_id = self.profile.family_id
        if record.member not in self.members:
            raise ValidationFailed(
                "member", f"{record.member!r} is not a member of family {family_id!r}"
            )
        for i, user_id in enumerate(record.context.family_members):
            if user_id not in self.members:
                raise ValidationFailed(
                    f"context.familyMembers[{i}]",
                    f"{user_id!r} is not a member of family {family_id!r}",
                )
        if self.items is not None and record.item_id not in self.items:
            raise ValidationFailed(
                "itemId",
                f"unknown activity {record.item_id!r} (not in the "
                "catalog nor among custom activities)",
            )
        at = _aware(record.at or record.context.at or now)
        if at > now + CLOCK_SKEW:
            raise ValidationFailed("at", f"{at.isoformat()} is in the future")
        return at


class InteractionLog:
    """Records interactions and serves the decrypted history (the seed calls it
    ``LLMEnhancedLearningEngine``; see the module docstring).

    ``privacy`` makes a filter for a family profile and level; None means the real
    ``engine.privacy.filter.PrivacyFilter``.
    """

    def __init__(self, ft: Famtune, *, privacy: PrivacyFactory | None = None) -> None:
        self.ft = ft
        self._privacy: PrivacyFactory = privacy or default_privacy

    # -- recording ----------------------------------------------------------------------------

    def record_interaction(
        self,
        family_id: str,
        member_id: str,
        item_id: str,
        outcome: str,
        *,
        rating: int | None = None,
        context: RequestContext | Mapping[str, Any],
        note: str | None = None,
        at: datetime | None = None,
    ) -> InteractionView:
        """Validate, scrub, encrypt and store one interaction."""
        record = parse_interaction({"member": member_id, "itemId": item_id, "outcome": outcome,
                                    "rating": rating, "note": note, "context": context,
                                    "at": at})  # fmt: skip
        views = self._store(family_id, [record], labels=None, batch=False)
        return views[0]

    def record_many(
        self,
        family_id: str,
        records: Iterable[InteractionInput | Mapping[str, Any]],
        *,
        labels: Sequence[str] | None = None,
    ) -> int:
        """Store many interactions in one transaction, all or nothing. A bad record raises
        RecordInvalid labelled ``labels[i]`` (default ``"record i+1"``). Returns the count."""
        parsed: list[InteractionInput] = []
        for i, data in enumerate(records):
            try:
                parsed.append(parse_interaction(data))
            except ValidationFailed as exc:
                raise RecordInvalid(_label(labels, i), i, exc.field, exc.detail) from None
        if not parsed:
            return 0
        self._store(family_id, parsed, labels=labels, batch=True)
        return len(parsed)

    def _store(
        self,
        family_id: str,
        records: list[InteractionInput],
        labels: Sequence[str] | None,
        *,
        batch: bool,
    ) -> list[InteractionView]:
        now = utcnow()
        with self.ft.db.read() as session:
            fam = _Family(session, family_id, self.ft.config.privacy_level)
        times: list[datetime] = []
        for i, record in enumerate(records):
            try:
                times.append(fam.check(record, now))
            except ValidationFailed as exc:
                if not batch:
                    raise
                raise RecordInvalid(_label(labels, i), i, exc.field, exc.detail) from None
        payloads = self._scrub(fam, records)
        cipher = self.ft.cipher
        rows = [
            {"family_id": family_id, "member_id": r.member, "item_id": r.item_id,
             "outcome": r.outcome, "rating": r.rating, "created_at": at,
             "payload": cipher.encrypt_json(payload)}
            for r, at, payload in zip(records, times, payloads, strict=True)
        ]  # fmt: skip
        with self.ft.db.write() as session:
            if session.get(Family, family_id) is None:
                raise NotFound(f"no family {family_id!r}")
            if not batch:
                row = Interaction(**rows[0])
                session.add(row)
                session.flush()
                return [_view(row, payloads[0])]
            session.connection().execute(insert(Interaction), rows)
        return []

    def _scrub(self, fam: _Family, records: list[InteractionInput]) -> list[dict[str, Any]]:
        """The payload of each record with every free-text field scrubbed (each distinct text
        goes through the filter once) or, at the strict level, dropped."""
        strict = fam.level == "strict"
        texts: dict[str, str] = {}
        if not strict:
            for r in records:
                ctx = r.context
                if ctx.current_activity and ctx.current_activity.lower() not in ACTIVITY_WORDS:
                    texts[ctx.current_activity] = ""
                for factor in ctx.environmental_factors:
                    if factor not in KNOWN_FACTORS:
                        texts[factor] = ""
                if r.note:
                    texts[r.note] = ""
            if texts:
                scrubber = self._privacy(fam.profile, fam.level)
                unique = list(texts)
                many = getattr(scrubber, "scrub_many", None)  # batched spaCy, when offered
                results: list[ScrubbedText] = (
                    list(many(unique)) if callable(many) else [scrubber.scrub(t) for t in unique]
                )
                for text, result in zip(unique, results, strict=True):
                    texts[text] = result.text.strip()

        def clean(text: str, limit: int) -> str | None:
            out = texts.get(text, "")[:limit].strip()
            return out or None

        payloads: list[dict[str, Any]] = []
        for r in records:
            ctx = r.context
            activity: str | None = None
            if ctx.current_activity:
                word = ctx.current_activity.lower()
                if word in ACTIVITY_WORDS:
                    activity = ACTIVITY_WORDS[word]
                elif strict:
                    activity = activity_word(ctx.current_activity)
                else:
                    activity = clean(ctx.current_activity, MAX_ACTIVITY_CHARS)
            factors: list[str] = []
            for factor in ctx.environmental_factors:
                kept = (
                    factor
                    if factor in KNOWN_FACTORS
                    else (None if strict else clean(factor, MAX_FACTOR_CHARS))
                )
                if kept and kept not in factors:
                    factors.append(kept)
            context = ctx.model_copy(
                update={"current_activity": activity, "environmental_factors": factors}
            )
            payload: dict[str, Any] = {"v": PAYLOAD_VERSION, "context": context.to_json()}
            note = None if strict or not r.note else clean(r.note, MAX_NOTE_CHARS)
            if note:
                payload["note"] = note
            payloads.append(payload)
        return payloads

    # -- reading ------------------------------------------------------------------------------

    def get_interaction_history(
        self, family_id: str, *, member_id: str | None = None, limit: int | None = None
    ) -> list[InteractionView]:
        """The family's interactions, decrypted, oldest first; ``limit`` keeps the newest N."""
        if limit is not None and limit < 1:
            raise ValidationFailed("limit", "must be at least 1")
        with self.ft.db.read() as session:
            _require_family(session, family_id)
            query = select(Interaction).where(Interaction.family_id == family_id)
            if member_id is not None:
                query = query.where(Interaction.member_id == member_id)
            query = query.order_by(col(Interaction.created_at).desc(), col(Interaction.id).desc())
            if limit is not None:
                query = query.limit(limit)
            rows = list(session.exec(query).all())
        cipher = self.ft.cipher
        return [_view(row, cipher.decrypt_json(row.payload)) for row in reversed(rows)]

    def count_since(self, family_id: str, since: datetime | None) -> int:
        """Interactions recorded strictly after ``since`` (all of them when None)."""
        with self.ft.db.read() as session:
            _require_family(session, family_id)
            return _count(session, family_id, since)

    def interactions_since_last_model(self, family_id: str) -> int:
        """Interactions after the newest model version of the family (all when it has none)."""
        with self.ft.db.read() as session:
            _require_family(session, family_id)
            newest = session.exec(
                select(ModelVersion.created_at)
                .where(ModelVersion.family_id == family_id)
                .order_by(col(ModelVersion.created_at).desc())
                .limit(1)
            ).first()
            return _count(session, family_id, newest)


def _label(labels: Sequence[str] | None, index: int) -> str:
    if labels is not None and index < len(labels):
        return labels[index]
    return f"record {index + 1}"


def _require_family(session: Session, family_id: str) -> None:
    if session.get(Family, family_id) is None:
        raise NotFound(f"no family {family_id!r}")


def _count(session: Session, family_id: str, since: datetime | None) -> int:
    query = select(func.count(col(Interaction.id))).where(Interaction.family_id == family_id)
    if since is not None:
        query = query.where(col(Interaction.created_at) > _aware(since))
    return int(session.exec(query).one())


def _view(row: Interaction, payload: Any) -> InteractionView:
    doc = payload if isinstance(payload, dict) else {}
    note = doc.get("note")
    assert row.id is not None
    return InteractionView(
        id=row.id,
        family_id=row.family_id,
        member_id=row.member_id,
        item_id=row.item_id,
        outcome=row.outcome,
        rating=row.rating,
        created_at=_aware(row.created_at),
        context=dict(doc.get("context") or {}),
        note=note if isinstance(note, str) else None,
    )
