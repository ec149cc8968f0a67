"""The training data of one family: sessions rebuilt from its scrubbed interactions, a
time-ordered split, (prompt, response) examples in the serving prompt's exact format, and
hold-out cases for the evaluation gate.

- **Sessions.** Records that share the same scrubbed context (which carries ``at`` and the
  audience ``familyMembers``) form one session: the items shown and what happened to each.
  A context without ``at`` joins the newest session with the same context if it is less
  than ``SESSION_GAP`` old. A session is *positive* when an item was completed, rated 4-5 or
  accepted (a rating of 1-2 cancels an acceptance). The strongest picks come first: rated
  high, then completed, then merely accepted.
- **Split.** Positive sessions in time order; the latest ``holdout_fraction`` of them are the
  hold-out. Nothing is shuffled across the split: every training session is older than every
  hold-out session.
- **Candidates.** What the family model chooses from when serving: the general engine's
  ranking for the session's context and audience, with the taste learned ONLY from the
  interactions before that session, top ``n_candidates``. A chosen item the general engine
  did not rank that high is added (the list keeps its length): at a seeded position in a
  training prompt, so the answer is not always in one place, and at its general rank in a
  hold-out case, whose candidates stay in the general engine's order. A chosen item that is
  not safe for the audience at that moment under today's rules is never taught.
- **Response.** The items the family chose (1-3), strongest first, with short template
  reasons in the family's communication style; every reason passes the safety validator's
  generated-text check. No names, notes or ids of people reach a prompt or a response:
  audience lines give ages, roles and interests only, and free-text context that fails the
  generated-text check (a name, a phone number...) or still holds a privacy placeholder is
  reduced to its activity word or dropped.
- **Isolation.** Only the family's own interactions are read; ``dataset_hash`` (sha256 of
  the canonical JSON of examples and hold-out) depends on nothing else but the shared catalog.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from engine.base.errors import ValidationFailed
from engine.db.tables import ModelVersion
from engine.domain import families
from engine.domain.catalog import Catalog, CatalogItem
from engine.domain.home import Famtune
from engine.domain.interactions import (
    ACTIVITY_WORDS,
    InteractionLog,
    InteractionView,
    activity_word,
)
from engine.general.ranking import GeneralEngine, interests_of, learn_taste
from engine.inference.prompts import audience_facts, build_training_example, candidate_facts
from engine.ranker.sessions import Session, canonical, sessions_of
from engine.safety import SafetyValidator, parse_item
from engine.safety.validator import Audience, active_windows
from engine.schema.context import KNOWN_FACTORS, RequestContext, parse_context
from engine.schema.profiles import FamilyProfile

DATASET_VERSION = 1
MAX_CHOSEN = 3
REASON_MAX = 60
FALLBACK_REASON = "A good fit for right now."
_PLACEHOLDER = re.compile(r"<[A-Z_]{2,}>")


@dataclass(frozen=True)
class TrainingExample:
    """One (prompt, response) pair and where it came from (item ids, never people)."""

    prompt: str
    response: str
    chosen: tuple[str, ...]
    candidates: tuple[str, ...]
    dismissed: tuple[str, ...]
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "response": self.response, "chosen": list(self.chosen),
                "candidates": list(self.candidates), "dismissed": list(self.dismissed),
                "at": self.at}  # fmt: skip


@dataclass(frozen=True)
class HoldoutCase:
    """One held-out decision. ``candidates`` are in the general engine's order (ranked with
    the history before the case), so ``candidates[:k]`` is its top k; ``chosen`` is the
    family's strongest pick, ``positives`` all its picks, ``dismissed`` the negatives."""

    context: dict[str, Any]
    audience: tuple[str, ...]
    candidates: tuple[str, ...]
    chosen: str
    positives: tuple[str, ...]
    dismissed: tuple[str, ...]
    at: str

    @property
    def choice(self) -> str:
        """The simulator's name for ``chosen``."""
        return self.chosen

    def to_json(self) -> dict[str, Any]:
        return {"context": self.context, "audience": list(self.audience),
                "candidates": list(self.candidates), "chosen": self.chosen,
                "positives": list(self.positives), "dismissed": list(self.dismissed),
                "at": self.at}  # fmt: skip


@dataclass(frozen=True)
class FamilyDataset:
    family_id: str
    examples: list[TrainingExample]
    holdout: list[HoldoutCase]
    dataset_hash: str
    counts: dict[str, int]
    seed: int
    n_candidates: int

    def pairs(self) -> list[tuple[str, str]]:
        """The training examples as (prompt, response) tuples."""
        return [(e.prompt, e.response) for e in self.examples]


def _hash_int(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(canonical(parts).encode()).digest()[:8], "big")


class _Builder:
    """Works out candidates, prompts and reasons for a family's sessions."""

    def __init__(self, profile: FamilyProfile, history: Sequence[InteractionView],
                 items: Sequence[CatalogItem], seed: int, n_candidates: int) -> None:  # fmt: skip
        self.profile = profile
        self.history = history
        self.times = [row.created_at for row in history]
        self.items = list(items)
        self.by_id = {item.id: item for item in items}
        self.seed = seed
        self.n = n_candidates
        self.validator = SafetyValidator()
        self.general = GeneralEngine(self.validator)
        self.style = profile.preferences.communication_style
        self.family = self.validator.audience(profile)

    def ranked(self, session: Session, ctx: RequestContext) -> list[str]:
        """The general engine's ranking (safe items only) with the history before ``session``."""
        before = self.history[: bisect.bisect_left(self.times, session.at)]
        taste = learn_taste(before, self.by_id, members=session.audience, now=session.at)
        scored = self.general.rank(self.profile, ctx, self.items, members=session.audience,
                                   taste=taste, at=session.at)  # fmt: skip
        return [s.item.id for s in scored]

    def clean_context(self, context: dict[str, Any], audience: tuple[str, ...]) -> dict[str, Any]:
        """The context a prompt may show: free text with a name, PII or a placeholder in it
        becomes its activity word (or goes); ``familyMembers`` is the resolved audience."""
        doc = dict(context)
        doc["familyMembers"] = list(audience)
        activity = doc.get("currentActivity")
        if isinstance(activity, str) and activity.lower() not in ACTIVITY_WORDS:
            if not self.text_is_clean(activity):
                doc["currentActivity"] = activity_word(activity)
            if not doc["currentActivity"]:
                doc.pop("currentActivity")
        factors = [f for f in doc.get("environmentalFactors") or []
                   if f in KNOWN_FACTORS or self.text_is_clean(str(f))]  # fmt: skip
        doc["environmentalFactors"] = factors
        return parse_context(doc).to_json()

    def text_is_clean(self, text: str) -> bool:
        """No privacy placeholder, and the validator's generated-text check passes."""
        if _PLACEHOLDER.search(text):
            return False
        probe = parse_item({"id": "text", "title": "text", "contentRating": "G", "reason": text})
        return self.validator.judge(self.family, probe).allowed

    def reason(self, item: CatalogItem, ctx: RequestContext, audience: Audience,
               at: datetime, key: str) -> str | None:  # fmt: skip
        """A short template reason that passes the generated-text check, or None."""
        interests = interests_of(audience.members)
        active = active_windows(audience, at)
        for text in (*template_reasons(item, ctx, interests, self.style, key), FALLBACK_REASON):
            doc = {**item.to_json(), "reason": text}
            if self.validator.judge(audience, parse_item(doc), active).allowed:
                return text
        return None


_TIMES = {"early_morning": "early morning", "midday": "midday"}
_WEATHER = {"rain": "rainy", "rainy": "rainy", "storm": "rainy", "snow": "snowy",
            "snowy": "snowy", "sunny": "sunny", "cold": "chilly", "hot": "warm",
            "warm": "warm"}  # fmt: skip
_STYLES: dict[str, tuple[str, ...]] = {
    "friendly": ("A lovely {cat} idea for {moment}.", "Nice {topic} fun for {moment}.",
                 "Great for {moment}, and you like {topic}."),
    "playful": ("A playful {cat} pick for {moment}!", "Ooh, {topic} fun for {moment}!",
                "Perfect {topic} time for {moment}!"),
    "formal": ("A suitable {cat} activity for {moment}.",
               "Well suited to {moment}, with a focus on {topic}."),
    "casual": ("Good {cat} pick for {moment}.", "Some easy {topic} fun for {moment}."),
    "encouraging": ("A great way to explore {topic} together!",
                    "You will enjoy this {cat} idea on {moment}!"),
    "concise": ("{Cat} for {moment}.", "{Topic}, {moment}."),
}  # fmt: skip


def moment_phrase(ctx: RequestContext) -> str:
    """'a rainy weekend evening', 'a sunny afternoon'."""
    factors = [_WEATHER[f] for f in ctx.environmental_factors if f in _WEATHER]
    words = [factors[0]] if factors else []
    if ctx.is_weekend:
        words.append("weekend")
    words.append(_TIMES.get(ctx.time_of_day, ctx.time_of_day))
    text = " ".join(words)
    return ("an " if text[0] in "aeiou" else "a ") + text


def template_reasons(item: CatalogItem, ctx: RequestContext, interests: set[str], style: str,
                     key: str) -> list[str]:  # fmt: skip
    """Reasons for ``item`` in ``style``, the seeded favourite first, none over REASON_MAX."""
    liked = [t for t in item.topics if t in interests]
    topic = (liked or list(item.topics) or [item.category])[0].replace("_", " ")
    cat = item.category.replace("_", " ")
    values = {"cat": cat, "Cat": cat.capitalize(), "topic": topic, "Topic": topic.capitalize(),
              "moment": moment_phrase(ctx)}  # fmt: skip
    templates = list(_STYLES.get(style, _STYLES["friendly"]))
    if not liked:
        templates = [t for t in templates if "you like" not in t] or templates
    start = _hash_int("reason", key, item.id) % len(templates)
    texts = [t.format(**values) for t in templates[start:] + templates[:start]]
    return [t for t in texts if len(t) <= REASON_MAX]


def _with_chosen(ranked: list[str], chosen: list[str], n: int, *, key: str | None,
                 seed: int) -> list[str]:  # fmt: skip
    """The top ``n`` with every chosen item in (the lowest-ranked others make room): a chosen
    item the top ``n`` lacks goes to a seeded position (``key`` given) or to its general rank
    (``key`` None); the others keep the general engine's order."""
    others = [i for i in ranked[:n] if i not in chosen][: max(0, n - len(chosen))]
    keep = set(others) | set(chosen)
    if key is None:
        return [i for i in ranked if i in keep]
    top = set(ranked[:n])
    out = [i for i in ranked[:n] if i in keep]
    for item_id in (c for c in chosen if c not in top):
        out.insert(_hash_int(seed, "insert", key, item_id) % (len(out) + 1), item_id)
    return out


def build_dataset(ft: Famtune, family_id: str, *, holdout_fraction: float = 0.2,
                  n_candidates: int = 15, seed: int | None = None) -> FamilyDataset:  # fmt: skip
    """The family's training examples and hold-out cases (see the module docstring).
    ``seed`` defaults to the configuration's."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be in [0, 1)")
    if n_candidates < 2:
        raise ValueError("n_candidates must be at least 2")
    seed = ft.config.seed if seed is None else seed
    with ft.db.read() as session:
        profile = families.get_profile(session, family_id=family_id)
    history = InteractionLog(ft).get_interaction_history(family_id)
    history = [row for row in history if row.family_id == family_id]  # never another's
    builder = _Builder(profile, history, Catalog(ft).items(), seed, n_candidates)
    sessions = sessions_of(history, profile)
    positive = [s for s in sessions if s.positives]
    n_hold = 0
    if holdout_fraction > 0 and len(positive) >= 2:
        n_hold = min(len(positive) - 1, max(1, round(len(positive) * holdout_fraction)))
    split = len(positive) - n_hold
    examples: list[TrainingExample] = []
    holdout: list[HoldoutCase] = []
    skipped = 0
    for index, s in enumerate(positive):
        try:
            context = builder.clean_context(s.context, s.audience)
        except ValidationFailed:  # a stored context that no longer parses
            skipped += 1
            continue
        ctx = parse_context(context)
        ranked = builder.ranked(s, ctx)
        safe = set(ranked)
        chosen = [c for c in s.positives if c in safe and c in builder.by_id][:MAX_CHOSEN]
        if not chosen:
            skipped += 1
            continue
        key = f"{s.at.isoformat()}|{','.join(s.audience)}"
        dismissed = tuple(d for d in s.dismissed if d not in chosen)
        if index >= split:
            order = _with_chosen(ranked, chosen, n_candidates, key=None, seed=seed)
            holdout.append(HoldoutCase(context, s.audience, tuple(order), chosen[0],
                                       tuple(chosen), dismissed, s.at.isoformat()))  # fmt: skip
            continue
        order = _with_chosen(ranked, chosen, n_candidates, key=key, seed=seed)
        audience = builder.validator.audience(profile, s.audience)
        reasons = [builder.reason(builder.by_id[c], ctx, audience, s.at, key) for c in chosen]
        if any(r is None for r in reasons):
            skipped += 1
            continue
        prompt, response = build_training_example(
            ctx.to_json(), audience_facts(audience),
            [candidate_facts(builder.by_id[i]) for i in order],
            chosen, [r or FALLBACK_REASON for r in reasons], style=builder.style,
        )  # fmt: skip
        examples.append(TrainingExample(prompt, response, tuple(chosen), tuple(order),
                                        dismissed, s.at.isoformat()))  # fmt: skip
    digest = hashlib.sha256(canonical({
        "version": DATASET_VERSION, "examples": [e.to_json() for e in examples],
        "holdout": [h.to_json() for h in holdout],
    }).encode()).hexdigest()  # fmt: skip
    counts = {"interactions": len(history), "sessions": len(sessions),
              "positiveSessions": len(positive), "examples": len(examples),
              "holdout": len(holdout), "skipped": skipped,
              "dismissed": sum(len(s.dismissed) for s in sessions)}  # fmt: skip
    return FamilyDataset(family_id, examples, holdout, digest, counts, seed, n_candidates)


def enough_data(ft: Famtune, family_id: str) -> tuple[bool, str]:
    """Whether the family has enough interactions for its first model
    (``min_interactions_for_training``) or for an update (``retraining_threshold`` new ones
    since the last model), and a sentence saying so."""
    learner = InteractionLog(ft)
    count = learner.interactions_since_last_model(family_id)
    with ft.db.read() as session:
        has_model = (
            session.exec(
                select(ModelVersion.id).where(ModelVersion.family_id == family_id).limit(1)
            ).first()
            is not None
        )
    config = ft.config

    def plural(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    if not has_model:
        need = config.min_interactions_for_training
        so_far = plural(count, "interaction") + " so far"
        if count < need:
            return False, f"{so_far}; the first family model needs {need}."
        return True, f"{so_far}; enough for the first family model (it needs {need})."
    need = config.retraining_threshold
    new = plural(count, "new interaction") + " since the last model"
    if count < need:
        return False, f"{new}; an update needs {need}."
    return True, f"{new}; enough for an update (it needs {need})."
