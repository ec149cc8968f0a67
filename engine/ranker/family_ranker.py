"""The served family model: how a version ranks the general engine's safe candidates.

A version's manifest holds ``ranker``: the contextual learner's weights, the tree
learner's trees, the blend's weights and how many of the general engine's best candidates
it scores. Ranking a request: the candidates (already through the safety pre-filter) ->
each part's score (the general engine's score, the two learners' logits, and, when the
blend uses it, the LoRA scorer's
" Yes" minus " No" logit read from llama.cpp over a shared prefix) -> the blend -> best
first. Nothing is decoded, so a warm answer costs one short prompt per candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.domain.catalog import CatalogItem
from engine.ranker.blend import Blend
from engine.ranker.learner import ContextualLearner
from engine.ranker.moment import Moment
from engine.ranker.prompts import NO, YES, prefix, suffix
from engine.ranker.trees import TreeLearner

RANKER_KIND = "pointwise-blend-v2"
DEFAULT_CANDIDATES = 15
"""The general engine's best items the family model scores (its answer comes from these)."""

LoraScorer = Callable[[str, list[str]], list[float]]
"""(prefix, suffixes) -> one " Yes" minus " No" margin per suffix."""


@dataclass(frozen=True)
class RankerSpec:
    """What a version needs to rank: see the module docstring."""

    learner: ContextualLearner
    blend: Blend
    candidates: int = DEFAULT_CANDIDATES
    answers: tuple[str, str] = (YES, NO)
    trees: TreeLearner = field(default_factory=TreeLearner.empty)

    def to_json(self) -> dict[str, Any]:
        return {"kind": RANKER_KIND, "candidates": self.candidates,
                "answers": list(self.answers), "blend": self.blend.to_json(),
                "learner": self.learner.to_json(), "trees": self.trees.to_json()}  # fmt: skip

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> RankerSpec | None:
        """The version's ranker; None for a version made before rankers (it cannot rank).
        ValueError when the ranker is there but malformed."""
        doc = manifest.get("ranker")
        if not isinstance(doc, Mapping) or doc.get("kind") != RANKER_KIND:
            return None
        answers = tuple(str(a) for a in doc.get("answers") or (YES, NO))
        candidates = int(doc.get("candidates", DEFAULT_CANDIDATES))
        if len(answers) != 2 or not 2 <= candidates <= 50:
            raise ValueError("the ranker's answers or candidate count are malformed")
        return cls(ContextualLearner.from_json(dict(doc.get("learner") or {})),
                   Blend.from_json(dict(doc.get("blend") or {})), candidates,
                   (answers[0], answers[1]),
                   TreeLearner.from_json(dict(doc.get("trees") or {})))  # fmt: skip


@dataclass(frozen=True)
class Ranked:
    item_id: str
    score: float
    parts: dict[str, float]



def part_scores(
    spec: RankerSpec,
    moment: Moment,
    items: Sequence[CatalogItem],
    general: Mapping[str, float],
    lora: LoraScorer | None,
) -> list[dict[str, float]]:
    """Each candidate's part scores (``lora`` is called only when the blend uses it)."""
    trees = spec.trees.logits(moment, items, general)
    parts = [{"general": float(general.get(i.id, 0.0)), "learner": spec.learner.logit(moment, i),
              "trees": t} for i, t in zip(items, trees, strict=True)]  # fmt: skip
    if spec.blend.uses("lora"):
        if lora is None:
            raise ValueError("this version's blend needs the LoRA scorer")
        margins = lora(prefix(moment), [suffix(i) for i in items])
        if len(margins) != len(items):
            raise ValueError("the LoRA scorer did not score every candidate")
        for p, m in zip(parts, margins, strict=True):
            p["lora"] = float(m)
    return parts


def rank(spec: RankerSpec, moment: Moment, items: Sequence[CatalogItem],
         general: Mapping[str, float], lora: LoraScorer | None) -> list[Ranked]:  # fmt: skip
    """The candidates, best first by the blend (ties keep the general engine's order)."""
    parts = part_scores(spec, moment, items, general, lora)
    blended = spec.blend.scores(parts)
    scored = [Ranked(i.id, s, p) for i, s, p in zip(items, blended, parts, strict=True)]
    order = sorted(range(len(scored)), key=lambda j: (-scored[j].score, j))
    return [scored[j] for j in order]
