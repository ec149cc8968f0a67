"""The blend: one logistic stack over the parts' scores, fitted for the family out of fold.

Each part scores a request's candidates: ``general`` (the general engine's score),
``learner`` (the contextual learner's logit), ``trees`` (the tree learner's logit) and
``lora`` (the LoRA scorer's " Yes" minus " No" logit). Within one request each part's
scores are standardized (mean 0, spread 1 over its candidates), so the weights compare like
with like, and the blend is a conditional logit: P(candidate j chosen) =
softmax_j(sum over parts of weight x standardized score).

The weights are fitted on the validation slice: slates later than everything the parts were
trained on, so they see how each part does on data it has not seen. They are kept
non-negative (every part says "higher is better"; a negative weight would only fit noise)
and pulled towards the tree learner alone (weight 1, others 0; the general engine alone when
there are no trees), so that a few validation slates cannot move them far. Then a guard:
the blend is scored out of fold on the same slice (fitted on one half in time, judged on
the other, both ways round), and when its mean reciprocal rank there (a slate shows only a
few items, so hit@3 alone barely moves) is below the general engine's by more than one
standard error of the paired difference, the weights fall back to the tree learner alone
when it is not worse than the general engine there by that much (it was fitted on the
training slates, so its validation scores are out of sample as they are), else to the
general engine alone. (A tie within the noise of a few dozen validation slates keeps the
blend: the gate then compares the new version with the general engine on the hold-out, and
a version below it there never serves.) Weights, validation figures and the rule that
chose them go into the version's manifest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.ranker.metrics import hit_at, reciprocal_rank

PARTS = ("general", "learner", "trees", "lora")
GENERAL_ONLY = {"general": 1.0}
TREES_FIRST = {"trees": 1.0}
"""The weights the fit starts from and is pulled towards: the tree learner alone when it is a
part (it already reads the general engine's score, so weighting the general engine again
would count it twice), else the general engine alone. Measured on nine simulated families
(400 slates, the general engine's top 20 on fresh moments, no LoRA): hit@3 summed 3.19
pulled towards the trees, 2.88 pulled towards the general engine."""
PULL = 0.05
"""Strength of the pull towards the prior (per case, on the mean log-likelihood)."""
MIN_CASES = 8


def standardized(values: Sequence[float]) -> list[float]:
    """Mean 0 and spread 1 over one request's candidates (all 0 when they are equal)."""
    x = np.asarray(values, dtype=np.float64)
    spread = float(x.std())
    if len(x) == 0 or spread < 1e-9:
        return [0.0] * len(x)
    return [float(v) for v in (x - x.mean()) / spread]


@dataclass(frozen=True)
class Blend:
    """score_j = sum(weights[part] * standardized part score of candidate j)."""

    weights: dict[str, float]
    rule: str = "general only"
    validation: dict[str, Any] = field(default_factory=dict)

    def scores(self, parts: Sequence[Mapping[str, float]]) -> list[float]:
        """The blended score of each candidate of one request."""
        total = [0.0] * len(parts)
        for name, w in self.weights.items():
            if w == 0.0:
                continue
            column = standardized([p.get(name, 0.0) for p in parts])
            total = [t + w * z for t, z in zip(total, column, strict=True)]
        return total

    def uses(self, part: str) -> bool:
        return abs(self.weights.get(part, 0.0)) > 0.0

    def to_json(self) -> dict[str, Any]:
        return {"weights": {k: round(v, 6) for k, v in self.weights.items()}, "rule": self.rule,
                "validation": self.validation}  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Blend:
        weights = {str(k): float(v) for k, v in dict(doc.get("weights") or {}).items()}
        if not weights or any(k not in PARTS or not math.isfinite(v) for k, v in weights.items()):
            raise ValueError("the blend's weights are missing or not finite")
        return cls(weights, str(doc.get("rule", "")), dict(doc.get("validation") or {}))

    @classmethod
    def general_only(cls, rule: str = "general only") -> Blend:
        return cls(dict(GENERAL_ONLY), rule)


@dataclass(frozen=True)
class Case:
    """One validation slate: its candidates' part scores and what was chosen."""

    parts: list[dict[str, float]]  # one per candidate
    ids: list[str]
    chosen: frozenset[str]
    choice: str


def ranking(blend: Blend, case: Case) -> list[str]:
    scores = blend.scores(case.parts)
    order = sorted(range(len(case.ids)), key=lambda j: (-scores[j], j))
    return [case.ids[j] for j in order]


def hit_rate(blend: Blend, cases: Sequence[Case], k: int = 3) -> float:
    if not cases:
        return 0.0
    return sum(hit_at(ranking(blend, c), c.choice, k) for c in cases) / len(cases)


def _fit(cases: Sequence[Case], names: Sequence[str]) -> dict[str, float]:
    """Non-negative conditional-logit weights pulled towards the prior (L-BFGS-B)."""
    from scipy.optimize import minimize

    mats: list[npt.NDArray[np.float64]] = []
    targets: list[int] = []
    for case in cases:
        cols = [standardized([p.get(n, 0.0) for p in case.parts]) for n in names]
        mats.append(np.asarray(cols, dtype=np.float64).T)
        targets.append(case.ids.index(case.choice))
    start = TREES_FIRST if "trees" in names else GENERAL_ONLY
    prior = np.array([start.get(n, 0.0) for n in names])

    def loss(w: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        total, grad = 0.0, np.zeros_like(w)
        for x, t in zip(mats, targets, strict=True):
            z = x @ w
            z = z - z.max()
            p = np.exp(z) / np.exp(z).sum()
            total -= float(np.log(p[t] + 1e-300))
            grad -= x[t] - p @ x
        n = len(mats)
        diff = w - prior
        return total / n + PULL * float(diff @ diff), grad / n + 2 * PULL * diff

    result = minimize(loss, prior.copy(), jac=True, method="L-BFGS-B",
                      bounds=[(0.0, None)] * len(names))  # fmt: skip
    return {n: float(w) for n, w in zip(names, result.x, strict=True)}


def _worse(mine: Sequence[float], theirs: Sequence[float]) -> tuple[bool, float]:
    """Whether ``mine`` is below ``theirs`` (paired, per case) by more than one standard
    error of the difference; and that standard error."""
    diffs = np.asarray(mine) - np.asarray(theirs)
    noise = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    return float(diffs.mean()) < -noise, noise


def _varies(cases: Sequence[Case], part: str) -> bool:
    return any(len({p.get(part, 0.0) for p in c.parts}) > 1 for c in cases)


def fit_blend(cases: Sequence[Case], parts: Sequence[str], *, k: int = 3) -> Blend:
    """The stack over ``parts`` fitted on ``cases`` (see the module docstring)."""
    # A part that scores every candidate of every case alike (an empty learner) says nothing.
    names = [p for p in PARTS if p in parts and (p == "general" or _varies(cases, p))]
    general = Blend.general_only()
    base = hit_rate(general, cases, k)
    figures: dict[str, Any] = {"cases": len(cases), "generalHitAt3": round(base, 4)}
    for name in names:
        figures[f"{name}HitAt3"] = round(hit_rate(Blend({name: 1.0}), cases, k), 4)
    if len(cases) < MIN_CASES:
        return Blend(general.weights, "general only: too few validation slates", figures)
    half = len(cases) // 2
    early, late = list(cases[:half]), list(cases[half:])
    oof = [reciprocal_rank(ranking(Blend(_fit(early, names)), c), c.choice) for c in late]
    oof += [reciprocal_rank(ranking(Blend(_fit(late, names)), c), c.choice) for c in early]
    generals = [reciprocal_rank(ranking(general, c), c.choice) for c in late + early]
    figures["blendOutOfFoldMrr"] = round(sum(oof) / len(oof), 4)
    figures["generalOutOfFoldMrr"] = round(sum(generals) / len(generals), 4)
    worse, noise = _worse(oof, generals)
    figures["outOfFoldMrrDiffSe"] = round(noise, 4)
    if worse:
        if "trees" in names:
            # The trees alone need no fitting here: their validation scores are already out
            # of sample (fitted on the training slates), so they are judged as they are.
            alone = [reciprocal_rank(ranking(Blend(dict(TREES_FIRST)), c), c.choice)
                     for c in late + early]  # fmt: skip
            figures["treesMrr"] = round(sum(alone) / len(alone), 4)
            if not _worse(alone, generals)[0]:
                return Blend(dict(TREES_FIRST), "tree learner alone: the fitted blend did worse "
                             "out of fold", figures)  # fmt: skip
        return Blend(general.weights, "general only: the blend did worse out of fold", figures)
    weights = _fit(cases, names)
    figures["blendHitAt3"] = round(hit_rate(Blend(weights), cases, k), 4)
    return Blend(weights, "blend fitted on the validation slice", figures)
