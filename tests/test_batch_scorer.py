"""Pointwise scoring in one llama.cpp batch of sequences (engine/inference/batch_scorer.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy.stats import spearmanr

from engine.base.errors import FamtuneError
from engine.domain.catalog import load_builtin_catalog
from engine.inference.batch_scorer import groups
from engine.ranker.moment import Member, Moment
from engine.ranker.prompts import NO, YES, prefix, suffix

ITEMS = load_builtin_catalog()


def test_groups_keep_order_and_respect_both_limits() -> None:
    bodies = [[1] * n for n in (5, 5, 5, 9, 1, 1)]
    assert groups(bodies, max_sequences=3, max_tokens=100) == [[0, 1, 2], [3, 4, 5]]
    assert groups(bodies, max_sequences=10, max_tokens=10) == [[0, 1], [2], [3, 4], [5]]
    assert groups([], max_sequences=3, max_tokens=10) == []
    with pytest.raises(FamtuneError):
        groups([[1] * 11], max_sequences=3, max_tokens=10)


def _moment() -> Moment:
    return Moment("saturday", "weekend", "morning", None, (),
                  (Member("k1", "child", 8), Member("k2", "parent", 40)))  # fmt: skip


def test_many_candidates_in_several_batches_score_as_each_alone(template_home: Path) -> None:
    """40 candidates (two decode calls of at most 31 sequences) get, in their order, the
    margin each gets when scored alone; a second request reusing the cached prefix gives the
    same margins exactly, and so does one after another prefix was scored in between."""
    from engine.domain.home import Famtune
    from engine.inference.llama_service import LlamaService

    ft = Famtune(template_home, profile="development")
    record = ft.last_base_model()
    ft.close()
    assert record is not None
    head = prefix(_moment())
    suffixes = [suffix(i) for i in ITEMS[:40]]
    with LlamaService(Path(record.path), n_threads=2) as llama:
        together = llama.score_answers(head, suffixes, (YES, NO))
        assert len(together.margins) == 40 and not together.stopped_by_deadline
        again = llama.score_answers(head, suffixes, (YES, NO))
        assert again.margins == together.margins
        sample = (0, 5, 11, 17, 23, 30, 31, 39)
        alone = [llama.score_answers(head, [suffixes[i]], (YES, NO)).margins[0] for i in sample]
        mine = [together.margins[i] for i in sample]
        # Batches of other sizes round differently in llama.cpp's CPU kernels (measured: up to
        # 0.4 on margins spread over about 1.5); a candidate that saw its neighbours' tokens
        # would differ by far more, and the order would not survive.
        for a, b in zip(alone, mine, strict=True):
            assert math.isclose(a, b, abs_tol=0.5)
        assert spearmanr(alone, mine).statistic > 0.6
        spread = max(together.margins) - min(together.margins)
        assert spread > 0.5  # the candidates are told apart, not all scored alike
        assert llama.score_answers(head, suffixes, (YES, NO)).margins == together.margins
