"""Fuzzing the GGUF checkers with real files, mutated: a small adapter and a tiny model,
truncated, bit-flipped, spliced, refused or passing every check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.gguf.lora import read_lora_gguf_info, write_lora_gguf
from tests.test_fuzz.gguf import check_gguf, mutations
from tests.test_fuzz.strategies import fuzz
from tests.test_inference import N_LAYERS, lora_tensors


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
