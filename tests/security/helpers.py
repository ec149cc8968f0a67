"""Model versions for the attacks: published through the real model store."""

from __future__ import annotations

from pathlib import Path

from engine.domain.home import Famtune
from engine.domain.modelstore import ModelStore
from engine.gguf import ADAPTER_GGUF


def publish(
    home: Path,
    *,
    safety: float | None = 0.99,
    activate: bool = True,
    payload: bytes = b"adapter bytes",
    family: str = "smith-family",
) -> int:
    """A version with a stand-in adapter; ``activate`` False stores it as the gate's reject."""
    ft = Famtune(home, profile="development")
    try:
        store = ModelStore(ft)
        base = ft.last_base_model()  # the served base: the adapter is what gets checked
        staged = store.staging_dir(family)
        (staged / ADAPTER_GGUF).write_bytes(payload)
        info = store.commit(
            family,
            staged,
            {"baseSha256": base.sha256 if base else "b" * 64, "datasetHash": "d" * 64},
            activate=activate,
            status="active" if activate else "rejected",
            reason=None if activate else f"safety score {safety} is below the threshold",
            scores={"performanceScore": 0.5, "safetyScore": safety},
            interactions_used=60,
        )
        return info.version
    finally:
        ft.close()


def active_version(home: Path, family: str = "smith-family") -> int | None:
    ft = Famtune(home, profile="development")
    try:
        info = ModelStore(ft).active(family)
        return info.version if info else None
    finally:
        ft.close()
