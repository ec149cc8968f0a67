"""What a verified GGUF must also hold before llama.cpp may load it as famtune's base model.

:func:`engine.gguf.reader.verify_gguf` proves the header is well formed; these checks prove
it is plausible, because llama.cpp aborts the whole process (SIGABRT, not an exception) on
some headers that parse fine (found by fuzzing, see :func:`check_servable_model`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from engine.base.errors import ModelFileError
from engine.gguf.reader import GGUFSummary

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


def check_servable_model(summary: GGUFSummary) -> None:
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
