"""The language-model head as a loss: cross-entropy over a 262,144-token vocabulary without
ever holding the logits.

Gemma 3's head is tied to the 262,144 x 640 embedding. The naive ``lm_head(hidden)`` in
bf16 materializes ``[tokens, vocab]`` logits (plus their float32 upcast in the loss) and,
since the weight is memory-mapped, faults the whole 335 MB matrix into the process.
:func:`chunked_lm_loss` instead takes only the hidden states of the positions that have a
target (the response tokens), walks the vocabulary in chunks of ``chunk_rows`` rows,
keeps a running logsumexp and the target logit, and recomputes each chunk in the backward
pass, so at most one ``[tokens, chunk_rows]`` block of logits exists at a time.

Where the weight comes from is a :class:`HeadWeights`: :class:`TensorHead` slices a tensor;
:class:`FileHead` reads each chunk with ``pread`` into one reusable buffer straight from the
``model.safetensors`` file, so the embedding's pages stay in the page cache and never count
toward the training process's resident set.

torch is imported inside the functions (the package rule); the autograd Function is built
on first use.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

DEFAULT_CHUNK_ROWS = 16_384


class HeadWeights(Protocol):
    """The rows of the output projection, handed out one chunk at a time."""

    rows: int
    dim: int

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first_row, weight[first_row:first_row + n])`` in order. A chunk may be a view
        of a buffer that the next chunk overwrites: use it before asking for the next."""
        ...


class TensorHead:
    """Chunks of an in-memory (or memory-mapped) ``[vocab, dim]`` tensor."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.rows, self.dim = int(weight.shape[0]), int(weight.shape[1])

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        for start in range(0, self.rows, chunk_rows):
            yield start, self.weight[start : start + chunk_rows]


_ST_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


class FileHead:
    """Chunks of one tensor of a safetensors file, read with ``pread`` into a reused buffer.

    The page cache keeps the file warm, so each read is a memory copy (about 0.1 s per pass
    over the 335 MB embedding here), and the process's RSS holds one chunk, not the matrix.
    """

    def __init__(self, path: Path, tensor_name: str) -> None:
        import torch

        self.path = Path(path)
        with self.path.open("rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            header: dict[str, Any] = json.loads(handle.read(header_len))
        info = header.get(tensor_name)
        if not isinstance(info, dict) or info.get("dtype") not in _ST_DTYPES:
            raise ValueError(f"{tensor_name!r} is not a float tensor in {self.path.name}")
        shape = [int(x) for x in info["shape"]]
        if len(shape) != 2:
            raise ValueError(f"{tensor_name!r} in {self.path.name} is not a matrix")
        self.rows, self.dim = shape
        self.dtype: torch.dtype = getattr(torch, _ST_DTYPES[info["dtype"]])
        self.row_bytes = self.dim * torch.empty((), dtype=self.dtype).element_size()
        begin, end = (int(x) for x in info["data_offsets"])
        if end - begin != self.rows * self.row_bytes:
            raise ValueError(f"{tensor_name!r} in {self.path.name} has the wrong byte count")
        self.offset = 8 + header_len + begin
        self._buffer: torch.Tensor | None = None

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        import torch

        if self._buffer is None or self._buffer.shape[0] < chunk_rows:
            self._buffer = torch.empty((chunk_rows, self.dim), dtype=self.dtype)
        raw = self._buffer.view(torch.uint8).numpy()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for start in range(0, self.rows, chunk_rows):
                n = min(chunk_rows, self.rows - start)
                want = n * self.row_bytes
                view = raw.data.cast("B")[:want]
                got = os.preadv(fd, [view], self.offset + start * self.row_bytes)
                if got != want:
                    raise OSError(f"short read from {self.path} at row {start}")
                yield start, self._buffer[:n]
        finally:
            os.close(fd)


@cache
def _loss_function() -> Any:
    import torch

    class ChunkedHeadLoss(torch.autograd.Function):
        """Per-token ``logsumexp(h W^T) - (h W^T)[target]``; gradient to ``h`` only."""

        @staticmethod
        def forward(
            ctx: Any,
            hidden: torch.Tensor,
            targets: torch.Tensor,
            head: HeadWeights,
            chunk_rows: int,
            softcap: float | None,
        ) -> torch.Tensor:
            n = hidden.shape[0]
            lse = torch.full((n,), -math.inf, dtype=torch.float32)
            target_logit = torch.zeros(n, dtype=torch.float32)
            with torch.no_grad():
                for start, weight in head.chunks(chunk_rows):
                    logits = _logits(hidden, weight, softcap)
                    lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
                    local = targets - start
                    inside = (local >= 0) & (local < weight.shape[0])
                    picked = logits.gather(1, local.clamp(0, weight.shape[0] - 1)[:, None])
                    target_logit += torch.where(inside, picked[:, 0], 0.0)
            ctx.save_for_backward(hidden, targets, lse)
            ctx.head, ctx.chunk_rows, ctx.softcap = head, chunk_rows, softcap
            return lse - target_logit

        @staticmethod
        def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
            hidden, targets, lse = ctx.saved_tensors
            softcap: float | None = ctx.softcap
            grad_hidden = torch.zeros(hidden.shape, dtype=torch.float32)
            rows_idx = torch.arange(hidden.shape[0])
            scale = grad_loss.float()[:, None]
            with torch.no_grad():
                for start, weight in ctx.head.chunks(ctx.chunk_rows):
                    raw = (hidden @ weight.T).float()
                    if softcap:
                        squashed = torch.tanh(raw / softcap)
                        logits = squashed * softcap
                    else:
                        logits = raw
                    grad = torch.exp(logits - lse[:, None])  # softmax of this chunk
                    local = targets - start
                    inside = (local >= 0) & (local < weight.shape[0])
                    grad[rows_idx[inside], local[inside]] -= 1.0
                    grad *= scale
                    if softcap:
                        grad *= 1.0 - squashed * squashed
                    grad_hidden += grad.to(weight.dtype) @ weight
            return grad_hidden.to(hidden.dtype), None, None, None, None

    return ChunkedHeadLoss


def _logits(hidden: torch.Tensor, weight: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """One chunk's logits in float32, computed in the weight's dtype like ``nn.Linear``."""
    import torch

    logits = (hidden @ weight.T).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def chunked_lm_loss(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: HeadWeights,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    softcap: float | None = None,
) -> torch.Tensor:
    """Per-token cross-entropy (float32, shape ``[N]``) of ``hidden`` ``[N, dim]`` against
    ``targets`` ``[N]``, as ``cross_entropy(lm_head(hidden).float(), targets)`` would give
    it, without the ``[N, vocab]`` logits. ``softcap`` is Gemma's final logit soft-capping
    (None for Gemma 3). Gradients flow to ``hidden`` only (the head is frozen)."""
    if hidden.ndim != 2 or targets.shape != hidden.shape[:1]:
        raise ValueError("hidden must be [N, dim] and targets [N]")
    if hidden.shape[1] != head.dim:
        raise ValueError(f"hidden has dim {hidden.shape[1]}, the head {head.dim}")
    result: torch.Tensor = _loss_function().apply(hidden, targets.long(), head, chunk_rows, softcap)
    return result


def head_chunk_rows(n_targets: int, dim: int, budget_bytes: int = 48 << 20) -> int:
    """Vocabulary rows per chunk so that one chunk's weights (bf16) and its float32 logits
    and temporaries fit in about ``budget_bytes``: between 8,192 and 65,536, a multiple of
    8,192. Bigger chunks mean fewer, larger matrix products (faster on a CPU)."""
    per_row = dim * 2 + 10 * max(n_targets, 1)
    rows = budget_bytes // per_row
    return int(min(65_536, max(8_192, rows // 8_192 * 8_192)))
