"""The per-family tree learner: gradient-boosted trees over the moment, the item and the
general engine's score.

Where the contextual learner (``learner.py``) adds up word-by-context weights, the trees see
the moment and the item as a few dozen numbers (who is present, how many and how old, weekday
or weekend, the part of the day, the known factors such as rain or guests; the item's
categories, topics, energy, setting, length, age range, group size, whether it suits this
part of the day) together with the general engine's score, and learn where this family
departs from the general engine: interactions such as "with the youngest present, in the
evening, calm beats energetic", or "on sunny weekend mornings, outdoors whatever the
profile says". Every shown item of every slate is a row, chosen (1) or not (0).

Measured on the bench's simulated families (400 slates, fresh moments, the general
engine's top 20): hit@3 well above both the general engine and the word learner, which is
why the family model blends the two learners rather than choosing one.

scikit-learn fits the trees (``GradientBoostingClassifier``); the version keeps them as
plain JSON (per tree: feature, threshold, children and leaf values), so scoring needs no
scikit-learn and a version's files hold no executable content. Scores equal scikit-learn's
``decision_function`` (tests/test_ranker.py checks it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.domain.catalog import CATEGORIES, ENERGIES, CatalogItem, best_time_for
from engine.ranker.moment import Moment
from engine.schema.context import DAYS, KNOWN_FACTORS, TIMES_OF_DAY

TREES = 150
LEARNING_RATE = 0.05
MAX_LEAVES = 15
MIN_LEAF = 10
SUBSAMPLE = 0.8
MIN_ROWS = 40
"""Fewer rows than this (with both labels) and there is nothing worth fitting."""

FACTORS = tuple(sorted(KNOWN_FACTORS))
_SETTING = {"outdoor": 1.0, "either": 0.5}


@dataclass(frozen=True)
class Schema:
    """Which members and topics the feature columns stand for (members as salted keys)."""

    members: tuple[str, ...]
    topics: tuple[str, ...]

    def names(self) -> list[str]:
        return [
            "general", "present", "youngest", "oldest", "weekend", "part", "day",
            *(f"member:{m}" for m in self.members), *(f"factor:{f}" for f in FACTORS),
            "energy", "outdoor", "minutes", "suits_now", "min_age", "max_age", "group_min",
            "group_max", "screen",
            *(f"category:{c}" for c in CATEGORIES), *(f"topic:{t}" for t in self.topics),
        ]  # fmt: skip

    def row(self, moment: Moment, item: CatalogItem, general: float) -> list[float]:
        """The feature values of one (moment, item) pair, in :meth:`names` order."""
        present = {m.key for m in moment.members}
        ages = [m.age for m in moment.members] or [0]
        part = TIMES_OF_DAY.index(moment.part) if moment.part in TIMES_OF_DAY else -1
        day = DAYS.index(moment.day) if moment.day in DAYS else -1
        factors = set(moment.factors)
        categories, topics = set(item.categories), set(item.topics)
        return [
            general, float(len(moment.members)), float(min(ages)), float(max(ages)),
            float(moment.daytype == "weekend"), float(part), float(day),
            *(float(m in present) for m in self.members),
            *(float(f in factors) for f in FACTORS),
            float(ENERGIES.index(item.energy)), _SETTING.get(item.setting, 0.0),
            float(item.duration_minutes), float(best_time_for(moment.part) in item.best_times),
            float(item.min_age), float(200 if item.max_age is None else item.max_age),
            float(item.group_size.min), float(item.group_size.max), float(item.screen),
            *(float(c in categories) for c in CATEGORIES),
            *(float(t in topics) for t in self.topics),
        ]  # fmt: skip

    @classmethod
    def of(cls, moments: Iterable[Moment], items: Iterable[CatalogItem]) -> Schema:
        members = sorted({m.key for moment in moments for m in moment.members})
        return cls(tuple(members), tuple(sorted({t for i in items for t in i.topics})))


@dataclass(frozen=True)
class Tree:
    """One regression tree as arrays: a node is a leaf when ``left[n] < 0``."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def leaf_value(self, x: npt.NDArray[np.float32]) -> float:
        node = 0
        while self.left[node] >= 0:
            go_left = x[self.feature[node]] <= self.threshold[node]
            node = self.left[node] if go_left else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class TreeLearner:
    """Fitted trees: logit = ``init`` + ``rate`` x the sum of the trees' leaf values."""

    schema: Schema
    trees: tuple[Tree, ...]
    init: float
    rate: float
    rows: int

    def logits(self, moment: Moment, items: Sequence[CatalogItem],
               general: Mapping[str, float]) -> list[float]:  # fmt: skip
        """Each item's logit of being chosen in ``moment`` (0.0 for all when empty)."""
        if not self.trees:
            return [0.0] * len(items)
        # float32 like scikit-learn's trees, so that thresholds compare the same way
        rows = np.asarray([self.schema.row(moment, i, float(general.get(i.id, 0.0)))
                           for i in items], dtype=np.float32)  # fmt: skip
        return [self.init + self.rate * sum(t.leaf_value(x) for t in self.trees) for x in rows]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "init": self.init, "rate": self.rate,
            "features": self.schema.names(),
            "schema": {"members": list(self.schema.members), "topics": list(self.schema.topics)},
            "trees": [{"feature": list(t.feature), "threshold": [round(v, 6) for v in t.threshold],
                       "left": list(t.left), "right": list(t.right),
                       "value": [round(v, 6) for v in t.value]} for t in self.trees],
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TreeLearner:
        raw = dict(doc.get("schema") or {})
        schema = Schema(tuple(str(m) for m in raw.get("members") or ()),
                        tuple(str(t) for t in raw.get("topics") or ()))  # fmt: skip
        width = len(schema.names())
        trees = []
        for t in doc.get("trees") or ():
            tree = Tree(tuple(int(v) for v in t["feature"]),
                        tuple(float(v) for v in t["threshold"]), tuple(int(v) for v in t["left"]),
                        tuple(int(v) for v in t["right"]), tuple(float(v) for v in t["value"]))
            _check(tree, width)
            trees.append(tree)
        init, rate = float(doc.get("init", 0.0)), float(doc.get("rate", 0.0))
        if not (math.isfinite(init) and math.isfinite(rate)):
            raise ValueError("the tree learner's numbers are not finite")
        return cls(schema, tuple(trees), init, rate, int(doc.get("rows", 0)))

    @classmethod
    def empty(cls) -> TreeLearner:
        return cls(Schema((), ()), (), 0.0, 0.0, 0)


def _check(tree: Tree, width: int) -> None:
    """A tree read from a file must be well formed: children point forward (no loops), every
    feature exists, every number is finite."""
    n = len(tree.left)
    if not (n and len(tree.right) == len(tree.feature) == len(tree.threshold)
            == len(tree.value) == n):  # fmt: skip
        raise ValueError("a tree of the tree learner has arrays of different lengths")
    for node in range(n):
        if not (math.isfinite(tree.threshold[node]) and math.isfinite(tree.value[node])):
            raise ValueError("a tree of the tree learner holds a number that is not finite")
        if tree.left[node] < 0:
            continue
        if not (node < tree.left[node] < n and node < tree.right[node] < n):
            raise ValueError("a tree of the tree learner is malformed")
        if not 0 <= tree.feature[node] < width:
            raise ValueError("a tree of the tree learner reads a feature it does not have")


def fit_trees(rows: Sequence[tuple[Moment, CatalogItem, float, int]], schema: Schema, *,
              seed: int = 0) -> TreeLearner:  # fmt: skip
    """Fit on (moment, item, general score, chosen) rows; too few rows or only one label
    give the empty learner (every item scores the same)."""
    from sklearn.ensemble import GradientBoostingClassifier

    labels = [label for *_, label in rows]
    if len(rows) < MIN_ROWS or len(set(labels)) < 2:
        return TreeLearner.empty()
    x = np.asarray([schema.row(m, i, g) for m, i, g, _ in rows], dtype=np.float32)
    model = GradientBoostingClassifier(
        learning_rate=LEARNING_RATE, n_estimators=TREES, max_leaf_nodes=MAX_LEAVES,
        min_samples_leaf=MIN_LEAF, subsample=SUBSAMPLE, random_state=seed,
    )  # fmt: skip
    model.fit(x, labels)
    trees = []
    for estimator in model.estimators_[:, 0]:
        t = estimator.tree_
        trees.append(Tree(
            tuple(int(v) for v in t.feature), tuple(float(v) for v in t.threshold),
            tuple(int(v) for v in t.children_left), tuple(int(v) for v in t.children_right),
            tuple(float(v) for v in t.value[:, 0, 0]),
        ))  # fmt: skip
    prior = min(max(sum(labels) / len(labels), 1e-6), 1 - 1e-6)
    return TreeLearner(schema, tuple(trees), math.log(prior / (1 - prior)), LEARNING_RATE,
                       len(rows))  # fmt: skip
