"""Every logged slate of one family, rebuilt from its scrubbed interactions.

A slate is one moment: the items that were shown, when, to whom, and what the family chose
(accepted, completed or rated 4-5; a rating of 1-2 cancels an acceptance) or that it chose
nothing. Every shown item that was not chosen is a negative: dismissals and silences alike.
Sessions come from :func:`engine.personalize.dataset.sessions_of` (records that share a
context, ``at`` included).

Each slate also carries the general engine's view of its moment, computed with the taste
learned ONLY from the interactions before it: the score of every item that was safe for the
audience then (under today's rules), best first. That is the general engine's answer, a
feature of the blend, and the candidate list of an evaluation, without leaking the future.

:func:`split` cuts the slates in time order and never shuffles across the cut: the training
slates are all older than the validation slates, which are all older than the hold-out.
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.base.errors import ValidationFailed
from engine.domain.catalog import CatalogItem
from engine.domain.interactions import InteractionView
from engine.general.ranking import GeneralEngine, learn_taste
from engine.ranker.moment import Moment, moment_of
from engine.ranker.sessions import sessions_of
from engine.safety import SafetyValidator
from engine.schema.context import RequestContext, parse_context
from engine.schema.profiles import FamilyProfile

MIN_HOLDOUT_CHOICES = 30
"""Hold-out slates with a choice that a new version must be judged on before it serves."""


@dataclass(frozen=True)
class Slate:
    """One logged moment (see the module docstring). ``general`` maps every item that was
    safe for the audience then to the general engine's score; ``ranked`` is their order."""

    at: datetime
    context: RequestContext
    audience: tuple[str, ...]
    moment: Moment
    shown: tuple[str, ...]
    chosen: tuple[str, ...]
    general: dict[str, float]
    ranked: tuple[str, ...]

    @property
    def choice(self) -> str | None:
        """The family's strongest pick, or None when nothing was chosen."""
        return self.chosen[0] if self.chosen else None

    def rows(self) -> list[tuple[str, int]]:
        """(shown item, 1 if chosen else 0) for every shown item that is still safe."""
        picked = set(self.chosen)
        return [(i, int(i in picked)) for i in self.shown if i in self.general]

    def judged(self) -> list[str]:
        """The shown items that are still safe, in the general engine's order: the only
        candidates whose labels are known (an item never shown was neither chosen nor
        passed over), so scorers are compared on these, whatever showed them."""
        shown = set(self.shown)
        return [i for i in self.ranked if i in shown]


def audience_of(profile: FamilyProfile, user_ids: Sequence[str]) -> list[tuple[str, str, int]]:
    """(user id, role, age) of the members named, in the profile's order."""
    wanted = set(user_ids)
    return [(m.user_id, m.role, m.age) for m in profile.members if m.user_id in wanted]


def build_slates(profile: FamilyProfile, history: Sequence[InteractionView],
                 items: Sequence[CatalogItem], *, validator: SafetyValidator | None = None,
                 ) -> list[Slate]:  # fmt: skip
    """The family's slates, oldest first (see the module docstring). Records of other
    families are ignored; a slate whose stored context no longer parses is skipped."""
    history = [r for r in history if r.family_id == profile.family_id]
    validator = validator or SafetyValidator()
    general = GeneralEngine(validator)
    by_id = {item.id: item for item in items}
    times = [r.created_at for r in history]
    slates: list[Slate] = []
    for session in sessions_of(history, profile):
        shown = tuple(i for i in session.shown if i in by_id)
        if not shown:
            continue
        doc = dict(session.context)
        doc["familyMembers"] = list(session.audience)
        ctx: RequestContext | None = None
        with contextlib.suppress(ValidationFailed):
            ctx = parse_context(doc)
        if ctx is None:
            continue
        before = history[: bisect.bisect_left(times, session.at)]
        taste = learn_taste(before, by_id, members=session.audience, now=session.at)
        scored = general.rank(profile, ctx, items, members=session.audience, taste=taste,
                              at=session.at)  # fmt: skip
        slates.append(Slate(
            at=session.at, context=ctx, audience=session.audience,
            moment=moment_of(profile.family_id, ctx, audience_of(profile, session.audience)),
            shown=shown, chosen=tuple(c for c in session.positives if c in by_id),
            general={s.item.id: s.score for s in scored},
            ranked=tuple(s.item.id for s in scored),
        ))  # fmt: skip
    return slates


@dataclass(frozen=True)
class Split:
    train: list[Slate]
    validation: list[Slate]
    holdout: list[Slate]

    @property
    def holdout_choices(self) -> int:
        return sum(1 for s in self.holdout if s.choice is not None)


def split(slates: Sequence[Slate], *, holdout_fraction: float = 0.2,
          validation_fraction: float = 0.2) -> Split:  # fmt: skip
    """Time-ordered thirds: the latest ``holdout_fraction`` of slates (extended back until it
    holds ``MIN_HOLDOUT_CHOICES`` choices, but never past half of them) is the hold-out; the
    latest ``validation_fraction`` of the rest is the validation slice; the rest trains."""
    if not (0.0 < holdout_fraction < 1.0 and 0.0 <= validation_fraction < 1.0):
        raise ValueError("fractions must lie in (0, 1)")
    ordered = sorted(slates, key=lambda s: s.at)
    n = len(ordered)
    n_hold = max(1, round(n * holdout_fraction)) if n >= 2 else 0
    choices = sum(1 for s in ordered[n - n_hold :] if s.choice is not None)
    while choices < MIN_HOLDOUT_CHOICES and n_hold < n // 2:
        n_hold += 1
        choices += ordered[n - n_hold].choice is not None
    rest = ordered[: n - n_hold]
    n_val = round(len(rest) * validation_fraction) if len(rest) >= 5 else 0
    cut = len(rest) - n_val
    return Split(rest[:cut], rest[cut:], ordered[n - n_hold :])
