"""JSON generation with llama.cpp: the family model's first design (it wrote its answer as
JSON; the ranker now scores candidates instead), kept for the benchmarks and their tests.

Output follows a JSON schema through a llama.cpp grammar sampler, used the way llama.cpp's
own sampler does: the model's choice is checked against the grammar alone, then the top
candidates, and only if all of those are rejected is the grammar run over the whole
262k-token vocabulary. With greedy decoding the result is identical to full filtering.
"""

from __future__ import annotations

import ctypes
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.base.errors import ValidationFailed
from engine.inference.llama_service import LlamaService, _Adapter, _lib

GRAMMAR_TOP_K = 64
"""Candidates tried against the grammar before the whole vocabulary is."""
SAMPLING_TOP_K = 40
GRAMMAR_CACHE_SIZE = 16


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


@dataclass
class _Grammar:
    llama_grammar: Any  # llama_cpp.LlamaGrammar (for raw_generate)
    sampler: Any  # a llama.cpp grammar sampler, reset per request


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


class JsonGenerator(LlamaService):
    """A :class:`LlamaService` that also completes prompts with schema-constrained JSON."""

    def __init__(self, base_path: Path, **kwargs: Any) -> None:
        super().__init__(base_path, **kwargs)
        self._grammars: OrderedDict[str, _Grammar] = OrderedDict()
        # How often the model's own choice passed the grammar, a top candidate did, or the
        # whole vocabulary had to be filtered (the costly path, ~40 ms on 2 x86 cores).
        self.grammar_checks = {"first": 0, "top": 0, "vocabulary": 0}
        lib = _lib()
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

    def _release(self) -> None:
        lib = _lib()
        for grammar in self._grammars.values():
            lib.llama_sampler_free(grammar.sampler)
        self._grammars.clear()

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
