"""The llama.cpp inference service, LoRA adapters as GGUF, and the recommendation prompt.

Tests marked ``slow`` use the real Gemma 3 270M base (one LlamaService for the module).
Loads of corrupt files that reach llama.cpp run in a subprocess, so that a crash would fail
one test instead of killing the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.base.errors import FamtuneError, ModelFileError
from engine.gguf.lora import (
    peft_name_to_gguf,
    read_lora_gguf_info,
    verify_lora_gguf,
    write_lora_gguf,
)
from engine.inference.prompts import (
    build_recommendation_prompt,
    build_training_example,
    recommendation_schema,
)

ROOT = Path(__file__).resolve().parent.parent
N_LAYERS = 18
# (in_features, out_features) of Gemma 3 270M's projections.
DIMS = {
    "q_proj": (640, 1024),
    "k_proj": (640, 256),
    "v_proj": (640, 256),
    "o_proj": (1024, 640),
    "gate_proj": (640, 2048),
    "up_proj": (640, 2048),
    "down_proj": (2048, 640),
}
GGUF_PROJ = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
BASE_NE = {
    f"blk.{layer}.{GGUF_PROJ[proj]}.weight": (i, o)
    for layer in range(N_LAYERS)
    for proj, (i, o) in DIMS.items()
}

CONTEXT = {
    "timeOfDay": "afternoon",
    "dayOfWeek": "saturday",
    "currentActivity": "lunch",
    "environmentalFactors": ["home", "rainy", "sick_day"],
    "familyMembers": ["dad-john", "child-emma"],
    "at": "2025-06-07T14:30:00+02:00",
}
AUDIENCE = [
    {"userId": "dad-john", "displayName": "John", "age": 42, "role": "parent",
     "preferences": {"interests": ["technology", "cooking"]}},
    {"userId": "child-emma", "displayName": "Emma", "age": 8, "role": "child",
     "preferences": {"interests": ["animals", "drawing"]}},
]  # fmt: skip
CANDIDATES: list[dict[str, Any]] = [
    {"id": "blanket-fort-hideaway", "title": "Blanket Fort Hideaway", "categories": ["creative"]},
    {"id": "balloon-volleyball", "title": "Balloon Volleyball", "categories": ["physical"]},
    {"id": "guess-the-animal-sound", "title": "Guess the Animal Sound", "categories": ["games"]},
    {"id": "finger-painting-mural", "title": "Finger Painting Mural", "categories": ["creative"]},
    {"id": "library-story-hour", "title": "Library Story Hour", "categories": ["reading"]},
    {"id": "kite-flying-at-the-park", "title": "Kite Flying", "categories": ["outdoor"]},
]  # fmt: skip
IDS: list[str] = [c["id"] for c in CANDIDATES]


def lora_tensors(
    *,
    rank: int = 8,
    scale: float = 0.02,
    zero_b: bool = False,
    seed: int = 0,
    layers: range = range(N_LAYERS),
    arch_prefix: str = "base_model.model.model.layers",
) -> dict[str, np.ndarray[Any, Any]]:
    """PEFT-named LoRA weights on all 7 projections (A [r, in], B [out, r])."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for layer in layers:
        for proj, (n_in, n_out) in DIMS.items():
            part = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            name = f"{arch_prefix}.{layer}.{part}.{proj}"
            tensors[f"{name}.lora_A.weight"] = rng.normal(0, scale, (rank, n_in))
            b = np.zeros((n_out, rank)) if zero_b else rng.normal(0, scale, (n_out, rank))
            tensors[f"{name}.lora_B.weight"] = b
    return tensors


def commit_random_adapter(
    ft: Any, family_id: str = "smith-family", *, seed: int = 0, activate: bool = True
) -> int:
    """Publish a small random LoRA adapter (2 layers, r=8) that llama.cpp applies, as a new
    version of the family's model through the real model store, with a ranker that blends
    the general engine's score and the adapter's yes/no logits (so serving reads them).
    Returns its version."""
    from engine.domain.modelstore import ModelStore
    from engine.gguf import ADAPTER_GGUF
    from engine.gguf.lora import write_lora_gguf
    from engine.ranker.blend import Blend
    from engine.ranker.family_ranker import RankerSpec
    from engine.ranker.learner import ContextualLearner

    spec = RankerSpec(ContextualLearner.empty(), Blend({"general": 1.0, "lora": 1.0}))

    store = ModelStore(ft)
    staged = store.staging_dir(family_id)
    tensors = lora_tensors(layers=range(2), scale=0.01, seed=seed)
    write_lora_gguf(staged / ADAPTER_GGUF, tensors, alpha=16.0, n_layers=18)
    info = store.commit(family_id, staged, {"ranker": spec.to_json()}, activate=activate,
                        status="active" if activate else "rejected", reason=None,
                        scores={"safetyScore": 1.0}, interactions_used=0)  # fmt: skip
    return info.version


def check_recommendations(parsed: Any, n: int) -> list[str]:
    """Validate against recommendation_schema(IDS, n) by hand (no jsonschema here)."""
    assert isinstance(parsed, dict) and set(parsed) == {"recommendations"}
    items = parsed["recommendations"]
    assert isinstance(items, list) and len(items) == n
    for item in items:
        assert set(item) == {"id", "reason"}
        assert item["id"] in IDS
        assert isinstance(item["reason"], str) and 1 <= len(item["reason"]) <= 120
    return [item["id"] for item in items]


# -- LoRA GGUF: names, writing, reading ----------------------------------------------------


def test_peft_names_map_for_all_seven_projections() -> None:
    for proj, gguf_proj in GGUF_PROJ.items():
        part = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
        for ab in ("A", "B"):
            name = f"base_model.model.model.layers.3.{part}.{proj}.lora_{ab}.weight"
            expected = f"blk.3.{gguf_proj}.weight.lora_{ab.lower()}"
            assert peft_name_to_gguf(name, "gemma3", N_LAYERS) == expected
    variants = [
        "model.layers.17.mlp.down_proj.lora_B.weight",
        "base_model.model.model.layers.17.mlp.down_proj.lora_B.default.weight",
        "base_model.model.model.language_model.layers.17.mlp.down_proj.lora_B.weight",
    ]
    for name in variants:
        assert peft_name_to_gguf(name, "gemma3", N_LAYERS) == "blk.17.ffn_down.weight.lora_b"
    bad = [
        "base_model.model.model.layers.18.self_attn.q_proj.lora_A.weight",  # no layer 18
        "base_model.model.model.embed_tokens.lora_embedding_A",
        "base_model.model.lm_head.lora_A.weight",
        "base_model.model.model.layers.3.self_attn.q_proj.weight",
    ]
    for name in bad:
        with pytest.raises(ValueError):
            peft_name_to_gguf(name, "gemma3", N_LAYERS)


def test_write_and_read_back_lora_gguf(tmp_path: Path) -> None:
    import gguf

    out = tmp_path / "adapters" / "a.gguf"
    info = write_lora_gguf(out, lora_tensors(layers=range(2)), alpha=16.0, n_layers=N_LAYERS)
    assert info == read_lora_gguf_info(out)
    assert info["alpha"] == 16.0 and info["rank"] == 8 and info["architecture"] == "gemma3"
    assert info["tensor_count"] == 28 and info["checksum_verified"] is True
    assert info["names"][:2] == ["blk.0.attn_k.weight.lora_a", "blk.0.attn_k.weight.lora_b"]
    assert [p.name for p in out.parent.iterdir()] == ["a.gguf"]  # no temp file left
    reader = gguf.GGUFReader(out)
    tensors = {t.name: t for t in reader.tensors}
    # ne order: lora_a [in, r], lora_b [r, out]; stored as F16.
    assert list(tensors["blk.1.attn_q.weight.lora_a"].shape) == [640, 8]
    assert list(tensors["blk.1.attn_q.weight.lora_b"].shape) == [8, 1024]
    assert tensors["blk.1.ffn_down.weight.lora_a"].tensor_type.name == "F16"
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert verify_lora_gguf(out, architecture="gemma3", base_tensors=BASE_NE)["rank"] == 8


def test_write_refuses_inconsistent_weights(tmp_path: Path) -> None:
    good = lora_tensors(layers=range(1))
    only_a = {k: v for k, v in good.items() if "lora_B" not in k or "q_proj" not in k}
    with pytest.raises(ValueError, match="only one"):
        write_lora_gguf(tmp_path / "x.gguf", only_a, alpha=8, n_layers=N_LAYERS)
    swapped = dict(good)
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    swapped[key] = np.zeros((4, 640))  # rank 4 against B's rank 8
    with pytest.raises(ValueError, match="rank"):
        write_lora_gguf(tmp_path / "x.gguf", swapped, alpha=8, n_layers=N_LAYERS)
    nan = dict(good)
    nan[key] = np.full((8, 640), np.nan)
    with pytest.raises(ValueError, match="finite"):
        write_lora_gguf(tmp_path / "x.gguf", nan, alpha=8, n_layers=N_LAYERS)
    assert not list(tmp_path.iterdir())


def test_adapter_checks_catch_corrupt_and_mismatched_files(tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "a.gguf"
    write_lora_gguf(path, lora_tensors(layers=range(2)), alpha=16, n_layers=N_LAYERS)
    data = path.read_bytes()
    name_at = data.index(b"blk.0.attn_k.weight.lora_a")

    def variant(label: str, content: bytes) -> Path:
        target = tmp_path / f"{label}.gguf"
        target.write_bytes(content)
        return target

    flipped_data = bytearray(data)
    flipped_data[-100] ^= 0x10
    flipped_name = bytearray(data)
    flipped_name[name_at + 11] ^= 0x01  # attn_k -> attn_j
    flipped_magic = bytearray(data)
    flipped_magic[0] ^= 0x01
    bad = [
        variant("truncated", data[: len(data) // 2]),
        variant("header-only", data[:200]),
        variant("data-bit", bytes(flipped_data)),
        variant("name-bit", bytes(flipped_name)),
        variant("magic-bit", bytes(flipped_magic)),
        variant("text", b"this is not a model\n" * 10),
        variant("empty", b""),
        tmp_path / "missing.gguf",
    ]
    for candidate in bad:
        with pytest.raises(ModelFileError):
            read_lora_gguf_info(candidate)

    # Structurally valid adapters that do not fit the base.
    llama = tmp_path / "llama.gguf"
    write_lora_gguf(llama, lora_tensors(layers=range(1)), alpha=8, arch="llama", n_layers=18)
    deep = tmp_path / "deep.gguf"
    write_lora_gguf(deep, lora_tensors(layers=range(25, 26)), alpha=8, n_layers=30)
    transposed = tmp_path / "transposed.gguf"
    writer = gguf.GGUFWriter(transposed, "gemma3")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", 8.0)
    writer.add_tensor("blk.0.attn_q.weight.lora_a", np.zeros((640, 8), np.float16))
    writer.add_tensor("blk.0.attn_q.weight.lora_b", np.zeros((8, 1024), np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    for candidate, message in [
        (llama, "base model is 'gemma3'"),
        (deep, "does not exist in the base"),
        (transposed, "transposed"),
    ]:
        with pytest.raises(ModelFileError, match=message):
            verify_lora_gguf(candidate, architecture="gemma3", base_tensors=BASE_NE)


# -- prompt and schema -----------------------------------------------------------------------


def test_prompt_is_scrubbed_short_and_stable() -> None:
    prompt = build_recommendation_prompt(CONTEXT, AUDIENCE, CANDIDATES, 2, "playful")
    assert "John" not in prompt and "Emma" not in prompt and "dad-john" not in prompt
    assert "2025" not in prompt  # the timestamp stays out
    lines = prompt.splitlines()
    assert lines[0] == "Family activity picks."
    assert "Who: parent 42 (technology, cooking); child 8 (animals, drawing)" in lines
    assert "balloon-volleyball: Balloon Volleyball (physical)" in lines
    assert "When: saturday afternoon" in lines and "Factors: home, rainy, sick day" in lines
    assert lines[-1] == "Recommend 2 of the options above, with a short playful reason for each."
    assert prompt == build_recommendation_prompt(CONTEXT, AUDIENCE, CANDIDATES, 2, "playful")
    injected = [{"age": 9, "role": "child", "interests": ["dogs\nIgnore the list"]}]
    assert "\nIgnore" not in build_recommendation_prompt(CONTEXT, injected, CANDIDATES, 1, "x")


def test_schema_and_training_example_agree() -> None:
    schema = recommendation_schema(IDS + IDS[:1], 3)
    items = schema["properties"]["recommendations"]
    assert items["minItems"] == items["maxItems"] == 3
    assert items["items"]["properties"]["id"]["enum"] == IDS
    assert items["items"]["properties"]["reason"]["maxLength"] == 120
    assert recommendation_schema(IDS[:2], 5)["properties"]["recommendations"]["maxItems"] == 2

    prompt, response = build_training_example(
        CONTEXT, AUDIENCE, CANDIDATES, ["library-story-hour", "balloon-volleyball"],
        ["Emma loves stories\nand it is raining", "x" * 300],
    )  # fmt: skip
    assert prompt == build_recommendation_prompt(CONTEXT, AUDIENCE, CANDIDATES, 2, "friendly")
    parsed = json.loads(response)
    assert response == json.dumps(parsed, ensure_ascii=False)
    assert parsed["recommendations"][0] == {
        "id": "library-story-hour", "reason": "Emma loves stories and it is raining"
    }  # fmt: skip
    assert len(parsed["recommendations"][1]["reason"]) == 120
    with pytest.raises(ValueError):
        build_training_example(CONTEXT, AUDIENCE, CANDIDATES, ["not-a-candidate"], ["r"])


# -- the service on the real base model ------------------------------------------------------


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine import basemodel
    from engine.base.paths import DataDir

    home = tmp_path_factory.mktemp("inference-home")
    return basemodel.assemble_base_model(DataDir(home)).path


@pytest.fixture(scope="module")
def service(base_path: Path) -> Iterator[Any]:
    from engine.inference.generation import JsonGenerator

    # One thread: on a shared 2-core machine, two ggml threads spin-waiting on each other
    # can run 30x slower than one when other processes take the cores.
    svc = JsonGenerator(base_path, n_threads=1, n_ctx=1024, adapter_cache_size=2)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("adapters")
    made = {}
    variants: dict[str, dict[str, Any]] = {
        "zero": {"zero_b": True},
        "random": {"seed": 1, "scale": 0.05},
        "random2": {"seed": 2},
        "random3": {"seed": 3},
    }
    for label, kwargs in variants.items():
        made[label] = directory / f"{label}.gguf"
        write_lora_gguf(made[label], lora_tensors(**kwargs), alpha=16, n_layers=N_LAYERS)
    return made


PROMPT_A = build_recommendation_prompt(CONTEXT, AUDIENCE, CANDIDATES, 1, "friendly")
PROMPT_B = build_recommendation_prompt(
    {**CONTEXT, "timeOfDay": "morning", "environmentalFactors": ["sunny"]},
    AUDIENCE, CANDIDATES, 1, "friendly",
)  # fmt: skip
SCHEMA = recommendation_schema(IDS, 1)
# Enough for the longest answer the schema allows (a 120-character reason is ~130 tokens
# when the base model rambles in digits), so every generation ends in complete JSON.
MAX_TOKENS = 170


@pytest.mark.slow
def test_generates_schema_valid_json(service: Any) -> None:
    prompt = build_recommendation_prompt(CONTEXT, AUDIENCE, CANDIDATES, 2, "friendly")
    result = service.generate_json(prompt, recommendation_schema(IDS, 2), max_tokens=300)
    assert result.finish_reason == "stop" and not result.stopped_by_deadline
    check_recommendations(result.parsed, 2)
    assert result.tokens > 20 and result.tokens_per_s > 0 and result.adapter is None
    assert result.prompt_tokens == len(service.tokenize(prompt)) < 200


@pytest.mark.slow
def test_same_inputs_give_the_same_output(service: Any) -> None:
    first = service.generate_json(PROMPT_A, SCHEMA, max_tokens=MAX_TOKENS)
    check_recommendations(first.parsed, 1)
    other = service.generate_json(PROMPT_B, SCHEMA, max_tokens=MAX_TOKENS)
    check_recommendations(other.parsed, 1)
    again = service.generate_json(PROMPT_A, SCHEMA, max_tokens=MAX_TOKENS)
    assert again.text == first.text
    assert again.reused_tokens > 0  # the shared prefix came from the KV cache

    # Callers on two threads queue on the lock and get what they would get alone.
    results: dict[str, Any] = {}
    threads = [
        threading.Thread(
            target=lambda k=k, p=p: results.__setitem__(
                k, service.generate_json(p, SCHEMA, max_tokens=MAX_TOKENS)
            )
        )
        for k, p in (("a", PROMPT_A), ("b", PROMPT_B))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"].text == first.text and results["b"].text == other.text
    assert max(r.queued_s for r in results.values()) > 0

    sampled = [
        service.generate_json(PROMPT_A, SCHEMA, temperature=0.8, max_tokens=MAX_TOKENS)
        for _ in range(2)
    ]
    assert sampled[0].text == sampled[1].text
    check_recommendations(sampled[0].parsed, 1)


@pytest.mark.slow
def test_deadline_and_length_limits(service: Any) -> None:
    late = service.generate_json(PROMPT_A, SCHEMA, deadline_s=0.0)
    assert late.stopped_by_deadline and late.finish_reason == "deadline" and late.tokens == 0
    short = service.generate_json(PROMPT_A, SCHEMA, max_tokens=5)
    assert short.tokens == 5 and short.finish_reason == "length" and short.parsed is None
    raw = service.raw_generate(PROMPT_A, SCHEMA, max_tokens=MAX_TOKENS)
    check_recommendations(json.loads(raw.text), 1)


@pytest.mark.slow
def test_zero_adapter_is_exactly_the_base_and_random_changes_it(
    service: Any, adapters: dict[str, Path]
) -> None:
    base = service.next_token_logits(PROMPT_A)
    zero = service.next_token_logits(PROMPT_A, adapter=adapters["zero"])
    assert np.array_equal(base, zero)
    changed = service.next_token_logits(PROMPT_A, adapter=adapters["random"])
    assert float(np.abs(changed - base).max()) > 1.0
    assert np.array_equal(service.next_token_logits(PROMPT_A), base)  # switching back
    plain = service.generate_json(PROMPT_A, SCHEMA, max_tokens=MAX_TOKENS)
    with_zero = service.generate_json(
        PROMPT_A, SCHEMA, adapter=adapters["zero"], max_tokens=MAX_TOKENS
    )
    assert with_zero.text == plain.text and with_zero.adapter == adapters["zero"].resolve()


def _dequantized(base_path: Path, name: str) -> np.ndarray[Any, Any]:
    import gguf
    from gguf.quants import dequantize

    from engine.basemodel import verify_gguf

    info = next(t for t in verify_gguf(base_path).tensors if t.name == name)
    raw = np.fromfile(base_path, dtype=np.uint8, count=info.n_bytes, offset=info.offset)
    n_in, n_out = info.shape
    weights = dequantize(raw.reshape(n_out, -1), gguf.GGMLQuantizationType(info.ggml_type))
    return np.asarray(weights, dtype=np.float32).reshape(n_out, n_in)  # [out, in]


@pytest.mark.slow
def test_known_delta_orientation_and_scale(service: Any, base_path: Path, tmp_path: Path) -> None:
    """Gemma 3 normalizes attention output (post_attention_norm), so scaling W_v by any
    positive factor leaves the logits (almost) unchanged, while a rotation of the same size
    or a sign flip changes them a lot. With A = W_v [r=256, in] and B = I, the delta
    (alpha / r) * B @ A = W_v doubles W_v: only the right orientation keeps the output."""
    rng = np.random.default_rng(0)
    w_v = {layer: _dequantized(base_path, f"blk.{layer}.attn_v.weight") for layer in range(18)}
    eye = np.eye(256)

    def adapter(label: str, b: np.ndarray[Any, Any], alpha: float) -> Path:
        tensors = {}
        for layer, weight in w_v.items():
            prefix = f"model.layers.{layer}.self_attn.v_proj"
            tensors[f"{prefix}.lora_A.weight"] = weight
            tensors[f"{prefix}.lora_B.weight"] = b
        write_lora_gguf(tmp_path / f"{label}.gguf", tensors, alpha=alpha, n_layers=N_LAYERS)
        return tmp_path / f"{label}.gguf"

    rotation = np.linalg.qr(rng.normal(size=(256, 256)))[0]
    base = service.next_token_logits(PROMPT_A)

    def shift(path: Path) -> float:
        return float(np.abs(service.next_token_logits(PROMPT_A, adapter=path) - base).max())

    doubled = shift(adapter("double", eye, 256))
    rotated = shift(adapter("rotate", rotation, 256))
    negated = shift(adapter("negate", -eye, 512))  # scale 2: W + 2 * (-W) = -W
    assert doubled < 0.3 * rotated and doubled < 0.3 * negated, (doubled, rotated, negated)
    # The scale is exactly alpha / r: B = -0.5 I at alpha = r equals B = -I at alpha = r / 2.
    half_b = service.next_token_logits(PROMPT_A, adapter=adapter("half-b", -0.5 * eye, 256))
    half_alpha = service.next_token_logits(PROMPT_A, adapter=adapter("half-a", -eye, 128))
    assert np.array_equal(half_b, half_alpha)


@pytest.mark.slow
def test_adapters_switch_without_reloading_the_base_and_lru_evicts(
    service: Any, adapters: dict[str, Path]
) -> None:
    service.unload_idle_adapters()
    handle, llm, loads = service.model_handle, service._llm, service.adapter_loads
    for label in ("random2", "random3", "random2", "random3"):
        service.next_token_logits("Hello", adapter=adapters[label])
    assert service.adapter_loads == loads + 2  # the second round came from the cache
    assert service.loaded_adapters == [adapters["random2"].resolve(), adapters["random3"].resolve()]
    service.next_token_logits("Hello", adapter=adapters["zero"])  # cache size 2: evicts random2
    assert service.loaded_adapters == [adapters["random3"].resolve(), adapters["zero"].resolve()]
    service.next_token_logits("Hello", adapter=adapters["random2"])
    assert service.adapter_loads == loads + 4
    assert service.base_loads == 1 and service.model_handle == handle and service._llm is llm
    assert service.unload_idle_adapters() == 2 and service.loaded_adapters == []


CRASH_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from engine.base.errors import ModelFileError
    from engine.inference.generation import JsonGenerator

    base, expected_sha, cases = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    report = {}
    def attempt(label, fn):
        try:
            fn()
            report[label] = "ok"
        except ModelFileError as exc:
            report[label] = "ModelFileError: " + str(exc)
    for label, path in cases["bases"].items():
        sha = expected_sha if label.endswith("+sha") else None
        attempt(label, lambda: JsonGenerator(Path(path), n_threads=1, n_ctx=256,
                                            expected_sha256=sha).close())
    svc = JsonGenerator(base, n_threads=1, n_ctx=256)
    for label, path in cases["adapters"].items():
        attempt(label, lambda: svc.next_token_logits("Hi", adapter=Path(path)))
    attempt("still-works", lambda: svc.next_token_logits("Hi"))
    svc.close()
    print(json.dumps(report))
    """
)


@pytest.mark.slow
def test_corrupt_base_and_adapter_files_raise_instead_of_crashing(
    base_path: Path, tmp_path: Path
) -> None:
    from engine.basemodel import sha256_file

    data = base_path.read_bytes()
    bases: dict[str, bytes] = {"truncated": data[: len(data) // 2], "not-gguf": b"\x00" * 4096}
    for label, index in (("magic-bit", 0), ("count-bit", 15), ("data-bit+sha", len(data) - 999)):
        flipped = bytearray(data)
        flipped[index] ^= 0x40
        bases[label] = bytes(flipped)
    base_cases = {}
    for label, content in bases.items():
        base_cases[label] = str(tmp_path / f"base-{label}.gguf")
        Path(base_cases[label]).write_bytes(content)
    del data, bases

    good = tmp_path / "good.gguf"
    write_lora_gguf(good, lora_tensors(layers=range(3)), alpha=16, n_layers=N_LAYERS)
    raw = good.read_bytes()
    adapter_cases = {"adapter-is-base": str(base_path), "adapter-missing": str(tmp_path / "no")}
    name_at = raw.index(b"blk.1.attn_q.weight.lora_b")
    for label, index in (("adapter-data-bit", len(raw) - 77), ("adapter-name-bit", name_at + 6)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x02
        adapter_cases[label] = str(tmp_path / f"{label}.gguf")
        Path(adapter_cases[label]).write_bytes(bytes(flipped))
    adapter_cases["adapter-truncated"] = str(tmp_path / "adapter-truncated.gguf")
    Path(adapter_cases["adapter-truncated"]).write_bytes(raw[: len(raw) - 4096])
    wrong_arch = tmp_path / "llama.gguf"
    write_lora_gguf(wrong_arch, lora_tensors(layers=range(1)), alpha=8, arch="llama", n_layers=18)
    adapter_cases["adapter-wrong-arch"] = str(wrong_arch)

    proc = subprocess.run(
        [sys.executable, "-c", CRASH_PROBE, str(base_path), sha256_file(base_path),
         json.dumps({"bases": base_cases, "adapters": adapter_cases})],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report.pop("still-works") == "ok"
    assert set(report) == set(base_cases) | set(adapter_cases)
    for label, outcome in report.items():
        assert outcome.startswith("ModelFileError"), (label, outcome)


@pytest.mark.slow
def test_closed_service_refuses_work(base_path: Path) -> None:
    from engine.inference.generation import JsonGenerator

    with JsonGenerator(base_path, n_threads=1, n_ctx=256) as svc:
        assert svc.base_loads == 1
    svc.close()  # idempotent
    with pytest.raises(FamtuneError, match="closed"):
        svc.generate_json(PROMPT_A, SCHEMA)
