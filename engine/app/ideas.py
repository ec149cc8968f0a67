"""Ideas for a moment and what the family did with them: the recommendations (with the
bedtime note) and the interactions recorded for everyone present."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.app.families import load_profile
from engine.app.integration import SimpleFineTuningIntegration
from engine.recommend.service import Batch


@dataclass(frozen=True)
class Ideas:
    """Suggestions for a moment, and a sentence about the moment (bedtime) or None."""

    batch: Batch
    note: str | None = None


def recommend(
    facade: SimpleFineTuningIntegration,
    family_id: str,
    context: dict[str, Any],
    target: str | None,
    n: int = 5,
) -> Ideas:
    from engine.general.ranking import wind_down_note
    from engine.schema.context import parse_context

    batch = facade.recommend(family_id, context, target, n=n)
    profile = load_profile(facade.ft, family_id)
    members = [target] if target else []
    note = wind_down_note(profile, parse_context(context), members)
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
