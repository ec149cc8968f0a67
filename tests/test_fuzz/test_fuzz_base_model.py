"""The real base model through llama.cpp, in a subprocess: hostile hyperparameters and
random bit flips never crash it, and the checker refuses the crashers (llama.cpp 0.3.36
aborted on ``block_count`` 0 or 1000 and up, a NaN or negative ``layer_norm_rms_epsilon``);
with its recorded sha256, any flipped base is refused before llama.cpp."""

from __future__ import annotations

import math
import random
import shutil
import struct
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import basemodel
from engine.base.errors import ModelFileError
from tests.test_fuzz.gguf import kv_layout, run_probe
from tests.test_fuzz.strategies import assert_plain_refusal, fuzz

BASE_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from engine.base.errors import ModelFileError
    from engine.inference.llama_service import LlamaService

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
            service = LlamaService(work, n_threads=1, n_ctx=64)
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
