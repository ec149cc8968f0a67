"""Pointwise scoring of many candidates in one llama.cpp batch, sharing the prompt's prefix.

The family model asks one question per candidate: the moment's prefix (who, when) followed by
the candidate's suffix (the activity, "Will they enjoy it now? Answer:"), and reads the
next-token logits of " Yes" and " No". Evaluating the suffixes one after another costs one
small forward pass each, and a small pass uses the CPU badly (measured on 2 cores, 15
candidates, 256 tokens: 0.60 s one by one, 0.40 s in one batch).

So this scorer keeps its own llama.cpp context with several sequences over one unified KV
cache, in one ``llama_decode`` call: the prefix's tokens belong to every sequence (so each
candidate attends to them, and they are computed once), each suffix's tokens to its own
sequence, and logits are requested only for each suffix's last token. More candidates than
one call holds go in further calls that share the prefix from sequence 0
(``llama_memory_seq_cp``: the cells are shared, not copied).

Each request starts from an empty cache, so a candidate's score depends only on the request
(the same inputs give the same margins), never on what was asked before.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.base.errors import FamtuneError, ModelFileError

MAX_SEQUENCES = 32
"""Sequences of the scoring context: the prefix plus up to 31 candidates per decode call."""
BATCH_TOKENS = 512
"""Tokens per decode call (llama.cpp's n_batch and n_ubatch)."""


@dataclass(frozen=True)
class Scored:
    margins: list[float]
    stopped_by_deadline: bool
    tokens: int


def groups(bodies: Sequence[Sequence[int]], *, max_sequences: int = MAX_SEQUENCES - 1,
           max_tokens: int = BATCH_TOKENS) -> list[list[int]]:  # fmt: skip
    """Indices of ``bodies`` split, in order, into groups that fit one decode call."""
    out: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index, body in enumerate(bodies):
        if len(body) > max_tokens:
            raise FamtuneError("a candidate's prompt is longer than one llama.cpp batch")
        if current and (len(current) >= max_sequences or tokens + len(body) > max_tokens):
            out.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += len(body)
    if current:
        out.append(current)
    return out


def set_lora(lib: Any, ctx: Any, handle: Any) -> None:
    """Switch a llama.cpp context to the adapter ``handle`` at scale 1 (None: no adapter)."""
    if handle is None:
        code = lib.llama_set_adapters_lora(ctx, None, 0, None)
    else:
        handles = (lib.llama_adapter_lora_p_ctypes * 1)(handle)
        code = lib.llama_set_adapters_lora(ctx, handles, 1, (ctypes.c_float * 1)(1.0))
    if code != 0:
        raise FamtuneError(f"llama.cpp could not switch adapters (code {code})")


class BatchScorer:
    """A second llama.cpp context on the service's model, for pointwise scoring."""

    def __init__(self, lib: Any, model: Any, *, n_ctx: int, n_threads: int, n_vocab: int) -> None:
        self._lib = lib
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = BATCH_TOKENS
        params.n_ubatch = BATCH_TOKENS
        params.n_seq_max = MAX_SEQUENCES
        params.kv_unified = True
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        # as the service's own context: flash attention off (on the CPU it accumulates in
        # half precision, and moved margins by up to 0.4 between batch sizes)
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        self._ctx = lib.llama_init_from_model(model, params)
        if not self._ctx:
            raise ModelFileError("llama.cpp could not create the scoring context")
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(BATCH_TOKENS, 0, MAX_SEQUENCES)
        self._n_ctx = n_ctx
        self._n_vocab = n_vocab
        self._adapter: Any = None

    @property
    def adapter(self) -> Any:
        return self._adapter

    def set_adapter(self, handle: Any) -> None:
        """Apply ``handle`` (None: the base model alone) to the scores that follow (each
        request starts from an empty cache, so nothing computed with another adapter stays)."""
        if handle is not self._adapter:
            set_lora(self._lib, self._ctx, handle)
            self._adapter = handle

    def score(self, head: list[int], bodies: Sequence[list[int]], yes: int, no: int,
              deadline: float | None) -> Scored:  # fmt: skip
        """The " Yes" minus " No" margin after ``head + body`` for each body, in order; those
        scored before ``deadline`` (time.monotonic()) when it passes. ``tokens`` counts the
        prompt's tokens evaluated (the prefix once, and the scored suffixes)."""
        room = min(BATCH_TOKENS, self._n_ctx) - len(head)
        if room < max((len(b) for b in bodies), default=0):
            raise FamtuneError("the scoring prompt does not fit the context")
        margins: list[float] = []
        tokens = 0
        self._clear()
        for number, group in enumerate(groups(bodies, max_tokens=room)):
            if deadline is not None and time.monotonic() >= deadline:
                return Scored(margins, True, tokens)
            # The first call evaluates the prefix too, as part of every sequence of the group;
            # later groups share it from sequence 0.
            shared = head if number == 0 else []
            margins += self._decode_group(shared, len(head), [bodies[i] for i in group], yes, no)
            tokens += len(shared) + sum(len(bodies[i]) for i in group)
        return Scored(margins, False, tokens)

    def close(self) -> None:
        if self._ctx:
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
            self._ctx = None

    # -- internals ------------------------------------------------------------------------

    def _clear(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)

    def _decode_group(self, shared: list[int], start: int, bodies: list[list[int]], yes: int,
                      no: int) -> list[float]:  # fmt: skip
        lib = self._lib
        sequences = list(range(1, len(bodies) + 1))
        rows: list[tuple[int, int, list[int], bool]] = [
            (token, pos, [0, *sequences], False) for pos, token in enumerate(shared)
        ]
        if not shared:
            for seq in sequences:
                lib.llama_memory_seq_cp(self._memory, 0, seq, -1, -1)
        outputs: list[int] = []
        for seq, body in zip(sequences, bodies, strict=True):
            for k, token in enumerate(body):
                rows.append((token, start + k, [seq], k == len(body) - 1))
            outputs.append(len(rows) - 1)
        try:
            self._decode(rows)
            margins = []
            for index in outputs:
                pointer = lib.llama_get_logits_ith(self._ctx, index)
                logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
                margins.append(float(logits[yes]) - float(logits[no]))
            return margins
        finally:
            for seq in sequences:
                lib.llama_memory_seq_rm(self._memory, seq, -1, -1)

    def _decode(self, rows: list[tuple[int, int, list[int], bool]]) -> None:
        batch = self._batch
        for k, (token, pos, seqs, wanted) in enumerate(rows):
            batch.token[k] = token
            batch.pos[k] = pos
            batch.n_seq_id[k] = len(seqs)
            for j, seq in enumerate(seqs):
                batch.seq_id[k][j] = seq
            batch.logits[k] = wanted
        batch.n_tokens = len(rows)
        code = self._lib.llama_decode(self._ctx, batch)
        if code != 0:
            self._clear()
            raise FamtuneError(f"llama.cpp could not evaluate the candidates (code {code})")
