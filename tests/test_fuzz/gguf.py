"""What the GGUF suites share: strategies for hand-made headers and for mutations of real
files, the checker every file goes through, and helpers for the real base model (the
header layout, added metadata, the subprocess probe for whatever reaches llama.cpp)."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from engine import basemodel
from engine.base.errors import ModelFileError
from engine.gguf.lora import TENSOR_SHA256_KEY, read_lora_gguf_info, verify_lora_gguf
from tests.test_fuzz.strategies import assert_plain_refusal
from tests.test_inference import BASE_NE

ROOT = Path(__file__).resolve().parents[2]

# -- hand-made headers ----------------------------------------------------------------------------

_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


_HUGE = st.sampled_from([2**31, 2**32 - 1, 2**40, 2**63, 2**64 - 1])


_KEYS = [
    "general.architecture", "general.type", "general.alignment", "general.name",
    "adapter.type", "adapter.lora.alpha", TENSOR_SHA256_KEY, "tokenizer.ggml.tokens",
    "tokenizer.chat_template", "gemma3.block_count", "gemma3.embedding_length",
    "gemma3.attention.layer_norm_rms_epsilon",
]  # fmt: skip


_TENSOR_NAMES = [
    "blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b", "blk.0.attn_k.weight.lora_a",
    "token_embd.weight", "blk.99.attn_q.weight.lora_a", "output_norm.weight",
]  # fmt: skip


@st.composite
def gguf_string(draw: st.DrawFn, text: bytes | None = None) -> bytes:
    if text is None:
        text = draw(
            st.sampled_from([b"gemma3", b"llama", b"adapter", b"lora", b"model", b""])
            | st.text(max_size=12).map(str.encode)
            | st.binary(max_size=12)
        )
    declared = draw(st.just(len(text)) | st.just(len(text)) | _HUGE | st.integers(0, 64))
    return struct.pack("<Q", declared) + text


@st.composite
def gguf_value(draw: st.DrawFn, vtype: int, depth: int = 0) -> bytes:
    if vtype in _SCALARS:
        if vtype == 6 and draw(st.booleans()):
            return struct.pack("<f", draw(st.floats(width=32)))
        return draw(st.binary(min_size=_SCALARS[vtype], max_size=_SCALARS[vtype]))
    if vtype == 8:
        return draw(gguf_string())
    if vtype == 9:
        item = draw(st.sampled_from([*_SCALARS, 8, 9, 13]))
        count = draw(st.integers(0, 4))
        declared = draw(st.just(count) | st.just(count) | _HUGE)
        if item == 9 and depth >= 4:
            count = 0
        items = b"".join(draw(gguf_value(item, depth + 1)) for _ in range(count)) if (
            item in _SCALARS or item in (8, 9)
        ) else draw(st.binary(max_size=8))
        return struct.pack("<IQ", item, declared) + items
    return draw(st.binary(max_size=16))


@st.composite
def gguf_files(draw: st.DrawFn) -> bytes:
    """A GGUF file that is often nearly right (so the deeper checks run too)."""
    kvs: list[bytes] = []

    def kv(key: str, vtype: int, value: bytes) -> bytes:
        return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + value

    if draw(st.integers(0, 3)):
        kvs.append(kv("general.architecture", 8, draw(gguf_string(b"gemma3"))))
    if draw(st.booleans()):
        kvs.append(kv("general.type", 8, draw(gguf_string(b"adapter"))))
        kvs.append(kv("adapter.type", 8, draw(gguf_string(b"lora"))))
        alpha = draw(st.floats(width=32) | st.just(16.0))
        kvs.append(kv("adapter.lora.alpha", 6, struct.pack("<f", alpha)))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(_KEYS).map(str.encode) | st.binary(max_size=10))
        vtype = draw(st.sampled_from([*_SCALARS, 8, 9]) | st.integers(0, 2**32 - 1))
        kvs.append(draw(gguf_string(key)) + struct.pack("<I", vtype) + draw(gguf_value(vtype)))
    kvs = draw(st.permutations(kvs))
    tensors: list[bytes] = []
    data_len = 0
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(_TENSOR_NAMES).map(str.encode) | st.binary(max_size=8))
        dims = draw(st.lists(st.sampled_from([1, 8, 32, 640]) | _HUGE | st.just(0),
                             min_size=1, max_size=3))  # fmt: skip
        n_dims = draw(st.just(len(dims)) | st.just(len(dims)) | st.sampled_from([0, 5, 2**31]))
        ggml_type = draw(st.sampled_from([0, 1, 8, 30, 12]) | st.integers(0, 2**32 - 1))
        offset = draw(st.just(data_len) | st.integers(0, 64).map(lambda k: 32 * k) | _HUGE)
        size = math.prod(dims) * 4 if max(dims) < 2**20 else 0
        data_len = max(data_len, offset + size if offset < 2**20 else data_len)
        data_len += (-data_len) % 32
        tensors.append(
            draw(gguf_string(name)) + struct.pack(f"<I{len(dims)}QIQ", n_dims, *dims, ggml_type,
                                                  offset)
        )  # fmt: skip
    version = draw(st.sampled_from([3, 3, 2, 1, 0x03000000]))
    n_tensors = draw(st.just(len(tensors)) | st.just(len(tensors)) | _HUGE)
    n_kvs = draw(st.just(len(kvs)) | st.just(len(kvs)) | _HUGE)
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kvs) + b"".join(kvs)
    head += b"".join(tensors)
    head += b"\0" * ((-len(head)) % 32)
    tail = draw(st.just(b"\0" * data_len) | st.binary(max_size=64))
    return head + tail


def check_gguf(path: Path) -> str:
    """Every checker over one file: ``ok`` or the ModelFileError's message. Anything else
    (a raw exception) fails the test."""
    from engine.gguf.checks import check_servable_model

    outcome = "ok"
    try:
        summary = basemodel.verify_gguf(path)
    except ModelFileError as exc:
        assert_plain_refusal(exc)
        return str(exc)
    try:
        check_servable_model(summary)
    except ModelFileError as exc:
        assert_plain_refusal(exc)
    try:
        read_lora_gguf_info(path)
        verify_lora_gguf(path, architecture="gemma3", base_tensors=BASE_NE)
    except ModelFileError as exc:
        assert_plain_refusal(exc)
        outcome = str(exc)
    return outcome


# -- real files, mutated --------------------------------------------------------------------------


@st.composite
def mutations(draw: st.DrawFn, raw: bytes) -> bytes:
    header_end = min(len(raw), 1024)
    kind = draw(st.sampled_from(["truncate", "flip", "flip", "u64", "insert", "delete"]))
    out = bytearray(raw)
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        for _ in range(draw(st.integers(1, 3))):
            end = header_end if draw(st.integers(0, 4)) else len(raw)
            out[draw(st.integers(0, end - 1))] ^= 1 << draw(st.integers(0, 7))
    elif kind == "u64":
        at = draw(st.integers(4, header_end - 8))
        out[at : at + 8] = struct.pack("<Q", draw(_HUGE | st.integers(0, 300)))
    elif kind == "insert":
        at = draw(st.integers(4, header_end))
        out[at:at] = draw(st.binary(min_size=1, max_size=9))
    else:
        at = draw(st.integers(4, header_end - 1))
        del out[at : at + draw(st.integers(1, 9))]
    return bytes(out)


# -- helpers for the real base model --------------------------------------------------------------


def kv_layout(header: bytes) -> tuple[dict[str, tuple[int, int, int]], int]:
    """``{key: (value type, value start, value end)}`` of a (valid, v3) GGUF header, and
    where the metadata ends (the first tensor info)."""
    (n_kv,) = struct.unpack_from("<Q", header, 16)
    pos, out = 24, {}
    for _ in range(n_kv):
        (length,) = struct.unpack_from("<Q", header, pos)
        key = header[pos + 8 : pos + 8 + length].decode()
        pos += 8 + length
        (vtype,) = struct.unpack_from("<I", header, pos)
        pos += 4
        start = pos
        if vtype in _SCALARS:
            pos += _SCALARS[vtype]
        elif vtype == 8:
            pos += 8 + struct.unpack_from("<Q", header, pos)[0]
        else:
            item, count = struct.unpack_from("<IQ", header, pos)
            pos += 12
            if item in _SCALARS:
                pos += count * _SCALARS[item]
            else:
                for _ in range(count):
                    pos += 8 + struct.unpack_from("<Q", header, pos)[0]
        out[key] = (vtype, start, pos)
    return out, pos


def string_kv(key: str, text: str, align: int = 32) -> bytes:
    """A string KV record padded with spaces to a multiple of ``align`` bytes, so it can be
    inserted into a header without moving the tensor data off its alignment."""
    raw_key, raw = key.encode(), text.encode()
    fixed = 8 + len(raw_key) + 4 + 8
    raw += b" " * ((-(fixed + len(raw))) % align)
    return struct.pack("<Q", len(raw_key)) + raw_key + struct.pack("<IQ", 8, len(raw)) + raw


def with_kvs(src: Path, dst: Path, records: list[bytes], *, sparse_data: bool = False) -> Path:
    """``src`` with ``records`` added at the start of its metadata. With ``sparse_data`` the
    tensor data is left as a hole of zeros (for files that must never get past the checker)."""
    summary = basemodel.verify_gguf(src)
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(24)
        (n_kv,) = struct.unpack_from("<Q", head, 16)
        fout.write(head[:16] + struct.pack("<Q", n_kv + len(records)) + b"".join(records))
        if sparse_data:
            fout.write(fin.read(summary.data_offset - 24))
            fout.truncate(fout.tell() + summary.size_bytes - summary.data_offset)
        else:
            shutil.copyfileobj(fin, fout, 8 << 20)
    return dst


def run_probe(script: str, cases: list[Any], *args: str, timeout: int = 300) -> dict[str, Any]:
    """Run ``script`` over ``cases`` in subprocesses; a case that kills its process is
    reported as ``CRASH`` and the rest go on in a new one. The script prints
    ``START <i>`` before case ``i`` and ``RESULT <json>`` after it."""
    results: dict[str, Any] = {}
    start = 0
    while start < len(cases):
        proc = subprocess.run(
            [sys.executable, "-c", script, json.dumps(cases), str(start), *args],
            capture_output=True, text=True, cwd=ROOT, timeout=timeout,
        )  # fmt: skip
        current = start
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                current = int(line.split()[1])
            elif line.startswith("RESULT "):
                label, outcome = json.loads(line[7:])
                results[label] = outcome
                current += 1
        if proc.returncode == 0:
            break
        if current >= len(cases):
            raise AssertionError(f"probe failed after its cases: {proc.stderr[-2000:]}")
        results[cases[current][0]] = f"CRASH (exit {proc.returncode}): {proc.stderr[-300:]}"
        start = current + 1
    return results
