"""Recommenders that the simulator can show a family, as the app would.

The simulated family only ever sees what a recommender shows it, so the history it produces
depends on the recommender. ``app_recommender`` is what famtune shows before a family model
exists: the general engine's best picks for the moment plus a few other safe ideas, so that
the family's own taste can show itself beyond what the general engine already expects
(exploration, as any recommender that learns needs). It reads the profile and the catalog,
never the simulator's hidden tastes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.domain.catalog import CatalogItem
from engine.general.ranking import GeneralEngine
from engine.schema.context import parse_context
from engine.schema.profiles import FamilyProfile
from engine.sim.simulator import SHOWN, Recommender

EXPLORE = 2
EXPLORE_POOL = 40


def app_recommender(
    profile: FamilyProfile, items: Sequence[CatalogItem], *, explore: int = EXPLORE, seed: int = 0
) -> Recommender:
    """The general engine's top ``SHOWN - explore`` plus ``explore`` ideas drawn from the
    next ``EXPLORE_POOL`` safe items, deterministically for a seed and a moment."""
    engine = GeneralEngine()
    catalog = list(items)

    def recommend(context: dict[str, Any], audience: list[str]) -> list[str]:
        ctx = parse_context({k: v for k, v in context.items() if k != "familyMembers"})
        ranked = [
            s.item.id for s in engine.rank(profile, ctx, catalog, members=audience, at=ctx.at)
        ]
        keep = max(0, SHOWN - explore)
        pool = ranked[keep : keep + EXPLORE_POOL]
        key = hashlib.sha256(f"{seed}|{ctx.at}|{','.join(audience)}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(key[:8], "big"))
        extra = [pool[int(i)] for i in rng.permutation(len(pool))[:explore]] if pool else []
        return ranked[:keep] + extra

    return recommend
