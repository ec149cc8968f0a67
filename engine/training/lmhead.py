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
from collections.abc import Iterator, Sequence
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

    def rows_of(self, ids: Sequence[int]) -> torch.Tensor:
        """A copy of the rows ``ids``."""
        ...


class TensorHead:
    """Chunks of an in-memory (or memory-mapped) ``[vocab, dim]`` tensor."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.rows, self.dim = int(weight.shape[0]), int(weight.shape[1])

    def chunks(self, chunk_rows: int) -> Iterator[tuple[int, torch.Tensor]]:
        for start in range(0, self.rows, chunk_rows):
            yield start, self.weight[start : start + chunk_rows]

    def rows_of(self, ids: Sequence[int]) -> torch.Tensor:
        """A copy of the rows ``ids`` (the label-only head)."""
        return self.weight[list(ids)].detach().clone()


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

    def rows_of(self, ids: Sequence[int]) -> torch.Tensor:
        """The rows ``ids``, each read on its own (the label-only head: a few rows of 262k)."""
        import torch

        out = torch.empty((len(ids), self.dim), dtype=self.dtype)
        raw = out.view(torch.uint8).numpy()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for j, row in enumerate(ids):
                if not 0 <= int(row) < self.rows:
                    raise ValueError(f"row {row} is outside the head's {self.rows} rows")
                view = raw[j].data.cast("B")
                got = os.preadv(fd, [view], self.offset + int(row) * self.row_bytes)
                if got != self.row_bytes:
                    raise OSError(f"short read from {self.path} at row {row}")
        finally:
            os.close(fd)
        return out

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
        """Per-token ``logsumexp(z) - z[target]`` with ``z = h W^T``, in one pass over the
        vocabulary that also yields the gradient with respect to ``h``.

        Row i's gradient is ``softmax(z_i) W - W[target_i]``, linear in the upstream
        gradient, so it is accumulated during the forward pass with the online-softmax
        rescaling (running max ``m``, sum ``s``, ``G = sum exp(z - m) W``) and the backward
        pass only scales it: two matrix products per chunk instead of three (forward,
        recompute, gradient), and the head is read once instead of twice.
        """

        @staticmethod
        def forward(
            ctx: Any,
            hidden: torch.Tensor,
            targets: torch.Tensor,
            head: HeadWeights,
            chunk_rows: int,
            softcap: float | None,
        ) -> torch.Tensor:
            n, dim = hidden.shape
            need_grad = bool(ctx.needs_input_grad[0])
            f32, dev = torch.float32, hidden.device
            run_max = torch.full((n,), -math.inf, dtype=f32, device=dev)
            run_sum = torch.zeros(n, dtype=f32, device=dev)
            target_logit = torch.zeros(n, dtype=f32, device=dev)
            acc = torch.zeros((n, dim), dtype=f32, device=dev)
            target_row = torch.zeros((n, dim), dtype=f32, device=dev)
            with torch.no_grad():
                for start, weight in head.chunks(chunk_rows):
                    logits = (hidden.to(weight.dtype) @ weight.T).float()
                    squashed = None
                    if softcap:
                        squashed = torch.tanh(logits / softcap)
                        logits = squashed * softcap
                    new_max = torch.maximum(run_max, logits.amax(dim=1))
                    rescale = torch.exp(run_max - new_max)
                    weights = torch.exp(logits - new_max[:, None])
                    run_sum = run_sum * rescale + weights.sum(dim=1)
                    run_max = new_max
                    local = targets - start
                    rows = ((local >= 0) & (local < weight.shape[0])).nonzero()[:, 0]
                    target_logit[rows] = logits[rows, local[rows]]
                    if not need_grad:
                        continue
                    if squashed is not None:  # d(c tanh(x / c))/dx = 1 - tanh^2
                        weights *= 1.0 - squashed * squashed
                    acc.mul_(rescale[:, None]).add_((weights.to(weight.dtype) @ weight).float())
                    picked = weight[local[rows]].float()
                    if squashed is not None:
                        picked *= (1.0 - squashed[rows, local[rows]] ** 2)[:, None]
                    target_row[rows] = picked
            if need_grad:
                ctx.save_for_backward(acc / run_sum[:, None] - target_row)
            ctx.hidden_dtype = hidden.dtype
            return run_max + torch.log(run_sum) - target_logit

        @staticmethod
        def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[Any, ...]:
            (grad_rows,) = ctx.saved_tensors
            grad_hidden = grad_rows * grad_loss.float()[:, None]
            return grad_hidden.to(ctx.hidden_dtype), None, None, None, None

    return ChunkedHeadLoss


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
