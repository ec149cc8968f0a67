"""Training a family's ranker from its slates: the pointwise examples for the LoRA scorer,
the part scores of a slice of slates, and the comparison the gate decides on.

The LoRA scorer learns from every shown item of every training slate: the moment's prefix,
the item's suffix, " Yes" when the family chose it and " No" when it did not (dismissed or
passed over). The two learners (contextual and trees) are fitted twice: on the training
slates only, to give the blend out-of-fold scores on the validation slice, and then on
training plus validation for serving. The hold-out is never trained on: the gate judges the
new version, the active version and the general engine on its slates, with the same
candidates for all three.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine.domain.catalog import CatalogItem
from engine.ranker.blend import Case
from engine.ranker.family_ranker import LoraScorer, RankerSpec, part_scores, rank
from engine.ranker.learner import ContextualLearner, fit_learner
from engine.ranker.metrics import hit_at, ndcg_at
from engine.ranker.moment import Moment
from engine.ranker.prompts import NO, YES, pointwise
from engine.ranker.slates import Slate
from engine.ranker.trees import Schema, TreeLearner, fit_trees


class Cancelled(Exception):
    """The caller's cancel flag was set between two slates."""


def learner_rows(slates: Iterable[Slate], by_id: dict[str, CatalogItem],
                 ) -> list[tuple[Moment, CatalogItem, int]]:  # fmt: skip
    return [(s.moment, by_id[i], y) for s in slates for i, y in s.rows() if i in by_id]


@dataclass(frozen=True)
class Learners:
    """The family's two learners, fitted on the same slates."""

    learner: ContextualLearner
    trees: TreeLearner


def fit_on(slates: Sequence[Slate], by_id: dict[str, CatalogItem]) -> Learners:
    """Both learners on ``slates`` (the trees' columns: the members seen in them and the
    topics of the catalog)."""
    schema = Schema.of((s.moment for s in slates), by_id.values())
    rows = [(s.moment, by_id[i], s.general[i], y)
            for s in slates for i, y in s.rows() if i in by_id]  # fmt: skip
    return Learners(fit_learner(learner_rows(slates, by_id)), fit_trees(rows, schema))


def pointwise_examples(slates: Iterable[Slate], by_id: dict[str, CatalogItem],
                       ) -> list[tuple[str, str]]:  # fmt: skip
    """(prompt, " Yes" / " No") for every shown item of every slate."""
    return [(pointwise(s.moment, by_id[i]), YES if y else NO)
            for s in slates for i, y in s.rows() if i in by_id]  # fmt: skip


def validation_cases(slates: Sequence[Slate], by_id: dict[str, CatalogItem],
                     learners: Learners, lora: LoraScorer | None, *,
                     cancel: threading.Event | None = None) -> list[Case]:  # fmt: skip
    """Each slate with a choice as a blend case: its judged items' part scores."""
    from engine.ranker.blend import Blend

    weights = {"general": 1.0, "learner": 1.0, "trees": 1.0,
               **({"lora": 1.0} if lora is not None else {})}  # fmt: skip
    probe = RankerSpec(learners.learner, Blend(weights), trees=learners.trees)
    cases: list[Case] = []
    for slate in slates:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        if slate.choice is None:
            continue
        ids = [i for i in slate.judged() if i in by_id]
        if slate.choice not in ids or len(ids) < 2:
            continue
        parts = part_scores(probe, slate.moment, [by_id[i] for i in ids], slate.general, lora)
        cases.append(Case(parts, ids, frozenset(slate.chosen), slate.choice))
    return cases


@dataclass
class Comparison:
    """Hit@3 of the new version, the active one (if it can rank) and the general engine on
    the same hold-out slates, each ranking the slate's judged items (its shown items that
    are still safe, see :meth:`Slate.judged`); NDCG@3 of the new version and the general
    engine beside."""

    new: list[float] = field(default_factory=list)
    active: list[float] | None = None
    general: list[float] = field(default_factory=list)
    new_ndcg: list[float] = field(default_factory=list)
    general_ndcg: list[float] = field(default_factory=list)
    candidates: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return len(self.new)

    @staticmethod
    def rate(hits: Sequence[float] | None) -> float | None:
        return sum(hits) / len(hits) if hits else None

    def extend(self, other: Comparison) -> None:
        """Add another chunk of slates' results (compared the same way)."""
        self.new += other.new
        self.general += other.general
        self.new_ndcg += other.new_ndcg
        self.general_ndcg += other.general_ndcg
        self.candidates += other.candidates
        self.seconds += other.seconds
        if self.active is not None and other.active is not None:
            self.active += other.active

    @property
    def seconds_per_slate(self) -> float:
        return self.seconds / self.cases if self.cases else 0.0


def compare(slates: Sequence[Slate], by_id: dict[str, CatalogItem],
            new: tuple[RankerSpec, LoraScorer | None],
            active: tuple[RankerSpec, LoraScorer | None] | None, *,
            cancel: threading.Event | None = None,
            progress: Callable[[int, int], None] | None = None) -> Comparison:  # fmt: skip
    """See :class:`Comparison`; ``progress(done, total)`` after each slate."""
    started = time.monotonic()
    out = Comparison(active=[] if active is not None else None)
    judged = [s for s in slates if s.choice is not None]
    for index, slate in enumerate(judged):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        ids = [i for i in slate.judged() if i in by_id]
        assert slate.choice is not None
        if slate.choice not in ids or len(ids) < 2:
            continue
        items = [by_id[i] for i in ids]
        out.general.append(hit_at(ids, slate.choice))
        out.general_ndcg.append(ndcg_at(ids, slate.choice))
        mine = [r.item_id for r in rank(new[0], slate.moment, items, slate.general, new[1])]
        out.new.append(hit_at(mine, slate.choice))
        out.new_ndcg.append(ndcg_at(mine, slate.choice))
        if active is not None and out.active is not None:
            theirs = rank(active[0], slate.moment, items, slate.general, active[1])
            out.active.append(hit_at([r.item_id for r in theirs], slate.choice))
        out.candidates.append(len(ids))
        if progress is not None:
            progress(index + 1, len(judged))
    out.seconds = time.monotonic() - started
    return out
