"""Keeping training inside its memory budget.

* :class:`MemoryWatchdog` samples this process's resident set (psutil) in a background
  thread and reads the kernel's high-water mark (``ru_maxrss``), which is what
  ``/usr/bin/time -v`` reports as "Maximum resident set size".
* :func:`plan_memory` estimates the peak of a configuration before training and picks the
  fastest one that fits: fewer recomputed (checkpointed) layers first, then a smaller
  micro-batch (gradient accumulation keeps the effective batch), then a shorter maximum
  sequence. It raises :class:`MemoryBudgetExceeded` when even one example of the minimum
  length with every layer recomputed does not fit.
* :func:`wait_for_memory` holds training back while the machine has less free memory than
  the budget ("when free memory is low, training waits").
* :data:`MALLOC_TUNABLES` are the glibc allocator settings the worker runs with, so freed
  activations are reused rather than left as resident holes.

The estimate's coefficients were measured on the Gemma 3 270M training copy (bf16, CPU,
LoRA r=8 on all projections); see :class:`MemoryModel`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import psutil

from engine.base.errors import FamtuneError
from engine.training.events import MemoryAdjusted, Phase

MB = 1 << 20


class MemoryBudgetExceeded(FamtuneError):
    """Training cannot fit in its memory budget (or free memory never came); the previous
    model stays in service."""


def rss_mb() -> float:
    """This process's resident set now, in MB."""
    return float(psutil.Process().memory_info().rss) / MB


def peak_rss_mb() -> float:
    """This process's resident high-water mark (``ru_maxrss``), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak) / (MB if sys.platform == "darwin" else 1024)


class MemoryWatchdog:
    """Samples RSS every ``interval_s`` while started; ``recent_peak_mb`` is the largest
    sample since the last :meth:`reset_recent`."""

    def __init__(self, budget_mb: float, interval_s: float = 0.05) -> None:
        self.budget_mb = float(budget_mb)
        self.interval_s = interval_s
        self.recent_peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()
        # A process forked from a big parent inherits the parent's high-water mark in
        # ru_maxrss (Linux keeps it across fork and exec); then only our own samples count.
        self._kernel_peak_is_ours = peak_rss_mb() <= rss_mb() * 1.5 + 64

    def sample(self) -> float:
        value = float(self._process.memory_info().rss) / MB
        self.recent_peak_mb = max(self.recent_peak_mb, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(psutil.Error):
                self.sample()

    def start(self) -> MemoryWatchdog:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="memory-watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def reset_recent(self) -> None:
        self.recent_peak_mb = self.sample()

    def peak_mb(self) -> float:
        sampled = max(self.recent_peak_mb, self.sample())
        return max(peak_rss_mb(), sampled) if self._kernel_peak_is_ours else sampled

    def near_limit(self, fraction: float = 0.92) -> bool:
        """Whether the recent peak came within ``fraction`` of the budget."""
        return max(self.recent_peak_mb, self.sample()) >= fraction * self.budget_mb

    def __enter__(self) -> MemoryWatchdog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class MemoryModel:
    """Peak RSS ~ ``resident_mb`` (now, model loaded) + ``weights_mb`` (layer weights still to
    be paged in) + ``fixed_mb`` + per token of a micro-batch: ``kept_kb`` for each layer
    whose activations are kept, ``checkpointed_kb`` for each recomputed layer, and
    ``transient_kb`` once (one layer's recompute, the head chunk, the allocator's slack).

    Measured on Gemma 3 270M (bf16, LoRA r=8 on all projections, one example per pass of
    150/300/450 tokens): a kept layer holds ~112 KB per token (the fp32 LoRA inputs and
    dropout copies, the fp32 RMSNorm inputs, MLP and attention activations). With all 18
    layers recomputed the peak was 704/732/736 MB with the allocator tuned
    (:data:`MALLOC_TUNABLES`), 819/982/1078 MB without: glibc's fastbins and tcache keep
    small freed chunks from coalescing, hence the larger ``transient_kb`` then.
    """

    resident_mb: float
    weights_mb: float
    n_layers: int
    fixed_mb: float = 80.0
    kept_kb: float = 115.0
    checkpointed_kb: float = 3.0
    transient_kb: float = 100.0

    @classmethod
    def for_this_process(cls, resident_mb: float, weights_mb: float, n_layers: int) -> MemoryModel:
        """The coefficients for this process's allocator settings."""
        tuned = "tcache_count=0" in os.environ.get("GLIBC_TUNABLES", "")
        return cls(resident_mb, weights_mb, n_layers, transient_kb=100.0 if tuned else 830.0)

    def peak_mb(self, tokens: int, checkpointed: int) -> float:
        kept = self.n_layers - checkpointed
        per_token_kb = kept * self.kept_kb + checkpointed * self.checkpointed_kb
        per_token_kb += self.transient_kb
        return self.resident_mb + self.weights_mb + self.fixed_mb + tokens * per_token_kb / 1024


@dataclass(frozen=True)
class MemoryPlan:
    micro_batch_size: int
    max_seq_length: int
    checkpointed_layers: int
    estimate_mb: float


def _fits(model: MemoryModel, budget: float, micro: int, seq: int, ckpt: int) -> bool:
    return model.peak_mb(micro * seq, ckpt) <= budget


def plan_memory(
    model: MemoryModel,
    *,
    budget_mb: float,
    micro_batch_size: int,
    max_seq_length: int,
    longest_example: int,
    min_seq_length: int,
    allow_checkpointing: bool,
    margin: float = 0.9,
) -> tuple[MemoryPlan, list[MemoryAdjusted]]:
    """The fastest (micro-batch, sequence length, recomputed layers) whose estimate fits in
    ``margin * budget_mb``; and a MemoryAdjusted for each setting it had to lower."""
    budget = margin * budget_mb
    seq = min(max_seq_length, longest_example)
    choices = range(model.n_layers + 1) if allow_checkpointing else range(1)
    micro, adjusted = micro_batch_size, []
    while True:
        ckpt = next((c for c in choices if _fits(model, budget, micro, seq, c)), None)
        if ckpt is not None:
            break
        if micro > 1:
            new = max(1, micro // 2)
            adjusted.append(
                MemoryAdjusted("micro_batch_size", micro, new, _why(model, budget_mb, micro, seq))
            )
            micro = new
            continue
        if seq > min_seq_length:
            new = max(min_seq_length, seq * 3 // 4)
            adjusted.append(
                MemoryAdjusted("max_seq_length", seq, new, _why(model, budget_mb, micro, seq))
            )
            seq = new
            continue
        raise MemoryBudgetExceeded(
            f"training needs about {model.peak_mb(seq, choices[-1]):.0f} MB even with one "
            f"example of {seq} tokens per pass, more than the budget of {budget_mb:.0f} MB "
            "(raise max_memory_usage or free memory); the current model stays in use"
        )
    plan = MemoryPlan(
        micro,
        seq if seq < longest_example else max_seq_length,
        ckpt,
        model.peak_mb(micro * seq, ckpt),
    )
    return plan, adjusted


def _why(model: MemoryModel, budget_mb: float, micro: int, seq: int) -> str:
    need = model.peak_mb(micro * seq, model.n_layers)
    return f"{micro} x {seq} tokens need about {need:.0f} MB, the budget is {budget_mb:.0f} MB"


def lower_after_pressure(
    plan: MemoryPlan, n_layers: int, allow_checkpointing: bool, min_seq_length: int
) -> tuple[MemoryPlan, MemoryAdjusted] | None:
    """One step down after the watchdog saw RSS near the budget: recompute every layer,
    then halve the micro-batch, then shorten sequences. None when nothing is left."""
    if allow_checkpointing and plan.checkpointed_layers < n_layers:
        new = replace(plan, checkpointed_layers=n_layers)
        return new, MemoryAdjusted(
            "checkpointed_layers",
            plan.checkpointed_layers,
            n_layers,
            "resident memory came near the budget",
        )
    if plan.micro_batch_size > 1:
        micro = max(1, plan.micro_batch_size // 2)
        return replace(plan, micro_batch_size=micro), MemoryAdjusted(
            "micro_batch_size", plan.micro_batch_size, micro, "resident memory came near the budget"
        )
    if plan.max_seq_length > min_seq_length:
        seq = max(min_seq_length, plan.max_seq_length * 3 // 4)
        return replace(plan, max_seq_length=seq), MemoryAdjusted(
            "max_seq_length", plan.max_seq_length, seq, "resident memory came near the budget"
        )
    return None


def wait_for_memory(
    budget_mb: float,
    *,
    cancel: threading.Event,
    timeout_s: float,
    poll_s: float = 5.0,
    available_mb: Callable[[], float] | None = None,
) -> Iterator[Phase]:
    """Yield ``Phase("waiting")`` while less than ``budget_mb`` is available; return when
    there is enough or ``cancel`` is set; MemoryBudgetExceeded after ``timeout_s``."""
    read = available_mb or (lambda: float(psutil.virtual_memory().available) / MB)
    deadline = time.monotonic() + timeout_s
    announced = False
    while not cancel.is_set():
        free = read()
        if free >= budget_mb:
            return
        if time.monotonic() >= deadline:
            raise MemoryBudgetExceeded(
                f"only {free:.0f} MB of memory stayed free for {timeout_s:.0f} s; training "
                f"needs {budget_mb:.0f} MB"
            )
        if not announced:
            yield Phase("waiting", f"{free:.0f} MB free, training needs {budget_mb:.0f} MB")
            announced = True
        cancel.wait(poll_s)


MALLOC_TUNABLES = "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0"
"""glibc settings for the training worker (``GLIBC_TUNABLES``; read at process start): no
tcache and no fastbins, so small freed chunks coalesce and freed activation memory is
reused. Measured: about 250 MB lower peak at the same step time."""


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def malloc_trim() -> None:
    """Return freed heap pages to the system (glibc ``malloc_trim``; elsewhere a no-op).
    Measured: without it, pages freed by one example stay resident and the peak drifts up
    by about 200 MB over a few steps of examples of varying length."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def release_memory() -> None:
    gc.collect()
    malloc_trim()
