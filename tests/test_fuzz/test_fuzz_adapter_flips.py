"""Adapters whose metadata changed: every single-bit flip in an adapter's header is refused
by the Python checks or harmless to llama.cpp, and refused by the sha256 in its version's
manifest, which serving passes (tests/test_model_integrity.py)."""

from __future__ import annotations

import hashlib
import textwrap
import time
from pathlib import Path

import pytest

from engine import basemodel
from engine.base.errors import ModelFileError
from engine.gguf.lora import TENSOR_SHA256_KEY, verify_lora_gguf, write_lora_gguf
from tests.test_fuzz.gguf import kv_layout, run_probe
from tests.test_fuzz.strategies import assert_plain_refusal
from tests.test_inference import BASE_NE, N_LAYERS, lora_tensors

ADAPTER_PROBE = textwrap.dedent(
    """
    import json, math, sys
    from pathlib import Path
    from engine.base.errors import ModelFileError
    from engine.inference.llama_service import LlamaService

    cases, start = json.loads(sys.argv[1]), int(sys.argv[2])
    base, expected = Path(sys.argv[3]), sys.argv[4]
    service = LlamaService(base, n_threads=1, n_ctx=64)
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
