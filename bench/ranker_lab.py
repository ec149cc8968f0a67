"""Simulated families for the ranker's benchmarks: a history of logged slates and fresh
held-out moments judged against the simulator's hidden tastes, all in memory (no data dir).

Each held-out moment is a request as serving sees it: the general engine ranks the safe
catalog with the taste learned from the whole history, its top ``CANDIDATES`` are the
candidates, and the family's hidden choice among them is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.catalog import CatalogItem, load_builtin_catalog
from engine.context import parse_context
from engine.interactions import InteractionView
from engine.profiles import FamilyProfile
from engine.ranker.moment import Moment, moment_of
from engine.ranker.slates import Slate, audience_of, build_slates
from engine.recommend.general import GeneralEngine, learn_taste
from engine.safety import SafetyValidator
from engine.sim.profiles import synthetic_profile
from engine.sim.simulator import FamilySimulator

CANDIDATES = 20


@dataclass(frozen=True)
class Moment_:
    context: dict[str, Any]
    audience: list[str]
    moment: Moment
    candidates: list[str]  # the general engine's order
    general: dict[str, float]
    choice: str


@dataclass
class Family:
    name: str
    profile: FamilyProfile
    sim: FamilySimulator
    items: list[CatalogItem]
    history: list[InteractionView]
    slates: list[Slate]
    heldout: list[Moment_]


def views(records: list[dict[str, Any]], family_id: str) -> list[InteractionView]:
    out = []
    for n, r in enumerate(records):
        at = datetime.fromisoformat(r["at"])
        out.append(InteractionView(n + 1, family_id, r["member"], r["itemId"], r["outcome"],
                                   r.get("rating"), at, r["context"], None))  # fmt: skip
    return out


def make_family(archetype: str, seed: int, *, slates: int = 400, heldout: int = 200) -> Family:
    items = load_builtin_catalog()
    family_id = f"{archetype}-{seed}"
    profile = synthetic_profile(family_id, archetype, seed)  # type: ignore[arg-type]
    sim = FamilySimulator(profile, items, seed, archetype=archetype,  # type: ignore[arg-type]
                          moment_tastes=True)  # fmt: skip
    records = sim.simulate(slates * 6)
    history = views(records, family_id)
    validator = SafetyValidator()
    book = build_slates(profile, history, items, validator=validator)[:slates]
    end = book[-1].at
    history = [h for h in history if h.created_at <= end + timedelta(hours=3)]
    general = GeneralEngine(validator)
    by_id = {i.id: i for i in items}
    cases: list[Moment_] = []
    start = end + timedelta(days=1)
    taste_rows = history
    for case in sim.holdout(heldout * 2, start=start, seed=seed + 1, candidates=5):
        if len(cases) >= heldout:
            break
        ctx = parse_context({**case.context, "familyMembers": case.audience})
        at = ctx.at or start
        taste = learn_taste(taste_rows, by_id, members=case.audience, now=at)
        scored = general.rank(profile, ctx, items, members=case.audience, taste=taste, at=at)
        top = [s.item.id for s in scored[:CANDIDATES]]
        if len(top) < CANDIDATES:
            continue
        choice = sim.hidden_choice(case.context, case.audience, top)
        moment = moment_of(family_id, ctx, audience_of(profile, case.audience))
        cases.append(Moment_(case.context, case.audience, moment, top,
                             {s.item.id: s.score for s in scored[:CANDIDATES]}, choice))  # fmt: skip
    return Family(family_id, profile, sim, items, history, book, cases)
