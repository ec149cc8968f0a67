"""One llama.cpp model, loaded once, scoring answers with per-request LoRA adapters.

* The base GGUF is checked in pure Python first (:func:`engine.gguf.reader.verify_gguf`, then
  :func:`engine.gguf.checks.check_servable_model`), and so is every adapter
  (:func:`engine.gguf.lora.verify_lora_gguf`, and its sha256 against the one its
  version's manifest recorded, when the caller passes it): a truncated, corrupt or
  mismatched file raises :class:`ModelFileError` before llama.cpp sees it.
* The GGUF's chat templates are never rendered: prompts are built by famtune and completed
  as plain text (``create_chat_completion`` is never called). llama-cpp-python still
  compiles every ``tokenizer.chat_template*`` string (sandboxed Jinja) when the model loads,
  so :func:`engine.gguf.checks.check_servable_model` bounds their size and compiles them
  first, under its control.
* Adapters are loaded with ``llama_adapter_lora_init`` into an LRU cache keyed by
  ``(path, sha256)``, switched on the context with ``llama_set_adapters_lora`` (``n = 0``
  clears) and released with ``llama_adapter_lora_free``. The base is never reloaded.
* :meth:`LlamaService.score_answers` reads two next-token logits per candidate after a shared
  prefix: what the family model serves. Generating JSON text (the first design, kept for the
  benchmarks and tests) is :class:`engine.inference.generation.JsonGenerator`.
* Prompts are evaluated in fixed chunks aligned to position 0, and the KV cache is reused
  only for whole chunks of the previous prompt with the same adapter. Every position is
  therefore computed the same way whatever came before: the same inputs give the same output.
* One generation at a time per context: a lock; callers queue on it.
"""

from __future__ import annotations

import ctypes
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.base.errors import FamtuneError, ModelFileError, ValidationFailed
from engine.base.fileio import file_sha256
from engine.gguf.checks import check_servable_model
from engine.gguf.lora import verify_lora_gguf
from engine.inference.batch_scorer import BatchScorer, set_lora

log = logging.getLogger(__name__)

PROMPT_CHUNK = 32
"""Prompt tokens are evaluated in batches aligned to multiples of this; cache reuse too."""

_llama_log_callback: Any = None


def _lib() -> Any:
    """The ``llama_cpp`` module, imported on first use (with its log routed to ``logging``)."""
    global _llama_log_callback
    import llama_cpp

    lib: Any = llama_cpp
    if _llama_log_callback is None:
        # ggml's levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation.
        @lib.llama_log_callback  # type: ignore[untyped-decorator]
        def _route(level: int, text: bytes, _user: Any) -> None:
            if level == 4:
                log.warning("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())
            elif log.isEnabledFor(logging.DEBUG):
                log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

        _llama_log_callback = _route
        lib.llama_log_set(_route, ctypes.c_void_p(0))
    return lib


@dataclass(frozen=True)
class ScoreResult:
    """:meth:`LlamaService.score_answers`: one margin per suffix scored before any deadline."""

    margins: list[float]
    stopped_by_deadline: bool
    tokens: int
    seconds: float


@dataclass
class _Adapter:
    path: Path
    sha256: str
    handle: Any
    info: dict[str, Any]


class LlamaService:
    """The base model in llama.cpp, loaded once; see the module docstring."""

    def __init__(
        self,
        base_path: Path,
        *,
        n_threads: int,
        n_ctx: int = 2048,
        seed: int = 0,
        adapter_cache_size: int = 4,
        expected_sha256: str | None = None,
    ) -> None:
        from engine.gguf.reader import verify_gguf

        if adapter_cache_size < 1:
            raise ValueError("adapter_cache_size must be at least 1")
        self.base_path = Path(base_path)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.seed = seed
        self.adapter_cache_size = adapter_cache_size
        summary = verify_gguf(
            self.base_path, expected_sha256=expected_sha256, what="base model file"
        )
        check_servable_model(summary)
        self.architecture = summary.architecture
        self.base_sha256 = summary.sha256  # None unless expected_sha256 was given
        self._base_tensors = {t.name: t.shape for t in summary.tensors}
        self._lock = threading.Lock()
        self._adapters: OrderedDict[tuple[str, str], _Adapter] = OrderedDict()
        self._active: _Adapter | None = None
        self._sha_cache: dict[tuple[str, int, int, int], str] = {}
        self._reusable = 0
        self._scorer: BatchScorer | None = None  # made on the first score_answers
        self._closed = False
        self.base_loads = 0
        self.adapter_loads = 0
        lib = _lib()
        try:
            self._llm: Any = lib.Llama(
                model_path=str(self.base_path),
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_ctx=n_ctx,
                seed=seed,
                use_mmap=True,
                logits_all=False,
                verbose=False,
            )
        except Exception as exc:
            raise ModelFileError(f"llama.cpp could not load {self.base_path.name}: {exc}") from exc
        self.base_loads += 1
        self._vocab = lib.llama_model_get_vocab(self._llm.model)
        self._n_vocab = int(self._llm.n_vocab())

    # -- public API ---------------------------------------------------------------------

    @property
    def model_handle(self) -> int:
        """Address of the llama.cpp model (changes only if the base were reloaded)."""
        return int(ctypes.cast(self._llm.model, ctypes.c_void_p).value or 0)

    @property
    def loaded_adapters(self) -> list[Path]:
        """Adapters in the cache, least recently used first."""
        return [entry.path for entry in self._adapters.values()]

    def check_adapter(self, path: Path, *, expected_sha256: str | None = None) -> None:
        """Verify an adapter file and load it into llama.cpp over this base (a load test):
        ModelFileError when it is corrupt, of another architecture, does not have
        ``expected_sha256`` or cannot be applied."""
        with self._lock:
            self._check_open()
            self._load_adapter(Path(path), expected_sha256)

    def tokenize(self, text: str) -> list[int]:
        """The prompt tokens (with BOS) this service evaluates for ``text``."""
        self._check_open()
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))

    def next_token_logits(self, prompt: str, *, adapter: Path | None = None) -> npt.NDArray[Any]:
        """A copy of the logits after ``prompt`` (for tests and scoring)."""
        with self._lock:
            self._check_open()
            tokens = self._prompt_tokens(prompt, 1)
            self._select_adapter(adapter)
            self._eval_prompt(tokens, None)
            logits: npt.NDArray[np.float32] = np.array(self._logits(), dtype=np.float32)
            return logits

    def continuation_logprob(
        self, prompt: str, continuation: str, *, adapter: Path | None = None
    ) -> tuple[float, int, float]:
        """(log-probability of ``continuation`` after ``prompt``, its token count, seconds
        spent decoding it). The continuation is fed one token at a time, exactly like
        generation without sampling: for scoring candidate answers (evaluation) and for
        measuring decode cost with and without an adapter."""
        with self._lock:
            self._check_open()
            cont = list(self._llm.tokenize(continuation.encode("utf-8"), add_bos=False))
            tokens = self._prompt_tokens(prompt, max(len(cont), 1))
            self._select_adapter(adapter)
            self._eval_prompt(tokens, None)
            total = 0.0
            start = time.monotonic()
            for index, token in enumerate(cont):
                logits = self._logits()
                top = float(logits.max())
                norm = math.log(float(np.exp(logits - top, dtype=np.float32).sum(dtype=np.float64)))
                total += float(logits[token]) - top - norm
                if index + 1 < len(cont):
                    self._llm.eval([token])
            return total, len(cont), time.monotonic() - start

    def score_answers(
        self,
        prefix: str,
        suffixes: list[str],
        answers: tuple[str, str],
        *,
        adapter: Path | None = None,
        adapter_sha256: str | None = None,
        deadline_s: float | None = None,
    ) -> ScoreResult:
        """For each ``prefix + suffix``, the next-token logit of ``answers[0]`` minus that of
        ``answers[1]`` (pointwise scoring: " Yes" versus " No"). The prefix is evaluated
        once and shared, and the suffixes are evaluated together in one batch of sequences
        (:mod:`engine.inference.batch_scorer`). Only the two answer logits are read;
        nothing is decoded.
        Raises ValidationFailed when an answer is not one token; ``stopped_by_deadline``
        with the scores done so far when the deadline passes."""
        with self._lock:
            self._check_open()
            start = time.monotonic()
            deadline = None if deadline_s is None else start + deadline_s
            ids = [self._llm.tokenize(a.encode("utf-8"), add_bos=False, special=False)
                   for a in answers]  # fmt: skip
            if any(len(t) != 1 for t in ids):
                raise ValidationFailed("answers", "each answer must be a single token")
            yes, no = int(ids[0][0]), int(ids[1][0])
            head = self._prompt_tokens(prefix, 1)
            bodies: list[list[int]] = []
            for suffix in suffixes:
                whole = self._prompt_tokens(prefix + suffix, 1)
                if whole[: len(head)] != head or len(whole) == len(head):
                    # The boundary merged into one token: score this one from the start.
                    raise ValidationFailed("prefix", "must end where a token ends")
                bodies.append(whole[len(head) :])
            entry = None if adapter is None else self._load_adapter(Path(adapter), adapter_sha256)
            scorer = self._batch_scorer()
            scorer.set_adapter(None if entry is None else entry.handle)
            scored = scorer.score(head, bodies, yes, no, deadline)
            return ScoreResult(scored.margins, scored.stopped_by_deadline, scored.tokens,
                               time.monotonic() - start)  # fmt: skip

    def clear_kv_cache(self) -> None:
        """Forget the cached prompt (the next request evaluates its whole prompt)."""
        with self._lock:
            self._check_open()
            self._invalidate_cache()

    def unload_idle_adapters(self) -> int:
        """Free every cached adapter (none is in use between requests). Returns how many."""
        with self._lock:
            return self._free_adapters()

    def close(self) -> None:
        """Free adapters and the model. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._free_adapters()
            self._release()
            if self._scorer is not None:
                self._scorer.close()
            self._llm.close()

    def _release(self) -> None:
        """Free what a subclass holds in llama.cpp, under the lock, before the model goes."""

    def __enter__(self) -> LlamaService:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- adapters -----------------------------------------------------------------------

    def _file_sha256(self, path: Path) -> str:
        try:
            st = path.stat()
        except OSError as exc:
            raise ModelFileError(f"adapter file {path} cannot be read: {exc}") from exc
        key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
        sha = self._sha_cache.get(key)
        if sha is None:
            sha = _hash_file(path)
            if len(self._sha_cache) > 64:
                self._sha_cache.clear()
            self._sha_cache[key] = sha
        return sha

    def _select_adapter(
        self, adapter: Path | None, expected_sha256: str | None = None
    ) -> _Adapter | None:
        entry = None if adapter is None else self._load_adapter(Path(adapter), expected_sha256)
        if entry is not self._active:
            self._apply(entry)
        return entry

    def _apply(self, entry: _Adapter | None) -> None:
        set_lora(_lib(), self._llm.ctx, None if entry is None else entry.handle)
        self._active = entry
        self._invalidate_cache()

    def _load_adapter(self, path: Path, expected_sha256: str | None = None) -> _Adapter:
        path = path.resolve()
        sha = self._file_sha256(path)
        if expected_sha256 is not None and sha != expected_sha256.strip().lower():
            raise ModelFileError(
                f"adapter file {path.name} does not match the sha256 recorded in its manifest "
                f"(expected {expected_sha256[:16]}..., found {sha[:16]}...); it is corrupt or "
                "was changed"
            )
        key = (str(path), sha)
        entry = self._adapters.get(key)
        if entry is not None:
            self._adapters.move_to_end(key)
            return entry
        info = verify_lora_gguf(
            path, architecture=self.architecture, base_tensors=self._base_tensors
        )
        if self._file_sha256(path) != sha:
            raise ModelFileError(f"adapter file {path.name} changed while it was being checked")
        handle = _lib().llama_adapter_lora_init(self._llm.model, str(path).encode("utf-8"))
        if not handle:
            raise ModelFileError(f"llama.cpp refused the adapter {path.name}")
        self.adapter_loads += 1
        for stale in [k for k in self._adapters if k[0] == key[0]]:  # older versions of it
            self._free(stale)
        entry = _Adapter(path=path, sha256=sha, handle=handle, info=info)
        self._adapters[key] = entry
        while len(self._adapters) > self.adapter_cache_size:
            self._free(next(iter(self._adapters)))
        return entry

    def _batch_scorer(self) -> BatchScorer:
        if self._scorer is None:
            self._scorer = BatchScorer(_lib(), self._llm.model, n_ctx=self.n_ctx,
                                       n_threads=self.n_threads, n_vocab=self._n_vocab)  # fmt: skip
        return self._scorer

    def _free(self, key: tuple[str, str]) -> None:
        entry = self._adapters.pop(key)
        if entry is self._active:
            self._apply(None)
        if self._scorer is not None and entry.handle is self._scorer.adapter:
            self._scorer.set_adapter(None)
        _lib().llama_adapter_lora_free(entry.handle)

    def _free_adapters(self) -> int:
        count = len(self._adapters)
        if self._active is not None:
            self._apply(None)
        for key in list(self._adapters):
            self._free(key)
        return count

    # -- prompt and cache -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise FamtuneError("the inference service is closed")

    def _prompt_tokens(self, prompt: str, max_tokens: int) -> list[int]:
        if max_tokens < 1:
            raise ValidationFailed("max_tokens", "must be at least 1")
        tokens = list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False))
        if len(tokens) + max_tokens > self.n_ctx:
            raise ValidationFailed(
                "prompt",
                f"{len(tokens)} prompt tokens + {max_tokens} to generate exceed the "
                f"context of {self.n_ctx} tokens",
            )
        return tokens

    def _invalidate_cache(self) -> None:
        lib = _lib()
        lib.llama_memory_clear(lib.llama_get_memory(self._llm.ctx), True)
        self._llm.n_tokens = 0
        self._reusable = 0

    def _eval_prompt(self, tokens: list[int], deadline: float | None) -> tuple[int, bool]:
        """Evaluate ``tokens`` chunk by chunk, reusing whole cached chunks.
        Returns (reused tokens, completed before the deadline)."""
        llm = self._llm
        cached = llm.input_ids[: min(self._reusable, llm.n_tokens)]
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        keep = min(common, len(tokens) - 1) // PROMPT_CHUNK * PROMPT_CHUNK
        lib = _lib()
        if keep > 0 and lib.llama_memory_seq_rm(lib.llama_get_memory(llm.ctx), -1, keep, -1):
            llm.n_tokens = keep
        else:
            keep = 0
            self._invalidate_cache()
        self._reusable = keep
        pos = keep
        while pos < len(tokens):
            if deadline is not None and time.monotonic() >= deadline:
                return keep, False
            end = min((pos // PROMPT_CHUNK + 1) * PROMPT_CHUNK, len(tokens))
            llm.eval(tokens[pos:end])
            pos = end
            self._reusable = pos // PROMPT_CHUNK * PROMPT_CHUNK
        return keep, True

    # -- logits -----------------------------------------------------------------------

    def _logits(self) -> npt.NDArray[np.float32]:
        lib = _lib()
        pointer = lib.llama_get_logits_ith(self._llm.ctx, -1)
        logits: npt.NDArray[np.float32] = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        return logits


def _hash_file(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise ModelFileError(f"adapter file {path} cannot be read: {exc}") from exc
