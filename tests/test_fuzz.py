"""Bad input, fuzzed (issue 7): the profile importer, the context parser, the catalog importer
and the GGUF / adapter loaders.

Every property is the same: the input is accepted, or it is refused with a ``FamtuneError``
whose message names the problem, never a raw ``struct.error``, ``RecursionError``,
``MemoryError`` or the like, and never a hang. From the command line a refusal is exit code 1,
one line on stderr and an unchanged database.

Hypothesis runs with a fixed budget and ``derandomize=True``, so every run (and CI) tries the
same examples. Model files that reach llama.cpp (native code that can abort the process) are
only ever loaded in a subprocess; a probe that dies names the case that killed it.

What the fuzzing found, and what guards against it now:

* llama.cpp 0.3.36 aborts the process (SIGABRT) on headers that parse fine: ``block_count``
  0 or 1000 and up, a NaN or negative ``layer_norm_rms_epsilon``.
  :func:`engine.gguf.checks.check_servable_model` refuses those, any architecture but
  ``gemma3``, and hyperparameters that disagree with the tensors, before llama.cpp sees them.
* JSON nested ~1000 deep (RecursionError) and numbers of 4300+ digits (ValueError) escaped
  ``load_json_text`` raw: ``famtune-engine`` printed "internal error" for such a profile,
  context or activity file. A context ``at`` of year 1 at +14:00 (or 9999 at -14:00) parsed,
  then raised OverflowError when serving converted it to local time. Both are refusals now.
* A GGUF's ``tokenizer.chat_template*`` strings are compiled by llama-cpp-python at load
  (sandboxed Jinja) but famtune never renders them: it builds its own prompts and never calls
  ``create_chat_completion``. A megabyte of template takes ~8 s to compile, so templates are
  bounded and compiled by the checker first; payload templates load and are never rendered.
* A header of nested arrays took ~1.3 us per array to walk (half a minute at the 256 MiB
  header limit); they are now capped.
* The serving path hands llama.cpp an adapter only once its sha256 matches the one its
  version's manifest recorded (tests/test_model_integrity.py), so metadata flips the
  adapter's own tensor digest cannot see (alpha, the digest's key name) are refused too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import basemodel
from engine.base.errors import FamtuneError, ModelFileError, ValidationFailed
from engine.base.paths import DataDir
from engine.domain.catalog import activities_of, parse_catalog_item
from engine.domain.home import Famtune
from engine.gguf.lora import (
    TENSOR_SHA256_KEY,
    read_lora_gguf_info,
    verify_lora_gguf,
    write_lora_gguf,
)
from engine.schema.context import parse_context
from engine.schema.profiles import load_json_text, parse_profile, parse_profile_text
from tests.conftest import DATA, CliRun
from tests.test_catalog import custom
from tests.test_inference import BASE_NE, N_LAYERS, lora_tensors

ROOT = Path(__file__).resolve().parent.parent


def fuzz(examples: int, deadline_ms: int | None = 2000) -> settings:
    """A fixed, reproducible budget."""
    return settings(
        max_examples=examples,
        deadline=deadline_ms,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# -- shared strategies ---------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "G", "PG-13", "2025-06-07T08:30:00", "25:99", "\x00", "ü" * 300])
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=15,
)

# Byte sequences that break JSON documents in the ways real files break.
SPLICES = [
    b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\\u", b"\\ud800", b"\x00", b"\xff\xfe",
    b"\xc3", b"NaN", b"-Infinity", b"1e999999", b"-0", b"9" * 5000, b"null", b"true",
    b"\xef\xbb\xbf", b"\n", b"/*", b"'",
]  # fmt: skip


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """A valid JSON document, broken one way or another."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "nest", "bignum", "random"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        out = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "splice":
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 8))
        return raw[:at] + draw(st.sampled_from(SPLICES)) + raw[at + cut :]
    if kind == "nest":
        depth = draw(st.sampled_from([50, 900, 1100, 5000, 100_000]))
        return b"[" * depth + raw + b"]" * depth
    if kind == "bignum":
        digits = draw(st.sampled_from([400, 4300, 4301, 20_000]))
        return raw.replace(b"8", b"8" + b"1" * digits, 1) if b"8" in raw else raw + b"1" * digits
    return draw(st.binary(max_size=300))


def replace_somewhere(doc: Any, data: st.DataObject) -> Any:
    """A deep copy of ``doc`` with one random leaf or subtree replaced by random JSON, or
    with a random key added to one of its objects."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        paths.append(prefix)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*prefix, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*prefix, index))

    walk(doc, ())
    out = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(paths))
    if not path:
        return data.draw(json_values)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict) and data.draw(st.booleans()):
        target[data.draw(st.text(max_size=12))] = data.draw(json_values)
    else:
        target[path[-1]] = data.draw(json_values)
    return out


def assert_plain_refusal(exc: FamtuneError) -> None:
    message = str(exc)
    assert message.strip(), "a refusal must say what is wrong"
    assert "Traceback" not in message


def db_state(home: Path) -> str:
    """A digest of every row in the data directory's database."""
    conn = sqlite3.connect(f"file:{home / 'famtune.db'}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def assert_cli_refused(code: int, out: str, err: str) -> None:
    assert code == 1, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("famtune-engine: error: "), err
    assert "internal error" not in err, err
    assert not out.strip(), out


# -- the profile importer ------------------------------------------------------------------------
# tests/test_profiles.py already replaces random subtrees of a decoded profile; this adds the
# bytes a file can hold and the command line.

SMITH_BYTES = (DATA / "smith-family.json").read_bytes()


@fuzz(300)
@given(raw=mutated_bytes(SMITH_BYTES))
def test_profile_text_is_parsed_or_refused_plainly(raw: bytes) -> None:
    try:
        profile = parse_profile_text(raw)
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
    else:
        assert parse_profile(profile.to_json()) == profile


@fuzz(100)
@given(raw=mutated_bytes(SMITH_BYTES))
def test_family_import_cli_refuses_bad_files_and_writes_nothing(
    cli: CliRun, home: Path, tmp_path: Path, raw: bytes
) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("family", "import", str(path))
    if code == 0:
        assert "imported" in out or "updated" in out
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before


# -- the context parser ------------------------------------------------------------------------

CONTEXT = {
    "timeOfDay": "morning",
    "dayOfWeek": "saturday",
    "currentActivity": "breakfast",
    "familyMembers": ["dad-john", "child-emma"],
    "environmentalFactors": ["home", "weekend", "Sick Day"],
    "at": "2026-11-28T09:00:00+01:00",
}


@pytest.fixture
def smith(engine_ctx: Famtune) -> Iterator[Any]:
    """The smith family in a fresh data directory, and a recommendation service over it."""
    from engine.domain import families
    from engine.recommend.service import RecommendationService

    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile_text(SMITH_BYTES))
    service = RecommendationService(engine_ctx)
    yield service
    service.close()


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.one_of(
    st.datetimes(timezones=st.none() | offsets).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-02-30",
                     "2026-11-28T24:00:00", "2026-11-28T09:00:00Z", "now", ""]),
)  # fmt: skip


@fuzz(200)
@given(data=st.data())
def test_any_context_is_served_or_refused_with_its_field(smith: Any, data: st.DataObject) -> None:
    """A context that parses can be served (general engine: no model is active); one that
    does not is refused naming ``context.<field>``."""
    doc = replace_somewhere(CONTEXT, data) if data.draw(st.booleans()) else dict(CONTEXT)
    if isinstance(doc, dict) and data.draw(st.booleans()):
        doc["at"] = data.draw(moments)
        if data.draw(st.booleans()):
            doc.pop("timeOfDay", None)
            doc.pop("dayOfWeek", None)
    try:
        ctx = parse_context(doc, path="context")
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
        assert exc.field.startswith("context") or not isinstance(doc, dict), exc
        return
    try:
        batch = smith.recommend("smith-family", ctx, n=3)
    except FamtuneError as exc:  # e.g. a member who is not in the family
        assert_plain_refusal(exc)
    else:
        assert batch.source == "general" and len(batch.recommendations) <= 3


@fuzz(80)
@given(raw=mutated_bytes(json.dumps(CONTEXT).encode()))
def test_recommend_cli_refuses_a_bad_context_file_and_writes_nothing(
    cli: CliRun, home: Path, tmp_path: Path, raw: bytes
) -> None:
    if not (home / ".smith-imported").exists():
        code, _, err = cli("family", "import", str(DATA / "smith-family.json"))
        assert code == 0, err
        (home / ".smith-imported").touch()
    path = tmp_path / "context.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("recommend", "--family", "smith-family", "--context", str(path), "--json")
    if code == 0:
        assert json.loads(out)["recommendations"]
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before


# -- the catalog importer ------------------------------------------------------------------------


@fuzz(300)
@given(data=st.data())
def test_any_activity_is_parsed_or_refused_with_its_field(data: st.DataObject) -> None:
    doc = replace_somewhere({"activities": [custom(), custom("quiet-reading-corner-x")]}, data)
    try:
        items = [
            parse_catalog_item(item, where=f"activities[{i}]")
            for i, item in enumerate(activities_of(doc))
        ]
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
        assert exc.field.startswith("activities") or not exc.field, exc
    else:
        for item in items:
            assert parse_catalog_item(item.to_json()) == item


@fuzz(80)
@given(data=st.data())
def test_catalog_add_cli_is_all_or_nothing_for_any_file(
    cli: CliRun, home: Path, tmp_path: Path, data: st.DataObject
) -> None:
    good = json.dumps([custom(), custom("quiet-reading-corner-x")]).encode()
    raw = (
        data.draw(mutated_bytes(good))
        if data.draw(st.booleans())
        else json.dumps(replace_somewhere(json.loads(good), data)).encode()
    )
    path = tmp_path / "activities.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("catalog", "add", str(path))
    if code == 0:
        assert out.startswith("added ")
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before


def test_json_bombs_are_refused_by_every_importer() -> None:
    """Deep nesting (RecursionError in json) and 4300+ digit numbers (ValueError in int())
    used to escape as raw exceptions: the CLI printed 'internal error'."""
    for raw in (b"[" * 100_000, b'{"familyId": ' + b"7" * 5000 + b"}"):
        for what in ("family profile", "context", "activity file"):
            with pytest.raises(ValidationFailed, match=f"{what} is not valid JSON"):
                load_json_text(raw, what)


# -- GGUF: hand-made headers ---------------------------------------------------------------------

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


@fuzz(500, deadline_ms=3000)
@given(raw=gguf_files())
def test_any_gguf_header_is_checked_or_refused_quickly(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(raw)
    started = time.perf_counter()
    check_gguf(path)
    assert time.perf_counter() - started < 2.0


def test_nested_array_bombs_are_refused_quickly(tmp_path: Path) -> None:
    """A million empty arrays inside one array (12 MB): it took 1.3 s to walk before the
    cap, ~30 s at the 256 MiB header limit."""
    n = 1 << 20
    value = struct.pack("<IQ", 9, n) + struct.pack("<IQ", 0, 0) * n
    path = tmp_path / "bomb.gguf"
    path.write_bytes(
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 8) + b"x.nested"
        + struct.pack("<I", 9) + value
    )  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match="nested arrays"):
        basemodel.verify_gguf(path)
    assert time.perf_counter() - started < 0.5


# -- GGUF: real files, mutated ---------------------------------------------------------------------


def _tiny_model(path: Path) -> None:
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "gemma3")
    writer.add_uint32("gemma3.block_count", 1)
    writer.add_float32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    writer.add_tensor("token_embd.weight", np.zeros((16, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("small-gguf")
    adapter = directory / "adapter.gguf"
    q_only = {k: v for k, v in lora_tensors(layers=range(1), rank=4).items() if ".q_proj." in k}
    write_lora_gguf(adapter, q_only, alpha=8.0, n_layers=N_LAYERS)
    model = directory / "model.gguf"
    _tiny_model(model)
    return {"adapter": adapter.read_bytes(), "model": model.read_bytes()}


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


@fuzz(300)
@given(data=st.data())
def test_mutated_adapters_are_refused_or_carry_intact_tensors(
    small_files: dict[str, bytes], tmp_path: Path, data: st.DataObject
) -> None:
    """Truncated, bit-flipped, spliced adapters: refused, or (a flip in metadata the tensor
    digest does not cover) accepted with tensors identical to the original."""
    original = small_files["adapter"]
    path = tmp_path / "adapter.gguf"
    path.write_bytes(original)
    reference = read_lora_gguf_info(path)
    path.write_bytes(data.draw(mutations(original)))
    if check_gguf(path) != "ok":
        return
    info = read_lora_gguf_info(path)
    if info["checksum_verified"]:
        assert info["tensor_sha256"] == reference["tensor_sha256"]
        assert info["shapes"] == reference["shapes"] and info["types"] == reference["types"]


@fuzz(150)
@given(data=st.data())
def test_mutated_models_are_refused_or_pass_every_check(
    small_files: dict[str, bytes], tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(data.draw(mutations(small_files["model"])))
    check_gguf(path)


# -- GGUF: helpers for the real base model -------------------------------------------------------


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


# -- GGUF: the base model through llama.cpp --------------------------------------------------------

BASE_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from engine.base.errors import ModelFileError
    from engine.inference.generation import JsonGenerator

    cases, start, work = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    for index in range(start, len(cases)):
        label, offset, patch = cases[index][0], cases[index][1], bytes.fromhex(cases[index][2])
        with work.open("r+b") as handle:
            handle.seek(offset)
            before = handle.read(len(patch))
            handle.seek(offset)
            handle.write(patch)
        print("START", index, flush=True)
        try:
            service = JsonGenerator(work, n_threads=1, n_ctx=64)
            service.next_token_logits("Hi")
            service.close()
            outcome = "loaded"
        except ModelFileError as exc:
            outcome = "refused: " + str(exc)
        with work.open("r+b") as handle:
            handle.seek(offset)
            handle.write(before)
        print("RESULT", json.dumps([label, outcome]), flush=True)
    """
)

LLAMA_CPP_REFUSED = "refused: llama.cpp could not load"


@pytest.fixture(scope="module")
def base_file(base_model_data: DataDir) -> Path:
    return basemodel.bundled_model_path(base_model_data)


@pytest.mark.slow
def test_hostile_base_headers_never_crash_and_the_checker_refuses_the_crashers(
    base_file: Path, tmp_path: Path
) -> None:
    """Hyperparameters, architecture, type and special tokens set to hostile values, and
    seeded random bit flips in the metadata and the tensor infos, loaded as a configured base
    model without a known sha256. Before :func:`check_servable_model`, ``block_count`` 0 / 2^32-1
    and a NaN or negative epsilon killed the process with SIGABRT inside llama.cpp."""
    work = tmp_path / "base.gguf"
    shutil.copyfile(base_file, work)
    summary = basemodel.verify_gguf(work)
    with work.open("rb") as handle:
        header = handle.read(summary.data_offset)
    layout, kv_end = kv_layout(header)

    def at(key: str) -> int:
        return layout[key][1]

    def string_at(key: str) -> int:
        return layout[key][1] + 8

    def u32(value: int) -> str:
        return struct.pack("<I", value).hex()

    def f32(value: float) -> str:
        return struct.pack("<f", value).hex()

    must_refuse: list[list[Any]] = [
        ["arch-gemma2", string_at("general.architecture"), b"gemma2".hex()],
        ["arch-falcon", string_at("general.architecture"), b"falcon".hex()],
        ["type-vocab", string_at("general.type"), b"vocab".hex()],
        ["eps-nan", at("gemma3.attention.layer_norm_rms_epsilon"), f32(math.nan)],
        ["eps-negative", at("gemma3.attention.layer_norm_rms_epsilon"), f32(-1.0)],
        ["eps-zero", at("gemma3.attention.layer_norm_rms_epsilon"), f32(0.0)],
        ["rope-nan", at("gemma3.rope.freq_base"), f32(math.nan)],
        ["bos-out-of-vocab", at("tokenizer.ggml.bos_token_id"), u32(2**32 - 1)],
        ["eos-out-of-vocab", at("tokenizer.ggml.eos_token_id"), u32(262_144)],
    ]
    for name in ("block_count", "context_length", "embedding_length", "feed_forward_length",
                 "attention.head_count", "attention.head_count_kv", "attention.key_length",
                 "attention.value_length", "attention.sliding_window"):  # fmt: skip
        for value in (0, 2**32 - 1):
            must_refuse.append([f"{name}={value}", at(f"gemma3.{name}"), u32(value)])
    must_refuse += [
        ["block_count=1", at("gemma3.block_count"), u32(1)],
        ["block_count=19", at("gemma3.block_count"), u32(19)],
        ["head_count_kv=3", at("gemma3.attention.head_count_kv"), u32(3)],
    ]
    harmless = [
        ["file_type=2^32-1", at("general.file_type"), u32(2**32 - 1)],
        ["quantization_version=0", at("general.quantization_version"), u32(0)],
        ["rope-freq-base=1e4", at("gemma3.rope.freq_base"), f32(1e4)],
    ]
    rng = random.Random(7)
    flips = []
    for region, (low, high) in {"meta": (24, at("tokenizer.ggml.tokens")),
                                "tensors": (kv_end, len(header))}.items():  # fmt: skip
        for index in range(8):
            offset = rng.randrange(low, high)
            flipped = header[offset] ^ (1 << rng.randrange(8))
            flips.append([f"flip-{region}-{index}@{offset}", offset, bytes([flipped]).hex()])
    results = run_probe(BASE_PROBE, must_refuse + harmless + flips, str(work))

    assert not [label for label, outcome in results.items() if outcome.startswith("CRASH")], (
        results
    )
    assert len(results) == len(must_refuse) + len(harmless) + len(flips)
    for label in (str(case[0]) for case in must_refuse):
        assert results[label].startswith("refused: base model file"), (label, results[label])
        assert not results[label].startswith(LLAMA_CPP_REFUSED), (label, results[label])
    for label in (str(case[0]) for case in harmless):
        assert results[label] == "loaded", (label, results[label])
    for label in (str(case[0]) for case in flips):
        assert results[label] == "loaded" or results[label].startswith("refused: "), label


@fuzz(6, deadline_ms=None)
@given(data=st.data())
def test_with_its_sha256_any_flipped_base_is_refused_before_llama_cpp(
    base_file: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The serving path passes the recorded sha256: a bit flipped anywhere (header or tensor
    data) is refused in Python, so llama.cpp (stubbed out here) is never reached."""
    from engine.inference import llama_service

    def no_llama_cpp() -> Any:
        raise AssertionError("llama.cpp was reached")

    monkeypatch.setattr(llama_service, "_lib", no_llama_cpp)
    work = tmp_path_factory.getbasetemp() / "flipped-base.gguf"
    if not work.exists():
        shutil.copyfile(base_file, work)
    expected = basemodel.sha256_file(base_file)
    size = work.stat().st_size
    offset = data.draw(st.integers(0, 4096) | st.integers(0, size - 1))
    with work.open("r+b") as handle:
        handle.seek(offset)
        before = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([before[0] ^ (1 << data.draw(st.integers(0, 7)))]))
    try:
        with pytest.raises(ModelFileError) as caught:
            llama_service.LlamaService(work, n_threads=1, expected_sha256=expected)
        assert_plain_refusal(caught.value)
    finally:
        with work.open("r+b") as handle:
            handle.seek(offset)
            handle.write(before)


# -- chat templates with Jinja payloads -----------------------------------------------------------

TEMPLATE_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import jinja2.environment

    renders = []
    for name in ("render", "generate", "stream", "render_async", "generate_async"):
        original = getattr(jinja2.environment.Template, name, None)
        if original is not None:
            def spy(self, *args, _name=name, _original=original, **kwargs):
                renders.append(_name)
                return _original(self, *args, **kwargs)
            setattr(jinja2.environment.Template, name, spy)

    from engine.base.errors import ModelFileError
    from engine.inference.generation import JsonGenerator
    from engine.inference.prompts import recommendation_schema

    cases, start = json.loads(sys.argv[1]), int(sys.argv[2])
    setup = json.loads(sys.argv[3])
    for index in range(start, len(cases)):
        label, path = cases[index]
        print("START", index, flush=True)
        try:
            JsonGenerator(Path(path), n_threads=1, n_ctx=64).close()
            outcome = "loaded"
        except ModelFileError as exc:
            outcome = "refused: " + str(exc)
        print("RESULT", json.dumps([label, outcome]), flush=True)

    service = JsonGenerator(Path(setup["base"]), n_threads=1, n_ctx=256)
    compiled = sorted(service._llm._chat_handlers)
    adapter = Path(setup["adapter"])
    service.check_adapter(adapter)
    schema = recommendation_schema(["kite-flying", "board-games"], 1)
    answer = service.generate_json("Pick one activity.", schema, adapter=adapter, max_tokens=8)
    service.raw_generate("Pick one activity.", schema, max_tokens=4)
    service.tokenize("Hello")
    service.close()
    report = {"compiled": compiled, "renders": list(renders), "tokens": answer.tokens}

    # Were they ever rendered, llama-cpp-python's sandbox would stop the payloads.
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    for key, template in setup["sandboxed"].items():
        try:
            formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
            formatter(messages=[{"role": "user", "content": "hi"}])
            report["sandbox:" + key] = "rendered"
        except Exception as exc:
            report["sandbox:" + key] = type(exc).__name__
    print("RESULT", json.dumps(["report", report]), flush=True)
    """
)


def test_engine_never_renders_a_chat_template() -> None:
    """famtune builds its own prompts and completes them as plain text: nothing in the engine
    asks llama-cpp-python or transformers to render a model's chat template."""
    renderers = ("create_chat_completion(", "chat_handler=", "chat_format=",
                 "apply_chat_template(", "Jinja2ChatFormatter(", "from_string(", ".render(")
    found = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in (ROOT / "engine").rglob("*.py")
        for needle in renderers
        if needle in path.read_text(encoding="utf-8")
        and not (needle == "Jinja2ChatFormatter(" and path.name == "llama_service.py")
    ]
    assert found == []


@pytest.mark.slow
def test_jinja_payload_templates_are_never_rendered_and_bad_ones_are_refused(
    base_file: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "pwned"
    payloads = {
        "tokenizer.chat_template": "{{ cycler.__init__.__globals__.os.system('touch "
        + str(mark) + "') }}",
        "tokenizer.chat_template.mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "tokenizer.chat_template.range": "{% for i in range(10**12) %}{{ i }}{% endfor %}",
        "tokenizer.chat_template.hang": (
            "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"
        ),
    }
    records = [string_kv(key, text) for key, text in payloads.items()]
    payload_base = with_kvs(base_file, tmp_path / "payload-base.gguf", records)

    good_adapter = tmp_path / "adapter.gguf"
    write_lora_gguf(good_adapter, lora_tensors(layers=range(2), scale=0.01), alpha=16.0,
                    n_layers=N_LAYERS)  # fmt: skip
    payload_adapter = with_kvs(good_adapter, tmp_path / "payload-adapter.gguf", records)
    assert read_lora_gguf_info(payload_adapter)["checksum_verified"]

    refused = {
        "oversized": "{{ x }}" * 10_000,  # 70 KB; a megabyte compiles in ~8 s
        "syntax-error": "{% for %}",
        "deep-nesting": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",  # RecursionError
    }
    cases = [
        [label, str(with_kvs(base_file, tmp_path / f"{label}.gguf",
                             [string_kv("tokenizer.chat_template", text)], sparse_data=True))]
        for label, text in refused.items()
    ]  # fmt: skip
    setup = {
        "base": str(payload_base),
        "adapter": str(payload_adapter),
        "sandboxed": {k: v for k, v in payloads.items() if not k.endswith("hang")},
    }
    results = run_probe(TEMPLATE_PROBE, cases, json.dumps(setup))

    for label in refused:
        assert results[label].startswith("refused: base model file"), results[label]
        assert "chat template" in results[label], results[label]
    report = results["report"]
    assert report["compiled"] == [
        "chat_template.default", "chat_template.hang", "chat_template.mro",
        "chat_template.range",
    ]  # fmt: skip
    assert report["renders"] == []
    assert report["tokens"] >= 1
    assert report["sandbox:tokenizer.chat_template"] == "SecurityError"
    assert report["sandbox:tokenizer.chat_template.mro"] == "SecurityError"
    assert report["sandbox:tokenizer.chat_template.range"] == "OverflowError"
    assert not mark.exists()


# -- adapters whose metadata changed: harmless to llama.cpp, refused by the manifest --------------

ADAPTER_PROBE = textwrap.dedent(
    """
    import json, math, sys
    from pathlib import Path
    from engine.base.errors import ModelFileError
    from engine.inference.generation import JsonGenerator

    cases, start = json.loads(sys.argv[1]), int(sys.argv[2])
    base, expected = Path(sys.argv[3]), sys.argv[4]
    service = JsonGenerator(base, n_threads=1, n_ctx=64)
    for index in range(start, len(cases)):
        label, path = cases[index]
        print("START", index, flush=True)
        outcome = {}
        try:
            service.check_adapter(Path(path), expected_sha256=expected)
            outcome["manifest"] = "accepted"
        except ModelFileError as exc:
            outcome["manifest"] = str(exc)
        try:
            logits = service.next_token_logits("Hi", adapter=Path(path))
            outcome["plain"] = "finite" if all(map(math.isfinite, logits[:64])) else "not finite"
        except ModelFileError as exc:
            outcome["plain"] = "refused: " + str(exc)
        print("RESULT", json.dumps([label, outcome]), flush=True)
    service.close()
    """
)


@pytest.mark.slow
def test_every_single_bit_flip_in_an_adapter_header(base_file: Path, tmp_path: Path) -> None:
    """Every single-bit flip in the header of a small adapter (3,584 files). The Python checks
    refuse all but flips the tensor digest cannot see (alpha's value, the digest's own key
    name, padding, the version); those load harmlessly in llama.cpp (in a subprocess), and
    with the sha256 from the version's manifest, as serving passes it, every one is refused
    before llama.cpp sees it."""
    adapter = tmp_path / "adapter.gguf"
    q_only = {k: v for k, v in lora_tensors(layers=range(1), rank=4).items() if ".q_proj." in k}
    write_lora_gguf(adapter, q_only, alpha=8.0, n_layers=N_LAYERS)
    original = adapter.read_bytes()
    expected = hashlib.sha256(original).hexdigest()
    summary = basemodel.verify_gguf(adapter)
    work = tmp_path / "flipped.gguf"
    work.write_bytes(original)
    accepted: list[tuple[int, int]] = []
    started = time.perf_counter()
    with work.open("r+b") as handle:  # patched in place: rewriting the file costs 10x more
        for offset in range(summary.data_offset):
            for bit in range(8):
                handle.seek(offset)
                handle.write(bytes([original[offset] ^ (1 << bit)]))
                handle.flush()
                try:
                    verify_lora_gguf(work, architecture="gemma3", base_tensors=BASE_NE)
                    accepted.append((offset, bit))
                except ModelFileError as exc:
                    assert_plain_refusal(exc)
            handle.seek(offset)
            handle.write(original[offset : offset + 1])
    assert time.perf_counter() - started < 30

    layout, _ = kv_layout(original)
    spans = {key: (start - 12 - len(key), end) for key, (_, start, end) in layout.items()}
    padding = (summary.data_offset - 32, summary.data_offset)
    regions: dict[str, list[tuple[int, int]]] = {}
    for offset, bit in accepted:
        region = next(
            (key for key, (low, high) in spans.items() if low <= offset < high),
            "version" if offset == 4 else "padding" if padding[0] <= offset < padding[1] else "?",
        )
        regions.setdefault(region, []).append((offset, bit))
    # alpha's value; the digest's key name (the file then carries no digest: only the
    # manifest can tell); the alignment padding; GGUF version 3 -> 2 (same layout).
    assert set(regions) == {"adapter.lora.alpha", TENSOR_SHA256_KEY, "padding", "version"}
    cases: list[list[str]] = []
    for region, flips in sorted(regions.items()):
        for offset, bit in dict.fromkeys((flips[0], flips[-1])):
            flipped = bytearray(original)
            flipped[offset] ^= 1 << bit
            path = tmp_path / f"accepted-{len(cases)}.gguf"
            path.write_bytes(flipped)
            cases.append([f"{region}: byte {offset} bit {bit}", str(path)])
    results = run_probe(ADAPTER_PROBE, cases, str(base_file), expected)
    assert len(results) == len(cases)
    for label, outcome in results.items():
        assert isinstance(outcome, dict), (label, outcome)
        assert "does not match the sha256 recorded in its manifest" in outcome["manifest"]
        assert outcome["plain"] in ("finite", "not finite") or outcome["plain"].startswith(
            "refused: "
        ), (label, outcome)
