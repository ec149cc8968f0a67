"""The family simulator: synthetic interaction histories and held-out choices.

``FamilySimulator`` gives a family profile hidden tastes (``engine.sim.tastes``) and lets it use
the appliance: a few sessions a day (``engine.sim.schedule``), each showing the present members
the recommender's top five safe items. Reactions follow a logistic (multinomial logit) choice
model: the group's utility for each shown item (hidden affinity + fit to the moment + a little
mood noise per member) competes with an outside option ("none of these"); the family takes the
item drawn from ``softmax(u / TAU)``, or nothing. An accepted item is completed with a
probability rising with its utility and sometimes rated 1-5 (correlated with affinity); the other
shown items are dismissed (more often the less they appeal) or just ``shown``.

Recommenders never see the hidden tastes: they are called with a context dict and the audience
and return ranked item ids. ``holdout`` makes evaluation cases (context, audience, candidates,
the family's true choice) and ``evaluate`` scores any recommender on them with hit@k.
Everything is deterministic for a seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from engine.domain.catalog import CatalogItem
from engine.safety.items import parse_item
from engine.safety.validator import SafetyValidator, active_windows, paused_by, restriction_kinds
from engine.schema.profiles import FamilyProfile
from engine.sim.schedule import Schedule, Session
from engine.sim.tastes import Archetype, HiddenTastes, ItemFeatures, Situation

Recommender = Callable[[dict[str, Any], list[str]], list[str]]
Record = dict[str, Any]

DEFAULT_START = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday
SHOWN = 5
TAU = 0.5  # temperature of the choice model (utility units)
OUTSIDE = 0.6  # utility of "none of these"
MOOD = 0.3  # per-member, per-item noise of a moment
MAX_RECORDS = 1_000_000


@dataclass(frozen=True)
class HoldoutCase:
    """One held-out decision: what the family picked among ``candidates`` in ``context``."""

    context: dict[str, Any]
    audience: list[str]
    candidates: list[str]
    choice: str

    def to_json(self) -> dict[str, Any]:
        return {"context": self.context, "audience": self.audience,
                "candidates": self.candidates, "choice": self.choice}  # fmt: skip


@dataclass
class _Moment:
    """A context resolved against the tastes: member rows, the situation, the taste week."""

    members: list[int]
    situation: Situation
    week: int
    at: datetime | None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.utcoffset() is None else at


def _hash_rng(*parts: Any) -> np.random.Generator:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


class FamilySimulator:
    """A family with hidden tastes that uses the appliance (see the module docstring)."""

    def __init__(self, profile: FamilyProfile, catalog: Sequence[CatalogItem], seed: int, *,
                 archetype: Archetype = "random", origin: datetime = DEFAULT_START,
                 emit_shown: bool = True, moment_tastes: bool = False) -> None:  # fmt: skip
        if not catalog:
            raise ValueError("the simulator needs a non-empty catalog")
        if seed < 0:
            raise ValueError("the seed must not be negative")
        self.profile = profile
        self.catalog = list(catalog)
        self.seed = seed
        self.archetype = archetype
        self.origin = _aware(origin)
        self.emit_shown = emit_shown
        self.features = ItemFeatures.build(self.catalog)
        self.tastes = HiddenTastes(profile, self.features, archetype, seed,
                                   moment_tastes=moment_tastes)
        self._member_index = {u: i for i, u in enumerate(self.tastes.members)}
        self._validator = SafetyValidator()
        self._safe: dict[tuple[str, ...], list[int]] = {}
        self._kinds = [restriction_kinds(item.categories, item.screen) for item in self.catalog]

    # -- who, when, what is safe ------------------------------------------------------------------

    def week_of(self, at: datetime) -> int:
        """The simulated week of ``at`` (0 = the week of ``origin``): tastes drift weekly."""
        return max(0, (_aware(at) - self.origin) // timedelta(days=7))

    def _moment(self, context: Mapping[str, Any], audience: Sequence[str]) -> _Moment:
        names = (
            list(audience) or list(context.get("familyMembers") or []) or list(self.tastes.members)
        )
        try:
            members = [self._member_index[u] for u in names]
        except KeyError as exc:
            raise ValueError(f"no member {exc.args[0]!r} in the simulated family") from None
        raw_at = context.get("at")
        at = None
        if isinstance(raw_at, datetime):
            at = _aware(raw_at)
        elif isinstance(raw_at, str):
            at = _aware(datetime.fromisoformat(raw_at.replace("Z", "+00:00")))
        week = self.week_of(at) if at is not None else 0
        return _Moment(members, Situation.of(context), week, at)

    def safe_pool(self, audience: Sequence[str], at: datetime | None = None) -> list[str]:
        """Item ids the audience may see: rating within every present member's limit (and the
        family's maximum), minAge at most the youngest's age, no blocked or avoided topic and,
        when ``at`` is given, nothing a time restriction pauses then (its categories, or
        screens for an item that uses one: the validator's rule)."""
        return [self.features.ids[i] for i in self._safe_rows(list(audience), at)]

    def _safe_rows(self, audience: list[str], at: datetime | None) -> list[int]:
        names = audience or list(self.tastes.members)
        key = tuple(sorted(names))
        if key not in self._safe:
            crowd = self._validator.audience(self.profile, key)
            self._safe[key] = [
                i for i, item in enumerate(self.catalog)
                if self._validator.judge(crowd, parse_item(item.to_json())).allowed
            ]  # fmt: skip
        rows = self._safe[key]
        if at is None:
            return rows
        crowd = self._validator.audience(self.profile, key)
        active = active_windows(crowd, at)
        if not active:
            return rows
        return [i for i in rows if not paused_by(active, self._kinds[i])]

    # -- the hidden model (the simulator's eyes only) ---------------------------------------------

    def affinity(self, member: str, item_id: str, *, week: int = 0) -> float:
        """A member's hidden affinity for an item, context aside."""
        m, i = self._member_index[member], self.features.index[item_id]
        return float(self.tastes.affinity(week)[m, i])

    def expected_utility(self, context: Mapping[str, Any], audience: Sequence[str],
                         item_ids: Sequence[str]) -> list[float]:  # fmt: skip
        """The group's noise-free utility for each item (parents' deference in expectation)."""
        mo = self._moment(context, audience)
        u = self.tastes.utilities(mo.members, mo.situation, mo.week, len(mo.members))
        g = self.tastes.group(mo.members, u, self.tastes.weights(mo.members, None))
        return [float(g[self.features.index[i]]) for i in item_ids]

    def _noisy(self, mo: _Moment, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:  # fmt: skip
        """Member utilities with mood noise, this moment's weights, and the group utility."""
        u = self.tastes.utilities(mo.members, mo.situation, mo.week, len(mo.members))
        u = u + rng.normal(0.0, MOOD, u.shape)
        w = self.tastes.weights(mo.members, rng)
        return u, w, self.tastes.group(mo.members, u, w)

    def hidden_choice(self, context: Mapping[str, Any], audience: Sequence[str],
                      candidates: Sequence[str]) -> str:  # fmt: skip
        """What the family would actually pick among ``candidates`` (they must pick one).

        The same logit model as the reactions, its noise seeded by the question itself, so the
        answer is a fixed fact of the simulated family.
        """
        rows = [self.features.index[c] for c in candidates if c in self.features.index]
        if not rows:
            raise ValueError("no known activity among the candidates")
        mo = self._moment(context, audience)
        rng = _hash_rng(self.seed, "choice", dict(context), sorted(audience), list(candidates))
        _, _, g = self._noisy(mo, rng)
        scores = g[rows] + TAU * rng.gumbel(size=len(rows))
        return self.features.ids[rows[int(np.argmax(scores))]]

    def score_ranking(self, ranked_ids: Sequence[str], context: Mapping[str, Any],
                      audience: Sequence[str], k: int = 3,
                      candidates: Sequence[str] | None = None) -> float:  # fmt: skip
        """hit@k: 1.0 when the family's choice among ``candidates`` (default: every safe item)
        is in the first ``k`` of ``ranked_ids`` restricted to those candidates, else 0.0."""
        pool = list(candidates) if candidates is not None else self.safe_pool(audience)
        choice = self.hidden_choice(context, audience, pool)
        allowed = set(pool)
        ranked = [i for i in dict.fromkeys(ranked_ids) if i in allowed]
        return 1.0 if choice in ranked[:k] else 0.0

    # -- sessions -------------------------------------------------------------------------------

    def default_recommender(self, rng: np.random.Generator) -> Recommender:
        """A seeded random sample of the audience's safe items (the exploration policy)."""

        def recommend(context: dict[str, Any], audience: list[str]) -> list[str]:
            mo = self._moment(context, audience)
            rows = self._safe_rows(audience, mo.at)
            size = min(SHOWN, len(rows))
            picks = rng.choice(len(rows), size=size, replace=False) if size else np.array([])
            return [self.features.ids[rows[int(j)]] for j in picks]

        return recommend

    def react(self, context: Mapping[str, Any], audience: Sequence[str],
              shown: Sequence[str], rng: np.random.Generator) -> list[Record]:  # fmt: skip
        """The interaction records of one session that showed ``shown`` (in order)."""
        mo = self._moment(context, audience)
        names = [self.tastes.members[m] for m in mo.members]
        rows = [self.features.index[s] for s in dict.fromkeys(shown) if s in self.features.index]
        if not rows:
            return []
        u, w, g = self._noisy(mo, rng)
        logits = np.array([OUTSIDE, *g[rows]]) / TAU
        p = np.exp(logits - logits.max())
        pick = int(rng.choice(len(p), p=p / p.sum())) - 1  # -1: none of these
        t0 = mo.at or self.origin
        ctx = {**dict(context), "familyMembers": names}
        records: list[Record] = []

        def add(member: int, row: int, outcome: str, at: datetime, rating: int | None = None,
                ) -> None:  # fmt: skip
            rec: Record = {"member": names[member], "itemId": self.features.ids[row],
                           "outcome": outcome, "context": copy.deepcopy(ctx),
                           "at": at.isoformat()}  # fmt: skip
            if rating is not None:
                rec["rating"] = rating
            records.append(rec)

        for j, row in enumerate(rows):
            if j == pick:
                continue
            at = t0 + timedelta(seconds=int(5 + 10 * j + rng.integers(0, 10)))
            if rng.random() < 0.85 * _sigmoid(-1.5 * float(g[row]) - 0.3):
                add(int(np.argmin(u[:, row])), row, "dismissed", at)
            elif self.emit_shown:
                add(int(np.argmax(u[:, row])), row, "shown", at)
        if pick >= 0:
            row = rows[pick]
            decider = int(np.argmax(w * np.exp(u[:, row])))
            at = t0 + timedelta(seconds=int(60 + rng.integers(0, 120)))
            add(decider, row, "accepted", at)
            if rng.random() < _sigmoid(1.6 * float(g[row]) + 0.2):
                stretch = 0.8 + 0.4 * rng.random()
                at += timedelta(seconds=int(60 * float(self.features.duration[row]) * stretch))
                add(decider, row, "completed", at)
                if rng.random() < 0.5:
                    score = 3.0 + 1.1 * float(u[decider, row]) + rng.normal(0.0, 0.6)
                    at += timedelta(minutes=int(1 + rng.integers(0, 10)))
                    add(decider, row, "rated", at, int(np.clip(round(score), 1, 5)))
        return records

    def simulate(self, n: int, recommender: Recommender | None = None, *,
                 start: datetime | None = None) -> list[Record]:  # fmt: skip
        """``n`` interaction records in the JSONL shape, oldest first, from ``start`` on.

        Each session shows the recommender's first five items that are safe for the present
        members (the default recommender samples the safe items at random).
        """
        if not 0 <= n <= MAX_RECORDS:
            raise ValueError(f"n must be from 0 to {MAX_RECORDS}")
        begin = _aware(start or DEFAULT_START)
        rng = np.random.default_rng([self.seed, 2, int(begin.timestamp()) % 2**63])
        schedule = Schedule(
            self.profile, np.random.default_rng([self.seed, 3, int(begin.timestamp()) % 2**63])
        )
        pick = recommender or self.default_recommender(np.random.default_rng([self.seed, 4]))
        records: list[Record] = []
        empty = 0
        for session in schedule.sessions(begin):
            if len(records) >= n:
                break
            shown = self._show(session, pick)
            got = self.react(session.context, session.audience, shown, rng)
            empty = 0 if got else empty + 1
            if empty > 1000:
                raise RuntimeError("the recommender shows nothing the family may see")
            records.extend(got)
        records.sort(key=lambda r: datetime.fromisoformat(r["at"]))
        return records[:n]

    def _show(self, session: Session, recommender: Recommender) -> list[str]:
        """The first five distinct, known items of the ranking that the audience may see."""
        ranked = recommender(dict(session.context), list(session.audience))
        safe = {self.features.ids[i] for i in self._safe_rows(session.audience, session.at)}
        return [i for i in dict.fromkeys(ranked) if i in safe][:SHOWN]

    # -- evaluation -----------------------------------------------------------------------------

    def holdout(self, n: int, start: datetime | None = None, seed: int = 0, *,
                candidates: int = 12) -> list[HoldoutCase]:  # fmt: skip
        """``n`` held-out decisions from ``start`` on: each a session's context and audience,
        ``candidates`` safe items drawn at random, and the family's true choice among them."""
        begin = _aware(start or DEFAULT_START)
        rng = np.random.default_rng([self.seed, 5, seed])
        schedule = Schedule(self.profile, np.random.default_rng([self.seed, 6, seed]))
        cases: list[HoldoutCase] = []
        for session in schedule.sessions(begin):
            if len(cases) >= n:
                break
            rows = self._safe_rows(session.audience, session.at)
            if len(rows) < 2:
                continue
            picks = rng.choice(len(rows), size=min(candidates, len(rows)), replace=False)
            ids = [self.features.ids[rows[int(j)]] for j in picks]
            choice = self.hidden_choice(session.context, session.audience, ids)
            cases.append(HoldoutCase(dict(session.context), list(session.audience), ids, choice))
        return cases


def evaluate(recommender: Recommender, cases: Sequence[HoldoutCase], k: int = 3) -> float:
    """hit@k of a recommender on held-out cases: the share of cases whose true choice is among
    the first ``k`` candidates of its ranking. Candidates it does not rank come after the ranked
    ones in a random (per-case seeded) order, so an empty ranking scores like chance."""
    if not cases:
        return 0.0
    hits = 0
    for case in cases:
        ranked = [i for i in dict.fromkeys(recommender(dict(case.context), list(case.audience)))
                  if i in set(case.candidates)]  # fmt: skip
        rest = [c for c in case.candidates if c not in set(ranked)]
        order = _hash_rng("evaluate", case.to_json()).permutation(len(rest))
        ranking = ranked + [rest[int(j)] for j in order]
        hits += case.choice in ranking[:k]
    return hits / len(cases)
