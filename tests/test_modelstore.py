"""The model store: atomic versions, one active version, rollback, cleanup and recovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from engine.base.errors import ModelFileError, NotFound
from engine.db.tables import AuditEvent, ModelVersion
from engine.domain import families
from engine.domain.audit import verify_chain
from engine.domain.home import Famtune
from engine.domain.modelstore import MANIFEST, ModelStore
from engine.gguf import ADAPTER_GGUF
from engine.schema.profiles import parse_profile


@pytest.fixture
def store(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> ModelStore:
    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
    return ModelStore(engine_ctx)


def _version(
    store: ModelStore, *, activate: bool = True, perf: float = 0.5, payload: bytes = b"adapter"
) -> int:
    staged = store.staging_dir("smith-family")
    (staged / ADAPTER_GGUF).write_bytes(payload)
    (staged / "adapter_model.safetensors").write_bytes(b"peft")
    info = store.commit(
        "smith-family",
        staged,
        {"baseSha256": "b" * 64, "datasetHash": "d" * 64},
        activate=activate,
        status="active" if activate else "rejected",
        reason=None if activate else "too unsafe",
        scores={"performanceScore": perf, "safetyScore": 0.99, "baselineScore": 0.3},
        interactions_used=60,
    )
    return info.version


def test_commit_publishes_files_manifest_and_row(store: ModelStore) -> None:
    version = _version(store)
    info = store.active("smith-family")
    assert info is not None and info.version == version == 1
    folder = Path(info.path)
    assert folder.name == "1" and (folder / ADAPTER_GGUF).read_bytes() == b"adapter"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["version"] == 1 and manifest["datasetHash"] == "d" * 64
    assert set(manifest["files"]) == {ADAPTER_GGUF, "adapter_model.safetensors"}
    store.verify_files(info)
    assert not any(p.name.startswith(".staging-") for p in folder.parent.iterdir())


def test_one_active_version_and_rejected_ones_stay_inactive(store: ModelStore) -> None:
    _version(store)
    _version(store, activate=False)
    _version(store)
    versions = store.versions("smith-family")
    assert [v.is_active for v in versions] == [False, False, True]
    assert versions[1].status == "rejected" and versions[1].reason == "too unsafe"
    with store.ft.db.read() as session:
        kinds = [e.event_type for e in session.exec(select(AuditEvent))]
        assert kinds.count("model_created") == 3 and "model_rejected" in kinds
        assert verify_chain(session).ok


def test_rollback_skips_rejected_versions_and_can_target_one(store: ModelStore) -> None:
    _version(store)
    _version(store, activate=False)
    _version(store)
    assert store.rollback("smith-family").version == 1
    assert store.rollback("smith-family", to=3).version == 3
    with pytest.raises(NotFound):
        store.rollback("smith-family", to=9)
    with pytest.raises(NotFound):
        store.rollback("nobody")


def test_rollback_refuses_a_version_whose_files_are_gone(store: ModelStore) -> None:
    _version(store)
    _version(store)
    (Path(store.versions("smith-family")[0].path) / ADAPTER_GGUF).unlink()
    with pytest.raises(ModelFileError):
        store.rollback("smith-family")
    assert store.active("smith-family").version == 2  # type: ignore[union-attr]


def test_verify_files_detects_a_changed_adapter(store: ModelStore) -> None:
    _version(store)
    info = store.active("smith-family")
    assert info is not None
    (Path(info.path) / ADAPTER_GGUF).write_bytes(b"tampered")
    with pytest.raises(ModelFileError, match="checksum"):
        store.verify_files(info)


def test_cleanup_keeps_the_newest_and_the_active(store: ModelStore) -> None:
    for _ in range(5):
        _version(store)
    store.rollback("smith-family", to=1)
    removed = store.cleanup("smith-family", keep=2)
    assert removed == [2, 3, 4]
    assert [v.version for v in store.versions("smith-family")] == [1, 5]
    assert not (store.ft.data.family_models("smith-family") / "2").exists()


def test_delete_removes_rows_and_files(store: ModelStore) -> None:
    _version(store)
    _version(store)
    assert store.delete("smith-family") == 2
    assert store.versions("smith-family") == []
    assert not store.ft.data.family_models("smith-family").exists()


def test_recover_removes_unpublished_directories(store: ModelStore) -> None:
    _version(store)
    staged = store.staging_dir("smith-family")
    (staged / ADAPTER_GGUF).write_bytes(b"half")
    orphan = store.ft.data.family_models("smith-family") / "7"
    orphan.mkdir()
    removed = store.recover()
    assert set(removed) == {staged, orphan}
    assert store.active("smith-family") is not None
    assert (Path(store.active("smith-family").path) / ADAPTER_GGUF).exists()  # type: ignore[union-attr]


def test_a_failed_row_insert_leaves_no_visible_version(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = store.staging_dir("smith-family")
    (staged / ADAPTER_GGUF).write_bytes(b"x")

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr("engine.domain.modelstore.record_event", boom)
    with pytest.raises(RuntimeError):
        store.commit(
            "smith-family",
            staged,
            {},
            activate=True,
            status="active",
            reason=None,
            scores={},
            interactions_used=0,
        )
    with store.ft.db.read() as session:
        assert session.exec(select(ModelVersion)).all() == []
    assert [p for p in store.ft.data.family_models("smith-family").iterdir()] == []


def test_a_moved_data_directory_keeps_its_models_and_base(
    store: ModelStore, engine_ctx: Famtune, tmp_path: Path
) -> None:
    """Versions are found under the data dir they are in now, and recovery does not mistake
    them for leftovers; the base model is found in the moved ``base/``."""
    from engine.db.tables import BaseModelRecord

    _version(store)
    record = engine_ctx.last_base_model()
    assert record is not None
    name = Path(record.path).name
    with engine_ctx.db.write() as session:
        row = session.get(BaseModelRecord, record.id)
        assert row is not None
        row.path = str(engine_ctx.data.base_dir / name)  # as ``init`` records it in place
        session.add(row)
    home = engine_ctx.data.root
    engine_ctx.close()
    moved = home.rename(tmp_path / "moved")
    ft = Famtune(moved, profile="development")
    try:
        moved_store = ModelStore(ft)
        assert moved_store.recover() == []
        info = moved_store.active("smith-family")
        assert info is not None and Path(info.path) == moved / "models" / "smith-family" / "1"
        moved_store.verify_files(info)
        base = ft.last_base_model()
        assert base is not None and Path(base.path) == moved / "base" / name
    finally:
        ft.close()
