"""The per-family contextual learner: which items this family chooses in which moments.

A logistic regression (scikit-learn, L2) over crossed indicator features: every context a
taste can depend on (overall; weekday or weekend; the part of the day; both; each present
member alone and in those moments; the whole group in those moments; the activity and the
known factors) crossed with everything the item is (its id, categories, topics, title words,
energy, setting). Every shown item of every slate is one row, chosen (1) or not (0).

Measured on simulated families whose tastes change with weekday and hour (bench/): such
tastes are learnable from a few dozen slates this way. The fitted model is kept as plain
JSON (feature -> weight, no pickles), so a version's files hold no executable content and
scoring needs no scikit-learn at all: the sum of the weights of a row's features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.domain.catalog import CatalogItem
from engine.ranker.moment import Moment, item_tokens, moment_keys

DEFAULT_C = 0.3
"""Inverse L2 strength (chosen on the bench's simulated families, time-ordered)."""
MIN_WEIGHT = 1e-4
"""Weights smaller than this are not kept (they change no ranking)."""


def row_features(moment: Moment, item: CatalogItem) -> list[str]:
    """The crossed indicator features of one (moment, item) row."""
    keys = moment_keys(moment)
    return [f"{k}|{t}" for k in keys for t in item_tokens(item)]


@dataclass(frozen=True)
class ContextualLearner:
    """A fitted learner: ``weights[feature]`` and ``bias`` (logit of being chosen)."""

    weights: dict[str, float]
    bias: float
    rows: int

    def logit(self, moment: Moment, item: CatalogItem) -> float:
        w = self.weights
        return self.bias + sum(w.get(f, 0.0) for f in row_features(moment, item))

    def to_json(self) -> dict[str, Any]:
        return {"bias": self.bias, "rows": self.rows,
                "weights": {k: round(v, 5) for k, v in sorted(self.weights.items())}}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ContextualLearner:
        weights = {str(k): float(v) for k, v in dict(doc.get("weights") or {}).items()}
        bias = float(doc.get("bias", 0.0))
        if not all(math.isfinite(v) for v in (*weights.values(), bias)):
            raise ValueError("the learner's weights are not finite numbers")
        return cls(weights, bias, int(doc.get("rows", 0)))

    @classmethod
    def empty(cls) -> ContextualLearner:
        return cls({}, 0.0, 0)


def fit_learner(rows: Iterable[tuple[Moment, CatalogItem, int]], *, c: float = DEFAULT_C,
                ) -> ContextualLearner:  # fmt: skip
    """Fit on (moment, item, chosen) rows; with fewer than two classes there is nothing to
    learn and the learner is empty (every item scores the same)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    data = list(rows)
    labels = [label for _, _, label in data]
    if len(set(labels)) < 2:
        return ContextualLearner.empty()
    vectorizer = DictVectorizer()
    x = vectorizer.fit_transform([dict.fromkeys(row_features(m, i), 1) for m, i, _ in data])
    x.indices, x.indptr = x.indices.astype(np.int32), x.indptr.astype(np.int32)  # liblinear
    model = LogisticRegression(C=c, solver="liblinear", max_iter=200)
    model.fit(x, labels)
    names: Sequence[str] = vectorizer.get_feature_names_out()
    weights = {str(name): float(w) for name, w in zip(names, model.coef_[0], strict=True)
               if abs(w) >= MIN_WEIGHT}  # fmt: skip
    return ContextualLearner(weights, float(model.intercept_[0]), len(data))
