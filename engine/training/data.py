"""Training data as token ids: tokenized once, in a short-lived subprocess, so the training
process never loads the 262,144-token tokenizer (about 300 MB resident).

An example is ``BOS + prompt + response + EOS``; the loss covers the response and the EOS.
:class:`TokenizedData` keeps all examples in three flat arrays and is saved as a small
``.npz``. :func:`epoch_order` fixes the data order from the seed, :func:`pack` joins the
examples of a micro-batch into one row (positions restart per example, so attention stays
within each example and no padding is computed), and :func:`fit_length` cuts an example to
a maximum length, dropping the oldest prompt tokens first.

Run as ``python -m engine.training.data --cache DIR --examples IN.json --out OUT.npz``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.base.child_env import child_env
from engine.base.errors import FamtuneError
from engine.base.fileio import atomic_file

TOKENS_FORMAT = 1
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TokenizedData:
    """Examples as ``ids[offsets[i]:offsets[i+1]]``; the first ``prompt_lens[i]`` ids of each
    (BOS included) are the prompt."""

    ids: npt.NDArray[np.int32]
    offsets: IntArray
    prompt_lens: npt.NDArray[np.int32]
    eos_id: int
    vocab_size: int

    def __post_init__(self) -> None:
        n = len(self.prompt_lens)
        if n == 0 or len(self.offsets) != n + 1 or int(self.offsets[-1]) != len(self.ids):
            raise FamtuneError("the tokenized training data is empty or inconsistent")
        lengths = np.diff(self.offsets)
        if (self.prompt_lens < 1).any() or (lengths <= self.prompt_lens).any():
            raise FamtuneError("every tokenized example needs a prompt and a response")
        if self.ids.min() < 0 or self.ids.max() >= self.vocab_size:
            raise FamtuneError("the tokenized training data has ids outside the vocabulary")

    def __len__(self) -> int:
        return len(self.prompt_lens)

    def example(self, index: int) -> tuple[npt.NDArray[np.int32], int]:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.ids[start:end], int(self.prompt_lens[index])

    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    def sha256(self) -> str:
        digest = hashlib.sha256(f"tokens-v{TOKENS_FORMAT}:{self.eos_id}:".encode())
        for array in (self.ids, self.offsets, self.prompt_lens):
            digest.update(np.ascontiguousarray(array, dtype="<i8").tobytes())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        """Written to a temporary file, fsynced and renamed into place."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            np.savez(
                handle,
                format=np.int64(TOKENS_FORMAT),
                ids=self.ids,
                offsets=self.offsets,
                prompt_lens=self.prompt_lens,
                eos_id=np.int64(self.eos_id),
                vocab_size=np.int64(self.vocab_size),
            )

    @classmethod
    def load(cls, path: Path) -> TokenizedData:
        try:
            with np.load(Path(path), allow_pickle=False) as npz:
                if int(npz["format"]) != TOKENS_FORMAT:
                    raise FamtuneError(f"{path} has an unknown token format")
                return cls(
                    ids=npz["ids"].astype(np.int32),
                    offsets=npz["offsets"].astype(np.int64),
                    prompt_lens=npz["prompt_lens"].astype(np.int32),
                    eos_id=int(npz["eos_id"]),
                    vocab_size=int(npz["vocab_size"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise FamtuneError(f"cannot read the tokenized training data {path}: {exc}") from exc


def from_token_lists(
    examples: Sequence[tuple[Sequence[int], Sequence[int]]], *, eos_id: int, vocab_size: int
) -> TokenizedData:
    """(prompt ids with BOS, response ids without EOS) pairs -> TokenizedData (EOS appended)."""
    rows = [list(p) + list(r) + [eos_id] for p, r in examples]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    return TokenizedData(
        ids=np.fromiter((t for r in rows for t in r), dtype=np.int32, count=int(offsets[-1])),
        offsets=offsets,
        prompt_lens=np.array([len(p) for p, _ in examples], dtype=np.int32),
        eos_id=eos_id,
        vocab_size=vocab_size,
    )


def examples_sha256(examples: Sequence[tuple[str, str]]) -> str:
    digest = hashlib.sha256(b"examples-v1\0")
    for prompt, response in examples:
        for text in (prompt, response):
            raw = text.encode("utf-8")
            digest.update(len(raw).to_bytes(8, "little") + raw)
    return digest.hexdigest()


def tokenize_examples(cache_dir: Path, examples: Sequence[tuple[str, str]]) -> TokenizedData:
    """Tokenize in this process (loads the tokenizer; the trainer uses the subprocess)."""
    from engine.basemodel.training_copy import load_training_tokenizer

    tokenizer = load_training_tokenizer(Path(cache_dir))
    eos = tokenizer.eos_token_id
    if not isinstance(eos, int):
        raise FamtuneError("the tokenizer has no end-of-sequence token")
    prompts = tokenizer([p for p, _ in examples], add_special_tokens=True)["input_ids"]
    responses = tokenizer([r for _, r in examples], add_special_tokens=False)["input_ids"]
    pairs = []
    for index, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        if not response:
            raise FamtuneError(f"training example {index} has an empty response")
        pairs.append((prompt, response))
    return from_token_lists(pairs, eos_id=eos, vocab_size=len(tokenizer))


def tokenize_in_subprocess(
    cache_dir: Path,
    examples: Sequence[tuple[str, str]],
    out_path: Path,
    *,
    cancel: threading.Event | None = None,
    timeout_s: float = 600.0,
) -> TokenizedData | None:
    """Tokenize in ``python -m engine.training.data`` and load the result; None if cancelled."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    src = out_path.with_name(out_path.name + ".examples.json")
    src.write_text(json.dumps([[p, r] for p, r in examples]), encoding="utf-8")
    cmd = [
        sys.executable,
        "-m",
        "engine.training.data",
        "--cache",
        str(cache_dir),
        "--examples",
        str(src),
        "--out",
        str(out_path),
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env(), text=True
    )
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                return None
            if time.monotonic() > deadline:
                raise FamtuneError(f"tokenizing took longer than {timeout_s:.0f} s")
            time.sleep(0.1)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode != 0:
            tail = err.strip().splitlines()[-1:] or ["no output"]
            raise FamtuneError(f"tokenizing the training data failed: {tail[0]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(OSError):
            src.unlink()
    return TokenizedData.load(out_path)


def fit_length(
    ids: npt.NDArray[np.int32], prompt_len: int, max_len: int
) -> tuple[npt.NDArray[np.int32], int]:
    """Cut an example to ``max_len`` ids: keep BOS and the response, drop prompt tokens from
    the front; if the response alone is too long, keep BOS + one prompt token and cut the
    response's end."""
    if len(ids) <= max_len:
        return ids, prompt_len
    response = ids[prompt_len:]
    body = ids[1:prompt_len]
    keep = min(len(body), max(1 if len(body) else 0, max_len - 1 - len(response)))
    joined = np.concatenate([ids[:1], body[len(body) - keep :], response])[:max_len]
    return joined, 1 + keep


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return -(-n_examples // batch_size)


def epoch_order(n_examples: int, seed: int, epoch: int) -> IntArray:
    """The example order of one epoch, fixed by the seed (PCG64)."""
    rng = np.random.Generator(np.random.PCG64([seed, epoch]))
    return rng.permutation(n_examples).astype(np.int64)


def step_indices(n_examples: int, batch_size: int, seed: int, step: int) -> IntArray:
    """The examples of optimizer step ``step`` (0-based); an epoch's last batch may be short."""
    per_epoch = steps_per_epoch(n_examples, batch_size)
    epoch, within = divmod(step, per_epoch)
    order = epoch_order(n_examples, seed, epoch)
    return order[within * batch_size : (within + 1) * batch_size]


@dataclass(frozen=True)
class MicroBatch:
    """Examples joined into one row; ``targets[j]`` is predicted at position ``target_pos[j]``.
    The row may end in padding (after every example, so causal attention never sees it)."""

    ids: IntArray
    positions: IntArray
    target_pos: IntArray
    targets: IntArray
    n_tokens: int
    """Real (prompt + response) tokens, padding excluded."""


@dataclass(frozen=True)
class PaddedBatch:
    """Prompts right-padded into ``[rows, length]`` for the yes/no objective: ``last[r]`` is
    row r's last prompt position, ``labels[r]`` the index of its answer in the label rows."""

    ids: IntArray
    mask: IntArray
    last: IntArray
    labels: IntArray
    n_tokens: int


def answer_ids(data: TokenizedData) -> list[int]:
    """The distinct answer tokens (each example's first response token), sorted."""
    starts = data.offsets[:-1] + data.prompt_lens
    return sorted({int(t) for t in data.ids[starts]})


def pad_prompts(data: TokenizedData, indices: Sequence[int], max_len: int,
                label_ids: Sequence[int], *, pad_multiple: int = 1) -> PaddedBatch:  # fmt: skip
    """The prompts of ``indices`` (cut to ``max_len`` from the front, BOS kept) padded to one
    length (a multiple of ``pad_multiple``), with their answers as label indices."""
    position = {t: j for j, t in enumerate(label_ids)}
    prompts: list[npt.NDArray[np.int32]] = []
    labels: list[int] = []
    for index in indices:
        ids, prompt_len = data.example(int(index))
        answer = int(ids[prompt_len])
        prompt = ids[:prompt_len]
        if len(prompt) > max_len:
            prompt = np.concatenate([prompt[:1], prompt[len(prompt) - max_len + 1 :]])
        prompts.append(prompt)
        labels.append(position[answer])
    width = max(len(p) for p in prompts)
    width = -(-width // pad_multiple) * pad_multiple
    ids_out = np.full((len(prompts), width), data.eos_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for r, prompt in enumerate(prompts):
        ids_out[r, : len(prompt)] = prompt
        mask[r, : len(prompt)] = 1
    return PaddedBatch(ids_out, mask, np.array([len(p) - 1 for p in prompts], dtype=np.int64),
                       np.array(labels, dtype=np.int64), int(mask.sum()))  # fmt: skip


def pack(
    data: TokenizedData, indices: Sequence[int], max_len: int, *, pad_multiple: int = 1
) -> MicroBatch:
    """Join examples into one row (positions restart per example). With ``pad_multiple``
    the row is padded (EOS ids, no targets) to a multiple of it: a few distinct shapes
    instead of one per length, because oneDNN and PyTorch's CPU kernels cache per shape
    (measured: about 3 MB more resident for every new length, without bound)."""
    ids_parts, pos_parts, tpos_parts, tgt_parts = [], [], [], []
    start = 0
    for index in indices:
        ids, prompt_len = fit_length(*data.example(int(index)), max_len)
        n = len(ids)
        ids_parts.append(ids.astype(np.int64))
        pos_parts.append(np.arange(n, dtype=np.int64))
        tpos_parts.append(np.arange(start + prompt_len - 1, start + n - 1, dtype=np.int64))
        tgt_parts.append(ids[prompt_len:].astype(np.int64))
        start += n
    pad = -start % pad_multiple
    if pad:
        last = int(pos_parts[-1][-1])
        ids_parts.append(np.full(pad, data.eos_id, dtype=np.int64))
        pos_parts.append(np.arange(last + 1, last + 1 + pad, dtype=np.int64))
    return MicroBatch(
        ids=np.concatenate(ids_parts),
        positions=np.concatenate(pos_parts),
        target_pos=np.concatenate(tpos_parts),
        targets=np.concatenate(tgt_parts),
        n_tokens=start,
    )


def count_targets(data: TokenizedData, indices: Sequence[int], max_len: int) -> int:
    """Response tokens (the loss's denominator) of these examples at this maximum length."""
    total = 0
    for index in indices:
        ids, prompt_len = fit_length(*data.example(int(index)), max_len)
        total += len(ids) - prompt_len
    return total


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.training.data")
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument("--examples", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        raw = json.loads(args.examples.read_text(encoding="utf-8"))
        examples = [(str(p), str(r)) for p, r in raw]
        tokenize_examples(args.cache, examples).save(args.out)
    except (FamtuneError, OSError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())
