"""Simulated families for the ranker's benchmarks: a history of logged slates and fresh
held-out moments judged against the simulator's hidden tastes, all in memory.

Each family's members have hidden tastes that depend on weekday or weekend, the part of the
day and who is present, and one interest each declares is in truth disliked
(``FamilySimulator(moment_tastes=True)``). Its history is what the app would log: slates of
five safe items shown at random (the exploration policy), what was chosen or that nothing
was. Each held-out moment, later in time than the whole history, is a request as serving
sees it: the general engine ranks the safe catalog with the taste learned from the whole
history, its top ``CANDIDATES`` are the candidates, and the family's hidden choice among
them (the simulator's choice model, seeded by the question) is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.domain.catalog import CatalogItem, load_builtin_catalog
from engine.domain.interactions import InteractionView
from engine.general.ranking import GeneralEngine, learn_taste
from engine.ranker.moment import Moment, moment_of
from engine.ranker.slates import Slate, audience_of, build_slates
from engine.safety import SafetyValidator
from engine.schema.context import parse_context
from engine.schema.profiles import FamilyProfile
from engine.sim.profiles import synthetic_profile
from engine.sim.simulator import FamilySimulator
from engine.sim.tastes import Archetype

CANDIDATES = 20


@dataclass(frozen=True)
class HeldOut:
    """One fresh moment: who, when, the general engine's candidates (its order) and their
    scores, and what the family would choose among them."""

    context: dict[str, Any]
    audience: list[str]
    moment: Moment
    candidates: list[str]
    general: dict[str, float]
    choice: str


@dataclass
class Family:
    name: str
    profile: FamilyProfile
    sim: FamilySimulator
    items: list[CatalogItem]
    slates: list[Slate]
    heldout: list[HeldOut]


def views(records: list[dict[str, Any]], family_id: str) -> list[InteractionView]:
    """Simulator records as the interaction log's rows."""
    return [InteractionView(n + 1, family_id, r["member"], r["itemId"], r["outcome"],
                            r.get("rating"), datetime.fromisoformat(r["at"]), r["context"], None)
            for n, r in enumerate(records)]  # fmt: skip


def make_family(archetype: Archetype, seed: int, *, slates: int = 400,
                heldout: int = 200) -> Family:  # fmt: skip
    items = load_builtin_catalog()
    family_id = f"{archetype}-{seed}"
    profile = synthetic_profile(family_id, archetype, seed)
    sim = FamilySimulator(profile, items, seed, archetype=archetype, moment_tastes=True)
    history = views(sim.simulate(slates * 6), family_id)
    validator = SafetyValidator()
    book = build_slates(profile, history, items, validator=validator)[:slates]
    end = book[-1].at
    history = [h for h in history if h.created_at <= end + timedelta(hours=3)]
    general = GeneralEngine(validator)
    by_id = {i.id: i for i in items}
    cases: list[HeldOut] = []
    start = end + timedelta(days=1)
    for case in sim.holdout(heldout * 2, start=start, seed=seed + 1, candidates=5):
        if len(cases) >= heldout:
            break
        ctx = parse_context({**case.context, "familyMembers": case.audience})
        at = ctx.at or start
        taste = learn_taste(history, by_id, members=case.audience, now=at)
        scored = general.rank(profile, ctx, items, members=case.audience, taste=taste, at=at)
        top = scored[:CANDIDATES]
        if len(top) < CANDIDATES:
            continue
        ids = [s.item.id for s in top]
        cases.append(HeldOut(
            case.context, case.audience,
            moment_of(family_id, ctx, audience_of(profile, case.audience)), ids,
            {s.item.id: s.score for s in top}, sim.hidden_choice(case.context, case.audience, ids),
        ))  # fmt: skip
    return Family(family_id, profile, sim, items, book, cases)
