"""One llama.cpp model, loaded once, serving JSON-constrained generations with per-request
LoRA adapters.

* The base GGUF is checked in pure Python first (:func:`engine.basemodel.verify_gguf`, then
  :func:`check_base_model`), and so is every adapter
  (:func:`engine.inference.lora_gguf.verify_lora_gguf`, and its sha256 against the one its
  version's manifest recorded, when the caller passes it): a truncated, corrupt or
  mismatched file raises :class:`ModelFileError` before llama.cpp sees it.
* The GGUF's chat templates are never rendered: prompts are built by famtune and completed
  as plain text (``create_chat_completion`` is never called). llama-cpp-python still
  compiles every ``tokenizer.chat_template*`` string (sandboxed Jinja) when the model loads,
  so :func:`check_base_model` bounds their size and compiles them first, under its control.
* Adapters are loaded with ``llama_adapter_lora_init`` into an LRU cache keyed by
  ``(path, sha256)``, switched on the context with ``llama_set_adapters_lora`` (``n = 0``
  clears) and released with ``llama_adapter_lora_free``. The base is never reloaded.
* Output follows a JSON schema through a llama.cpp grammar sampler, used the way llama.cpp's
  own sampler does: the model's choice is checked against the grammar alone, then the top
  candidates, and only if all of those are rejected is the grammar run over the whole
  262k-token vocabulary. With greedy decoding the result is identical to full filtering.
* Prompts are evaluated in fixed chunks aligned to position 0, and the KV cache is reused
  only for whole chunks of the previous prompt with the same adapter. Every position is
  therefore computed the same way whatever came before: the same inputs give the same output.
* One generation at a time per context: a lock; callers queue on it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.basemodel import GGUFSummary
from engine.errors import FamtuneError, ModelFileError, ValidationFailed
from engine.fileio import file_sha256
from engine.inference.lora_gguf import verify_lora_gguf

log = logging.getLogger(__name__)

PROMPT_CHUNK = 32
"""Prompt tokens are evaluated in batches aligned to multiples of this; cache reuse too."""
GRAMMAR_TOP_K = 64
"""Candidates tried against the grammar before the whole vocabulary is."""
SAMPLING_TOP_K = 40
GRAMMAR_CACHE_SIZE = 16
SUPPORTED_ARCHITECTURES = ("gemma3",)
"""Base model architectures famtune trains and serves (the prompts and the LoRA mapping)."""
MAX_CHAT_TEMPLATE_BYTES = 64 << 10
"""All ``tokenizer.chat_template*`` strings together (a real template is a few KiB; a
megabyte of Jinja takes llama-cpp-python about 8 s to compile here)."""
# (required, upper bound) of the integer hyperparameters ``<arch>.<name>``.
_HPARAMS: dict[str, tuple[bool, int]] = {
    "context_length": (True, 1 << 20),
    "embedding_length": (True, 1 << 16),
    "block_count": (True, 1024),
    "feed_forward_length": (True, 1 << 18),
    "attention.head_count": (True, 1024),
    "attention.head_count_kv": (False, 1024),
    "attention.key_length": (False, 1 << 14),
    "attention.value_length": (False, 1 << 14),
    "attention.sliding_window": (False, 1 << 20),
}
_SPECIAL_TOKENS = ("bos", "eos", "unknown", "padding", "seperator", "mask")
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")

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
class GenerationResult:
    """One generation. ``seconds`` is wall time from the call (queue wait included);
    ``tokens_per_s`` is ``tokens / (seconds - queued_s)`` (prompt evaluation included)."""

    text: str
    parsed: Any | None
    tokens: int
    seconds: float
    tokens_per_s: float
    adapter: Path | None
    stopped_by_deadline: bool
    finish_reason: str  # "stop" (JSON complete / end of text), "length", "deadline", "error"
    prompt_tokens: int
    reused_tokens: int
    queued_s: float
    prompt_s: float


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


@dataclass
class _Grammar:
    llama_grammar: Any  # llama_cpp.LlamaGrammar (for raw_generate)
    sampler: Any  # a llama.cpp grammar sampler, reset per request


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
        from engine.basemodel import verify_gguf

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
        check_base_model(summary)
        self.architecture = summary.architecture
        self.base_sha256 = summary.sha256  # None unless expected_sha256 was given
        self._base_tensors = {t.name: t.shape for t in summary.tensors}
        self._lock = threading.Lock()
        self._adapters: OrderedDict[tuple[str, str], _Adapter] = OrderedDict()
        self._active: _Adapter | None = None
        self._grammars: OrderedDict[str, _Grammar] = OrderedDict()
        self._sha_cache: dict[tuple[str, int, int, int], str] = {}
        self._reusable = 0
        self._closed = False
        self.base_loads = 0
        self.adapter_loads = 0
        # How often the model's own choice passed the grammar, a top candidate did, or the
        # whole vocabulary had to be filtered (the costly path, ~40 ms on 2 x86 cores).
        self.grammar_checks = {"first": 0, "top": 0, "vocabulary": 0}
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
        self._one = (lib.llama_token_data * 1)()
        self._one_arr = lib.llama_token_data_array(
            data=ctypes.cast(self._one, lib.llama_token_data_p), size=1, selected=-1, sorted=False
        )
        self._top = np.recarray(
            (GRAMMAR_TOP_K,),
            dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True),
        )
        self._top_arr = lib.llama_token_data_array(
            data=self._top.ctypes.data_as(lib.llama_token_data_p),
            size=GRAMMAR_TOP_K,
            selected=-1,
            sorted=False,
        )
        self._all: Any = None  # full-vocabulary candidates, allocated on first need

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

    def generate_json(
        self,
        prompt: str,
        schema: dict[str, Any],
        *,
        adapter: Path | None = None,
        adapter_sha256: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        deadline_s: float | None = None,
    ) -> GenerationResult:
        """Complete ``prompt`` with JSON that follows ``schema``.

        ``temperature`` 0 is greedy; above 0, top-k sampling seeded with the service's seed
        (the same inputs give the same output either way). ``deadline_s`` counts from this
        call, queue wait included; when it passes, generation stops and the result has
        ``stopped_by_deadline`` (and usually ``parsed`` None). With ``adapter_sha256`` the
        adapter file must have that sha256 (hashed once per path, size, mtime and inode)
        before anything else reads it. Raises ModelFileError for a bad adapter and
        ValidationFailed for a prompt that does not fit the context.
        """
        start = time.monotonic()
        deadline = None if deadline_s is None else start + deadline_s
        grammar_key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        with self._lock:
            queued = time.monotonic() - start
            self._check_open()
            lib = _lib()
            tokens = self._prompt_tokens(prompt, max_tokens)
            entry = self._select_adapter(adapter, adapter_sha256)
            grammar = self._grammar(grammar_key)
            lib.llama_sampler_reset(grammar.sampler)
            rng = np.random.default_rng(self.seed)
            t_prompt = time.monotonic()
            reused, complete = self._eval_prompt(tokens, deadline)
            prompt_s = time.monotonic() - t_prompt
            out: list[int] = []
            text = b""
            finish = "deadline" if not complete else "length"
            while complete and len(out) < max_tokens:
                if deadline is not None and time.monotonic() >= deadline:
                    finish = "deadline"
                    break
                token = self._pick(grammar.sampler, temperature, rng)
                if token is None:
                    finish = "error"
                    break
                if lib.llama_vocab_is_eog(self._vocab, token):
                    finish = "stop"
                    break
                lib.llama_sampler_accept(grammar.sampler, token)
                out.append(token)
                piece = bytes(self._llm.detokenize([token]))
                text += piece
                if _json_complete(text, piece):
                    finish = "stop"
                    break
                if len(out) < max_tokens:
                    self._llm.eval([token])
            result_text = bytes(self._llm.detokenize(out)).decode("utf-8", "replace")
            return self._result(
                result_text, len(out), start, queued, prompt_s, len(tokens), reused, entry, finish
            )

    def raw_generate(
        self,
        prompt: str,
        schema: dict[str, Any],
        *,
        adapter: Path | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> GenerationResult:
        """The same request through llama-cpp-python's own ``create_completion`` (its grammar
        filtering and KV-cache reuse), for benchmarks. Adapters are switched as above."""
        start = time.monotonic()
        grammar_key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        with self._lock:
            queued = time.monotonic() - start
            self._check_open()
            n_prompt = len(self._prompt_tokens(prompt, max_tokens))
            entry = self._select_adapter(adapter)
            grammar = self._grammar(grammar_key)
            self._reusable = 0  # llama-cpp-python evaluates the prompt its own way
            out = self._llm.create_completion(
                prompt,
                max_tokens=max_tokens,
                temperature=temperature,
                top_k=SAMPLING_TOP_K,
                top_p=1.0,
                min_p=0.0,
                repeat_penalty=1.0,
                seed=self.seed,
                grammar=grammar.llama_grammar,
            )
            choice = out["choices"][0]
            n_out = int(out["usage"]["completion_tokens"])
            finish = "stop" if choice.get("finish_reason") == "stop" else "length"
            return self._result(
                str(choice["text"]), n_out, start, queued, 0.0, n_prompt, 0, entry, finish
            )

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
        once and its KV cache shared: each suffix is evaluated after it and then removed
        from the cache. Only the two answer logits are read; nothing is decoded.
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
            self._select_adapter(adapter, adapter_sha256)
            _, done = self._eval_prompt(head, deadline)
            memory = _lib().llama_get_memory(self._llm.ctx)
            margins: list[float] = []
            tokens = len(head)
            for body in bodies if done else []:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                _lib().llama_memory_seq_rm(memory, -1, len(head), -1)
                self._llm.n_tokens = len(head)
                self._llm.eval(body)
                logits = self._logits()
                margins.append(float(logits[yes]) - float(logits[no]))
                tokens += len(body)
            _lib().llama_memory_seq_rm(memory, -1, len(head), -1)
            self._llm.n_tokens = len(head)
            self._reusable = min(self._reusable, len(head) // PROMPT_CHUNK * PROMPT_CHUNK)
            return ScoreResult(margins, len(margins) < len(suffixes), tokens,
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
        """Free adapters, grammars and the model. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._free_adapters()
            lib = _lib()
            for grammar in self._grammars.values():
                lib.llama_sampler_free(grammar.sampler)
            self._grammars.clear()
            self._llm.close()

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
        lib = _lib()
        if entry is None:
            code = lib.llama_set_adapters_lora(self._llm.ctx, None, 0, None)
        else:
            handles = (lib.llama_adapter_lora_p_ctypes * 1)(entry.handle)
            scales = (ctypes.c_float * 1)(1.0)
            code = lib.llama_set_adapters_lora(self._llm.ctx, handles, 1, scales)
        if code != 0:
            raise FamtuneError(f"llama.cpp could not switch adapters (code {code})")
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

    def _free(self, key: tuple[str, str]) -> None:
        entry = self._adapters.pop(key)
        if entry is self._active:
            self._apply(None)
        _lib().llama_adapter_lora_free(entry.handle)

    def _free_adapters(self) -> int:
        count = len(self._adapters)
        if self._active is not None:
            self._apply(None)
        for key in list(self._adapters):
            self._free(key)
        return count

    # -- prompt, cache, grammar -----------------------------------------------------------

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

    def _grammar(self, key: str) -> _Grammar:
        grammar = self._grammars.get(key)
        if grammar is not None:
            self._grammars.move_to_end(key)
            return grammar
        lib = _lib()
        try:
            llama_grammar = lib.LlamaGrammar.from_json_schema(key, verbose=False)
        except Exception as exc:
            raise ValidationFailed("schema", f"cannot be turned into a grammar: {exc}") from exc
        sampler = lib.llama_sampler_init_grammar(
            self._vocab, llama_grammar._grammar.encode("utf-8"), b"root"
        )
        if not sampler:
            raise ValidationFailed("schema", "llama.cpp rejected the grammar made from it")
        grammar = _Grammar(llama_grammar=llama_grammar, sampler=sampler)
        self._grammars[key] = grammar
        while len(self._grammars) > GRAMMAR_CACHE_SIZE:
            _, old = self._grammars.popitem(last=False)
            lib.llama_sampler_free(old.sampler)
        return grammar

    # -- sampling -----------------------------------------------------------------------

    def _logits(self) -> npt.NDArray[np.float32]:
        lib = _lib()
        pointer = lib.llama_get_logits_ith(self._llm.ctx, -1)
        logits: npt.NDArray[np.float32] = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        return logits

    def _allowed(self, sampler: Any, token: int, logit: float) -> bool:
        self._one[0].id = token
        self._one[0].logit = logit
        self._one[0].p = 0.0
        self._one_arr.size = 1
        self._one_arr.selected = -1
        self._one_arr.sorted = False
        _lib().llama_sampler_apply(sampler, ctypes.byref(self._one_arr))
        return math.isfinite(self._one[0].logit)

    def _filter_top(
        self, sampler: Any, logits: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.intc], npt.NDArray[np.float32]]:
        """(ids, logits) of the grammar-allowed tokens among the top candidates, else among
        the whole vocabulary (the costly path)."""
        lib = _lib()
        top = np.argpartition(logits, -GRAMMAR_TOP_K)[-GRAMMAR_TOP_K:]
        self._top.id[:] = top
        self._top.logit[:] = logits[top]
        self._top.p[:] = 0.0
        self._top_arr.size = GRAMMAR_TOP_K
        self._top_arr.selected = -1
        self._top_arr.sorted = False
        lib.llama_sampler_apply(sampler, ctypes.byref(self._top_arr))
        keep = np.isfinite(self._top.logit)
        if keep.any():
            self.grammar_checks["top"] += 1
            return self._top.id[keep].copy(), self._top.logit[keep].copy()
        self.grammar_checks["vocabulary"] += 1
        if self._all is None:
            self._all = lib._internals.LlamaTokenDataArray(n_vocab=self._n_vocab)
        self._all.copy_logits(logits)
        lib.llama_sampler_apply(sampler, ctypes.byref(self._all.candidates))
        data = self._all.candidates_data
        keep = np.isfinite(data.logit)
        return data.id[keep].copy(), data.logit[keep].copy()

    def _pick(self, sampler: Any, temperature: float, rng: np.random.Generator) -> int | None:
        logits = self._logits()
        if temperature <= 0.0:
            best = int(np.argmax(logits))
            if self._allowed(sampler, best, float(logits[best])):
                self.grammar_checks["first"] += 1
                return best
            ids, values = self._filter_top(sampler, logits)
            return int(ids[int(np.argmax(values))]) if len(ids) else None
        top = np.argpartition(logits, -SAMPLING_TOP_K)[-SAMPLING_TOP_K:]
        top = top[np.argsort(-logits[top], kind="stable")]
        choice = int(top[_sample(logits[top], temperature, rng)])
        if self._allowed(sampler, choice, float(logits[choice])):
            self.grammar_checks["first"] += 1
            return choice
        ids, values = self._filter_top(sampler, logits)
        if not len(ids):
            return None
        order = np.argsort(-values, kind="stable")[:SAMPLING_TOP_K]
        return int(ids[order][_sample(values[order], temperature, rng)])

    def _result(
        self,
        text: str,
        n_out: int,
        start: float,
        queued: float,
        prompt_s: float,
        n_prompt: int,
        reused: int,
        entry: _Adapter | None,
        finish: str,
    ) -> GenerationResult:
        seconds = time.monotonic() - start
        parsed: Any | None = None
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        busy = max(seconds - queued, 1e-9)
        return GenerationResult(
            text=text,
            parsed=parsed,
            tokens=n_out,
            seconds=seconds,
            tokens_per_s=n_out / busy,
            adapter=None if entry is None else entry.path,
            stopped_by_deadline=finish == "deadline",
            finish_reason=finish,
            prompt_tokens=n_prompt,
            reused_tokens=reused,
            queued_s=queued,
            prompt_s=prompt_s,
        )


def _hash_file(path: Path) -> str:
    try:
        return file_sha256(path)
    except OSError as exc:
        raise ModelFileError(f"adapter file {path} cannot be read: {exc}") from exc


def check_base_model(summary: GGUFSummary) -> None:
    """Checks of a verified base GGUF's header against what llama.cpp needs, in Python.

    Found by fuzzing: llama.cpp 0.3.36 aborts the whole process (SIGABRT, not an exception)
    on a header that parses fine but declares ``block_count`` 0 or in the hundreds and up
    (1000, 2^20, 2^32-1), or a NaN or negative ``layer_norm_rms_epsilon``. So: a model (not
    an adapter) of
    an architecture famtune serves, plausible hyperparameters that agree with the tensors,
    special token ids inside the vocabulary, and chat templates that are small and compile
    (:func:`check_chat_templates`). Raises ModelFileError naming the problem.
    """
    what = f"base model file {summary.file_name}"
    meta = summary.metadata
    kind = meta.get("general.type", "model")
    if kind != "model":
        raise ModelFileError(f"{what} is not a model (general.type is {kind!r})")
    arch = summary.architecture
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelFileError(
            f"{what} is a {arch!r} model; famtune serves "
            f"{', '.join(repr(a) for a in SUPPORTED_ARCHITECTURES)} base models only"
        )
    values: dict[str, int] = {}
    for name, (required, limit) in _HPARAMS.items():
        key = f"{arch}.{name}"
        value = meta.get(key)
        if value is None:
            if required:
                raise ModelFileError(f"{what} has no {key}")
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ModelFileError(f"{what} has an implausible {key} ({value!r}; 1 to {limit})")
        values[name] = value
    for key, required in ((f"{arch}.attention.layer_norm_rms_epsilon", True),
                          (f"{arch}.rope.freq_base", False)):  # fmt: skip
        number = meta.get(key)
        if number is None and not required:
            continue
        if not isinstance(number, float) or not math.isfinite(number) or number <= 0:
            raise ModelFileError(f"{what} has an implausible {key} ({number!r})")
    heads = values["attention.head_count"]
    kv_heads = values.get("attention.head_count_kv", heads)
    if heads % kv_heads:
        raise ModelFileError(
            f"{what}: {heads} attention heads cannot share {kv_heads} key/value heads"
        )
    layers = {int(m.group(1)) for t in summary.tensors if (m := _LAYER_RE.match(t.name))}
    if layers != set(range(values["block_count"])):
        raise ModelFileError(
            f"{what} declares {values['block_count']} layers ({arch}.block_count) but holds "
            f"tensors for {len(layers)}"
        )
    vocab = summary.vocab_size
    if vocab is None:
        raise ModelFileError(f"{what} has no vocabulary (tokenizer.ggml.tokens)")
    embedding = next((t.shape for t in summary.tensors if t.name == "token_embd.weight"), None)
    if embedding != (values["embedding_length"], vocab):
        raise ModelFileError(
            f"{what}: the vocabulary ({vocab} tokens) does not match token_embd.weight "
            f"({list(embedding) if embedding else 'missing'})"
        )
    for special in _SPECIAL_TOKENS:
        key = f"tokenizer.ggml.{special}_token_id"
        token = meta.get(key)
        if token is not None and (
            not isinstance(token, int) or isinstance(token, bool) or not 0 <= token < vocab
        ):
            raise ModelFileError(f"{what} has {key} {token!r}, outside its {vocab} tokens")
    check_chat_templates(meta, what)


def check_chat_templates(metadata: dict[str, Any], what: str) -> None:
    """Bound and compile (never render) the ``tokenizer.chat_template*`` strings exactly as
    llama-cpp-python's ``Llama()`` will (a sandboxed Jinja environment); a template that is
    too large or does not compile is refused here, with its key named."""
    templates = {
        key: str(value)
        for key, value in metadata.items()
        if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.")
    }
    if not templates:
        return
    total = sum(len(text.encode("utf-8")) for text in templates.values())
    if total > MAX_CHAT_TEMPLATE_BYTES:
        raise ModelFileError(
            f"{what} carries {total} bytes of chat templates (limit {MAX_CHAT_TEMPLATE_BYTES}); "
            "famtune never uses them"
        )
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    for key, text in templates.items():
        try:
            Jinja2ChatFormatter(template=text, eos_token="", bos_token="")
        except Exception as exc:  # TemplateSyntaxError, RecursionError, ...
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise ModelFileError(f"{what} has a chat template ({key}) that does not compile: "
                                 f"{detail}") from None


def _sample(values: npt.NDArray[np.float32], temperature: float, rng: np.random.Generator) -> int:
    scaled = values.astype(np.float64) / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


def _json_complete(text: bytes, piece: bytes) -> bool:
    """True once ``text`` is a whole JSON object or array (checked when one may have closed)."""
    if not piece.rstrip().endswith((b"}", b"]")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
