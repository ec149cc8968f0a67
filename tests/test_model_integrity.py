"""Model files are verified by sha256 against their manifest before llama.cpp loads them
(issue 7): the serving path checks the active version's adapter against the sha256 its
manifest recorded at publication (hashed once per path, size and mtime), that the version was
trained over the base model being served, and the base model against the sha256 recorded at
``init``. Any mismatch: the general engine answers, and ``status`` names the cause."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.base.config import FineTuningConfig
from engine.db.tables import BaseModelRecord
from engine.domain import families
from engine.domain.home import Famtune
from engine.domain.modelstore import MANIFEST, ModelStore, VersionInfo
from engine.gguf import ADAPTER_GGUF
from engine.gguf.lora import read_lora_gguf_info, write_lora_gguf
from engine.recommend.service import RecommendationService
from engine.schema.profiles import parse_profile
from tests.conftest import CliRun
from tests.test_inference import N_LAYERS, lora_tensors

CTX = {
    "timeOfDay": "morning",
    "dayOfWeek": "saturday",
    "familyMembers": ["dad-john", "child-emma"],
    "environmentalFactors": ["home", "weekend"],
    "at": "2026-11-28T09:00:00",
}
MISMATCH = "does not match the sha256 recorded in its manifest"


def _publish(ft: Famtune, profile: dict[str, Any], manifest: dict[str, Any]) -> VersionInfo:
    """The smith family with an active version holding a small real adapter."""
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(profile))
    ft.use_config(FineTuningConfig(inference_deadline_s=300.0, inference_threads=1))
    store = ModelStore(ft)
    staged = store.staging_dir("smith-family")
    write_lora_gguf(
        staged / ADAPTER_GGUF, lora_tensors(layers=range(2), scale=0.01), alpha=16.0,
        n_layers=N_LAYERS,
    )  # fmt: skip
    from engine.ranker.blend import Blend
    from engine.ranker.family_ranker import RankerSpec
    from engine.ranker.learner import ContextualLearner

    spec = RankerSpec(ContextualLearner.empty(), Blend({"general": 1.0, "lora": 1.0}))
    manifest = {**manifest, "ranker": spec.to_json()}
    return store.commit(
        "smith-family", staged, manifest, activate=True, status="active", reason=None,
        scores={"safetyScore": 1.0}, interactions_used=0,
    )  # fmt: skip


def _errors(cli: CliRun) -> list[str]:
    return [e["message"] for e in cli.json("status")["lastErrors"] if e["component"] == "inference"]


def test_a_flipped_byte_in_the_active_adapter_is_refused_before_llama_cpp(
    engine_ctx: Famtune, smith_profile: dict[str, Any], cli: CliRun,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from engine.inference import llama_service

    record = engine_ctx.last_base_model()
    assert record is not None
    info = _publish(engine_ctx, smith_profile, {"baseSha256": record.sha256})
    adapter = Path(info.path) / ADAPTER_GGUF
    expected = json.loads((Path(info.path) / MANIFEST).read_text())["files"][ADAPTER_GGUF]
    original = adapter.read_bytes()
    # One byte of adapter.lora.alpha's value: the adapter's own tensor digest does not cover
    # metadata, so only the manifest's sha256 can tell (the file stays a valid adapter).
    at = original.index(b"adapter.lora.alpha") + len(b"adapter.lora.alpha") + 4
    flipped = bytearray(original)
    flipped[at] ^= 0x01
    adapter.write_bytes(flipped)
    assert read_lora_gguf_info(adapter)["checksum_verified"]  # its own digest still passes

    hashed: list[Path] = []
    real_hash = llama_service._hash_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real_hash(path)

    monkeypatch.setattr(llama_service, "_hash_file", counting)
    service = RecommendationService(engine_ctx)
    try:
        first = service.recommend("smith-family", CTX, n=3)
        assert first.source == "general" and len(first.recommendations) == 3
        assert first.fallback_reason is not None and MISMATCH in first.fallback_reason
        assert service.llama().adapter_loads == 0  # llama.cpp never saw the file
        second = service.recommend("smith-family", {**CTX, "timeOfDay": "evening"}, n=3)
        assert second.source == "general" and not second.cache_hit
        assert hashed == [adapter.resolve()]  # one hash for both requests: cached per file

        errors = _errors(cli)
        assert any(MISMATCH in e and "family model v1 for smith-family" in e for e in errors)

        adapter.write_bytes(original)  # a new mtime: hashed again, then it verifies and loads
        stamp = adapter.stat().st_mtime_ns + 1_000_000
        os.utime(adapter, ns=(stamp, stamp))
        service.llama().check_adapter(adapter, expected_sha256=expected)
        assert len(hashed) == 2 and service.llama().adapter_loads == 1
    finally:
        service.close()


def test_a_version_trained_over_another_base_is_not_served(
    engine_ctx: Famtune, smith_profile: dict[str, Any], cli: CliRun
) -> None:
    _publish(engine_ctx, smith_profile, {"baseSha256": "1" * 64})
    service = RecommendationService(engine_ctx)
    try:
        batch = service.recommend("smith-family", CTX, n=3)
        assert batch.source == "general"
        assert batch.fallback_reason and "trained over another base model" in batch.fallback_reason
        assert service.llama().adapter_loads == 0
    finally:
        service.close()
    assert any("another base model" in e for e in _errors(cli))


def test_a_corrupt_base_model_is_refused_by_its_recorded_sha256(
    engine_ctx: Famtune, smith_profile: dict[str, Any], cli: CliRun
) -> None:
    record = engine_ctx.last_base_model()
    assert record is not None
    _publish(engine_ctx, smith_profile, {"baseSha256": record.sha256})
    # The record points at the session's shared base file: corrupt a copy of it, and record
    # that copy (with the sha256 recorded at init) as the base model in use.
    data = bytearray(Path(record.path).read_bytes())
    data[len(data) - 4096] ^= 0x10  # a tensor byte: the header still checks out
    corrupt = engine_ctx.data.base_dir / "corrupt-copy.gguf"
    corrupt.write_bytes(data)
    del data
    with engine_ctx.db.write() as session:
        session.add(BaseModelRecord(path=str(corrupt), sha256=record.sha256,
                                    size_bytes=record.size_bytes, source="configured"))
    assert engine_ctx.last_base_model().path == str(corrupt)  # type: ignore[union-attr]
    service = RecommendationService(engine_ctx)
    try:
        batch = service.recommend("smith-family", CTX, n=3)
    finally:
        service.close()
    assert batch.source == "general" and len(batch.recommendations) == 3
    assert batch.fallback_reason and "failed its checksum" in batch.fallback_reason
    assert any("failed its checksum" in e for e in _errors(cli))
