"""One family fine-tune from interactions to a served adapter, as a stream of events.

dataset -> LoRA training (in a worker subprocess, inside the memory budget) -> GGUF adapter
-> load test in llama.cpp -> evaluation gate (hit@3 against the general engine, safety suite)
-> model store (atomic) -> active version, or kept inactive with the reason.

Nothing is visible until the store commits, and the previous version keeps serving until
then: a cancelled, failed or killed job leaves the family exactly as it was (the worker's
checkpoints stay under ``training/<family>/`` so a restarted job resumes).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import families
from engine.db.tables import TrainingRun, utcnow
from engine.errors import FamtuneError
from engine.filelock import FileLock, training_lock
from engine.modelstore import ADAPTER_GGUF, ModelStore
from engine.training.events import Done, Phase

if TYPE_CHECKING:
    from engine.core import Famtune
    from engine.training.dataset import FamilyDataset


@dataclass(frozen=True)
class TrainOutcome:
    """The answer of ``famtune-engine train`` (CLI.md)."""

    created: bool
    version: int | None
    activated: bool
    performance_score: float | None
    baseline_score: float | None
    safety_score: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "version": self.version,
            "activated": self.activated,
            "performanceScore": self.performance_score,
            "baselineScore": self.baseline_score,
            "safetyScore": self.safety_score,
            "reason": self.reason,
        }


def _not_created(reason: str) -> TrainOutcome:
    return TrainOutcome(False, None, False, None, None, None, reason)


def checkpoint_root(ft: Famtune, family_id: str) -> Path:
    return ft.data.root / "training" / family_id


def train_family(
    ft: Famtune, family_id: str, *, cancel: threading.Event | None = None, force: bool = False
) -> Iterator[Any]:
    """Yield training events; the last item is always a ``TrainOutcome``."""
    from engine.training.dataset import enough_data

    cancel = cancel or threading.Event()
    config = ft.config
    with ft.db.read() as session:
        profile = families.get_profile(session, family_id=family_id)
    if not config.enabled:
        yield _not_created("Personalization is switched off in the configuration.")
        return
    ready, why = enough_data(ft, family_id)
    if not ready and not force:
        yield _not_created(why)
        return
    lock = training_lock(ft.data.root)
    with lock.hold() as acquired:
        if not acquired:
            yield _not_created(
                "Another training job is running on this device; the current model keeps "
                "serving. Try again when it has finished."
            )
            return
        yield from _train_locked(ft, profile, family_id, cancel, lock)


def _train_locked(
    ft: Famtune, profile: Any, family_id: str, cancel: threading.Event, lock: FileLock
) -> Iterator[Any]:
    from engine.training.dataset import build_dataset

    config = ft.config
    yield Phase("dataset", "Preparing this family's examples (personal data already removed)")
    dataset = build_dataset(ft, family_id, seed=config.seed)
    if not dataset.examples or not dataset.holdout:
        yield _not_created(
            "Not enough accepted suggestions yet to learn from and to check "
            "the result; keep using famtune a little longer."
        )
        return
    run_id = _start_run(ft, family_id, dataset)
    store = ModelStore(ft)
    staged = store.staging_dir(family_id)
    try:
        done: Done | None = None
        for event in _train(ft, family_id, dataset, staged, cancel, lock):
            if isinstance(event, Done):
                done = event
            yield event
        if cancel.is_set() or done is None:
            raise _Stopped("Training was cancelled; the current model keeps serving.")
        yield Phase("evaluating", "Checking the new model for safety and quality")
        outcome = yield from _evaluate_and_publish(ft, profile, dataset, staged, done, store)
        _finish_run(
            ft,
            run_id,
            "done",
            version=outcome.version,
            peak=done.peak_rss_mb,
            metrics=outcome.to_json(),
        )
        yield outcome
    except _Stopped as stop:
        shutil.rmtree(staged, ignore_errors=True)
        _finish_run(ft, run_id, "cancelled", error=str(stop))
        yield _not_created(str(stop))
    except FamtuneError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        _finish_run(ft, run_id, "failed", error=str(exc))
        ft.log_event("error", "training", f"{family_id}: {exc}")
        yield _not_created(f"Training stopped: {exc}")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        _finish_run(ft, run_id, "failed", error="unexpected error")
        raise


class _Stopped(Exception):
    pass


def _train(
    ft: Famtune,
    family_id: str,
    dataset: FamilyDataset,
    staged: Path,
    cancel: threading.Event,
    lock: FileLock,
) -> Iterator[Any]:
    from engine import basemodel
    from engine.training.job import TrainJob
    from engine.training.trainer import run_training_subprocess

    record = ft.last_base_model()
    if record is None:
        raise FamtuneError("no base model recorded; run 'famtune-engine init'")
    cache = basemodel.training_cache_dir(ft.data, record.sha256)
    if not basemodel.is_training_cache_ready(cache):
        yield Phase("preparing", "Preparing the training copy of the base model (once)")
        cache = basemodel.prepare_training_cache(ft.data, Path(record.path), sha256=record.sha256)
    job = TrainJob.from_config(
        ft.config,
        examples=dataset.pairs(),
        cache_dir=cache,
        out_dir=staged,
        checkpoint_dir=checkpoint_root(ft, family_id) / dataset.dataset_hash[:16],
    )
    # The worker inherits the training lock: if this process dies, an orphaned worker
    # finishing its step still holds it, so recovery leaves its files alone.
    fd = lock.fileno()
    yield from run_training_subprocess(job, cancel=cancel, pass_fds=() if fd is None else (fd,))


def _evaluate_and_publish(
    ft: Famtune, profile: Any, dataset: FamilyDataset, staged: Path, done: Done, store: ModelStore
) -> Generator[Any, None, TrainOutcome]:
    from engine.inference.llama_service import LlamaService
    from engine.recommend.service import inference_threads
    from engine.training.evaluate import gate, performance, safety_suite

    record = ft.last_base_model()
    assert record is not None
    adapter = staged / ADAPTER_GGUF
    with LlamaService(
        Path(record.path),
        n_threads=inference_threads(ft.config),
        seed=ft.config.seed,
        expected_sha256=record.sha256,
    ) as llama:
        llama.check_adapter(adapter)  # a load test: refuse files llama.cpp cannot apply
        evaluation = performance(ft, dataset, adapter=adapter, llama=llama)
        yield Phase(
            "evaluating",
            f"Hit@3 {evaluation.family_model_hit_at_k:.2f} vs the "
            f"general engine's {evaluation.general_hit_at_k:.2f}",
        )
        safety = safety_suite(ft, profile, adapter=adapter, llama=llama)
    active = store.active(profile.family_id)
    decision = gate(
        evaluation,
        safety,
        active_performance=active.performance_score if active else None,
        threshold=ft.config.safety_threshold,
    )
    scores: dict[str, float | None] = {
        "performanceScore": evaluation.family_model_hit_at_k,
        "baselineScore": evaluation.general_hit_at_k,
        "safetyScore": safety.score,
    }
    manifest = {
        "baseSha256": ft.last_base_model().sha256,  # type: ignore[union-attr]
        "datasetHash": dataset.dataset_hash,
        "config": ft.config.model_dump(by_alias=True, mode="json"),
        "metrics": {
            **scores,
            "holdoutCases": evaluation.cases,
            "safetyCases": len(safety.cases),
            "steps": done.steps,
            "finalLoss": done.final_loss,
            "peakRssMb": done.peak_rss_mb,
            "trainSeconds": done.seconds,
            "tokensPerS": done.tokens_per_s,
        },
        "examples": len(dataset.examples),
    }
    info = store.commit(
        profile.family_id,
        staged,
        manifest,
        activate=decision.activate,
        status="active" if decision.activate else "rejected",
        reason=decision.reason,
        scores=scores,
        interactions_used=dataset.counts.get("interactions", 0),
    )
    store.cleanup(profile.family_id, ft.config.models_to_keep)
    return TrainOutcome(
        True,
        info.version,
        decision.activate,
        scores["performanceScore"],
        scores["baselineScore"],
        scores["safetyScore"],
        decision.reason,
    )


def _start_run(ft: Famtune, family_id: str, dataset: FamilyDataset) -> int:
    with ft.db.write() as session:
        run = TrainingRun(
            family_id=family_id,
            status="running",
            metrics={"datasetHash": dataset.dataset_hash, "examples": len(dataset.examples)},
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _finish_run(
    ft: Famtune,
    run_id: int,
    status: str,
    *,
    version: int | None = None,
    peak: float | None = None,
    error: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> None:
    with ft.db.write() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            return
        run.status, run.finished_at, run.version = status, utcnow(), version
        run.peak_rss_mb, run.error = peak, error
        if metrics:
            run.metrics = {**run.metrics, **metrics}
        session.add(run)
