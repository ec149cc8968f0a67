"""Ranking metrics with their uncertainty: hit@k, NDCG@k, a Wilson interval for a rate and a
paired bootstrap for the difference of two scorers judged on the same cases."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def rank_of(ranking: Sequence[str], choice: str) -> int | None:
    """0-based position of ``choice`` in ``ranking`` (None when absent)."""
    for index, item in enumerate(ranking):
        if item == choice:
            return index
    return None


def hit_at(ranking: Sequence[str], choice: str, k: int = 3) -> float:
    rank = rank_of(ranking, choice)
    return 1.0 if rank is not None and rank < k else 0.0


def ndcg_at(ranking: Sequence[str], choice: str, k: int = 3) -> float:
    """NDCG@k with one relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    rank = rank_of(ranking, choice)
    return 1.0 / math.log2(rank + 2) if rank is not None and rank < k else 0.0


def reciprocal_rank(ranking: Sequence[str], choice: str) -> float:
    rank = rank_of(ranking, choice)
    return 1.0 / (rank + 1) if rank is not None else 0.0


def random_hit_at(n_candidates: int, k: int = 3) -> float:
    """Expected hit@k of a random order of ``n_candidates`` (one of them chosen)."""
    return min(1.0, k / n_candidates) if n_candidates else 0.0


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate (successes may be fractional means x n)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], *, seed: int = 0, rounds: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of a mean (for per-case scores that are not 0/1)."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (rounds, len(data)))].mean(axis=1)
    return (float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, seed: int = 0,
                     rounds: int = 2000) -> tuple[float, float, float]:  # fmt: skip
    """(mean of a - b, 2.5% and 97.5% quantiles) over cases resampled together."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("paired scores need the same cases")
    if len(x) == 0:
        return (0.0, 0.0, 0.0)
    diff = x - y
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (rounds, len(diff)))].mean(axis=1)
    return (float(diff.mean()), float(np.quantile(means, 0.025)),
            float(np.quantile(means, 0.975)))  # fmt: skip
