"""The family model's parts exactly as they serve: the LoRA scorer over llama.cpp and the
explainer of reasons. The evaluation gate uses these same functions, so it judges what serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.base.errors import FamtuneError
from engine.domain.catalog import Catalog, CatalogItem
from engine.safety import SafetyValidator, parse_item

if TYPE_CHECKING:
    from engine.domain.home import Famtune
    from engine.inference.llama_service import LlamaService
    from engine.ranker.family_ranker import LoraScorer
    from engine.schema.profiles import FamilyProfile


def lora_scorer(llama: LlamaService, adapter: Path | None, sha256: str | None, *,
                deadline_s: float | None = None) -> LoraScorer:  # fmt: skip
    """The LoRA scorer of one adapter over ``llama``: (prefix, suffixes) -> margins."""
    from engine.ranker.prompts import NO, YES

    def score(prefix: str, suffixes: list[str]) -> list[float]:
        result = llama.score_answers(prefix, suffixes, (YES, NO), adapter=adapter,
                                     adapter_sha256=sha256, deadline_s=deadline_s)  # fmt: skip
        if result.stopped_by_deadline:
            raise FamtuneError(f"no answer within {deadline_s:.1f} s")
        return result.margins

    return score


def make_explainer(ft: Famtune, profile: FamilyProfile, history: list[Any],
                   ) -> Callable[[CatalogItem, Any], str]:  # fmt: skip
    """(item, moment) -> the reason serving gives, from ``history`` (for the safety suite)."""
    from engine.ranker.reasons import explain

    validator = SafetyValidator()
    catalog = {i.id: i for i in Catalog(ft).items()}

    def reason(item: CatalogItem, moment: Any) -> str:
        audience = validator.audience(profile)

        def is_safe(text: str) -> bool:
            doc = {**item.to_json(), "reason": text}
            return validator.judge(audience, parse_item(doc)).allowed

        return explain(item, moment, history=history, catalog=catalog, is_safe=is_safe,
                       fallback="A good fit for right now.")  # fmt: skip

    return reason
