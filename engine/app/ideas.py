"""Ideas for a moment and what the family did with them: the recommendations (with the
bedtime note) and the interactions recorded for everyone present."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.app.families import load_profile
from engine.app.integration import SimpleFineTuningIntegration
from engine.general.recommendation import Recommendation, Source
from engine.recommend.service import LOW_MEMORY_REASON, Batch, Fallback
from engine.schema.context import (
    DAYS,
    TIMES_OF_DAY,
    WEEKEND_DAYS,
    RequestContext,
    day_of_week_for,
    time_of_day_for,
)

# What a screen needs to ask for ideas and show them: the moment's words (times of day, days,
# the weekend, the moment of a clock) and the batch with where each idea came from.
__all__ = [
    "DAYS",
    "LOW_MEMORY_REASON",
    "TIMES_OF_DAY",
    "WEEKEND_DAYS",
    "Batch",
    "Fallback",
    "Ideas",
    "Recommendation",
    "Source",
    "day_of_week_for",
    "recommend",
    "record",
    "time_of_day_for",
]


@dataclass(frozen=True)
class Ideas:
    """Suggestions for a moment, and a sentence about the moment (bedtime) or None."""

    batch: Batch
    note: str | None = None


def recommend(
    facade: SimpleFineTuningIntegration,
    family_id: str,
    context: RequestContext | Mapping[str, Any] | None,
    target: str | None,
    n: int = 5,
) -> Ideas:
    """Safe ideas for the family (or ``target`` alone) in ``context`` (default: now, the
    whole family), with the bedtime note. The context is validated once, here
    (ValidationFailed names the field as ``context.field``), before anything is read."""
    from engine.general.ranking import wind_down_note
    from engine.safety.windows import local_moment
    from engine.schema.context import context_from_clock, parse_context

    if context is None:
        ctx = context_from_clock(local_moment(None))
    else:
        ctx = parse_context(context, path="context")
    batch = facade.recommend(family_id, ctx, target, n=n)
    profile = load_profile(facade.ft, family_id)
    members = [target] if target else []
    note = wind_down_note(profile, ctx, members)
    if note:  # bedtime: calm, short ideas or none (ranked first; the rest is dropped here)
        from dataclasses import replace

        from engine.domain.catalog import load_builtin_catalog
        from engine.general.ranking import winds_down

        known = {item.id: item for item in load_builtin_catalog()}
        calm = [
            r for r in batch.recommendations if r.id not in known or winds_down(known[r.id])
        ]
        batch = replace(batch, recommendations=calm)
    return Ideas(batch, note)


def record(
    facade: SimpleFineTuningIntegration,
    family_id: str,
    members: Sequence[str],
    item_id: str,
    outcome: str,
    rating: int | None,
    context: dict[str, Any],
) -> int:
    """One interaction for each member present (they did it together)."""
    records = [
        {"member": m, "itemId": item_id, "outcome": outcome, "rating": rating, "context": context}
        for m in members
    ]
    return facade.learning_engine.record_many(family_id, records)
