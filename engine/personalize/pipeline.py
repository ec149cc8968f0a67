"""One family fine-tune from interactions to a served adapter, as a stream of events.

slates (every logged moment, time-ordered split) -> pointwise LoRA scorer (in a worker
subprocess, inside the memory budget) -> GGUF adapter -> load test in llama.cpp -> the
contextual learner and the blend (fitted out of fold on the validation slice) -> evaluation
gate (hit@3 against the general engine and the active version on the same hold-out slates,
safety suite) -> model store (atomic) -> active version, or kept inactive with the reason.

Nothing is visible until the store commits, and the previous version keeps serving until
then: a cancelled, failed or killed job leaves the family exactly as it was (the worker's
checkpoints stay under ``training/<family>/`` so a restarted job resumes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.base.errors import FamtuneError, JobCancelled
from engine.base.filelock import FileLock, training_lock
from engine.db.tables import TrainingRun, utcnow
from engine.domain import families
from engine.domain.modelstore import ModelStore
from engine.gguf import ADAPTER_GGUF
from engine.personalize.events import TrainingEvent, TrainOutcome
from engine.training.events import Done, Phase, Progress

if TYPE_CHECKING:
    from engine.domain.home import Famtune


def _not_created(reason: str) -> TrainOutcome:
    return TrainOutcome(False, None, False, None, None, None, reason)


def checkpoint_root(ft: Famtune, family_id: str) -> Path:
    return ft.data.family_training(family_id)


def train_family(
    ft: Famtune, family_id: str, *, cancel: threading.Event | None = None, force: bool = False
) -> Iterator[TrainingEvent]:
    """Yield training events; the last item is always a ``TrainOutcome``."""
    from engine.personalize.dataset import enough_data

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
) -> Iterator[TrainingEvent]:
    from engine.domain.catalog import Catalog
    from engine.domain.interactions import InteractionLog
    from engine.ranker.slates import build_slates, split
    from engine.ranker.training import pointwise_examples

    yield Phase("dataset", "Reading this family's moments (personal data already removed)")
    history = InteractionLog(ft).get_interaction_history(family_id)
    items = Catalog(ft).items()
    slates = build_slates(profile, history, items)
    parts = split(slates)
    by_id = {item.id: item for item in items}
    examples = pointwise_examples(parts.train, by_id)
    if not examples or not any(s.choice for s in parts.train):
        yield _not_created(
            "Not enough chosen suggestions yet to learn from and to check the result; keep "
            "using famtune a little longer."
        )
        return
    dataset = _Dataset(family_id, slates, parts, examples, len(history))
    run_id = _start_run(ft, family_id, dataset)
    store = ModelStore(ft)
    staged = store.staging_dir(family_id)
    try:
        done: Done | None = None
        checks_s = _checks_estimate_s(dataset, has_active=store.active(family_id) is not None)
        for event in _train(ft, family_id, dataset, staged, cancel, lock):
            if isinstance(event, Done):
                done = event
            elif isinstance(event, Progress):  # the ETA covers the checks that follow
                event = dataclasses.replace(event, eta_s=round(event.eta_s + checks_s, 1))
            yield event
        if cancel.is_set() or done is None:
            raise _Stopped("Training was cancelled; the current model keeps serving.")
        yield Phase("evaluating", "Checking the new model for safety and quality")
        outcome = yield from _evaluate_and_publish(
            ft, profile, dataset, staged, done, store, by_id, history, cancel
        )
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


CHECK_S_PER_SLATE = 0.35
"""Seconds to score one judged slate (a prefix and about five candidates) in llama.cpp on
2 x86 cores; the ETA of the checks is built from it."""
SAFETY_CASES_S = 12.0


def _checks_estimate_s(dataset: _Dataset, *, has_active: bool) -> float:
    """About how long the checks after training take: the validation slice, the hold-out
    (twice with an active version) and the safety suite."""
    val = sum(1 for s in dataset.parts.validation if s.choice is not None)
    hold = sum(1 for s in dataset.parts.holdout if s.choice is not None)
    return CHECK_S_PER_SLATE * (val + hold * (2 if has_active else 1)) + SAFETY_CASES_S


@dataclass(frozen=True)
class _Dataset:
    """What one run trains and judges on: the family's slates, their time-ordered split and
    the scorer's pointwise examples (from the training slates only)."""

    family_id: str
    slates: list[Any]
    parts: Any  # engine.ranker.slates.Split
    examples: list[tuple[str, str]]
    interactions: int

    @property
    def dataset_hash(self) -> str:
        digest = hashlib.sha256(b"ranker-dataset-v2\0")
        for prompt, answer in self.examples:
            digest.update(f"{prompt}\0{answer}\0".encode())
        for slate in self.parts.validation + self.parts.holdout:
            digest.update(f"{slate.at.isoformat()}|{','.join(slate.shown)}|"
                          f"{','.join(slate.chosen)}\0".encode())  # fmt: skip
        return digest.hexdigest()


def _train(
    ft: Famtune,
    family_id: str,
    dataset: _Dataset,
    staged: Path,
    cancel: threading.Event,
    lock: FileLock,
) -> Iterator[TrainingEvent]:
    from engine import basemodel
    from engine.training.job import TrainJob
    from engine.training.trainer import run_training_subprocess

    record = ft.last_base_model()
    if record is None:
        raise FamtuneError("no base model recorded; run 'famtune-engine init'")
    cache = basemodel.training_cache_dir(ft.data, record.sha256)
    if not basemodel.is_training_cache_ready(cache):
        yield Phase("preparing", "Preparing the training copy of the base model (once)")
        try:
            cache = basemodel.prepare_training_cache(
                ft.data, Path(record.path), sha256=record.sha256, cancel=cancel
            )
        except JobCancelled as exc:
            raise _Stopped("Training was cancelled; the current model keeps serving.") from exc
    config = ft.config
    job = TrainJob.from_config(
        config,
        examples=dataset.examples,
        cache_dir=cache,
        out_dir=staged,
        checkpoint_dir=checkpoint_root(ft, family_id) / dataset.dataset_hash[:16],
        objective="yes_no",
        lora_layers=config.scorer_layers,
        learning_rate=config.scorer_learning_rate,
        batch_size=config.scorer_batch_size,
        micro_batch_size=min(config.scorer_micro_batch_size, config.scorer_batch_size),
        epochs=config.scorer_epochs,
        max_seq_length=min(config.max_seq_length, SCORER_MAX_TOKENS),
        gradient_checkpointing=False,
    )
    # The worker inherits the training lock: if this process dies, an orphaned worker
    # finishing its step still holds it, so recovery leaves its files alone.
    fd = lock.fileno()
    yield from run_training_subprocess(job, cancel=cancel, pass_fds=() if fd is None else (fd,))


CHECK_CHUNK = 10
"""Hold-out slates checked between two progress lines (and cancel checks)."""
SCORER_MAX_TOKENS = 128
"""The scorer's prompts are short (who, when, one activity): about 60 tokens."""


def _evaluate_and_publish(
    ft: Famtune,
    profile: Any,
    dataset: _Dataset,
    staged: Path,
    done: Done,
    store: ModelStore,
    by_id: dict[str, Any],
    history: list[Any],
    cancel: threading.Event,
) -> Generator[Phase, None, TrainOutcome]:
    from engine.inference.llama_service import LlamaService
    from engine.personalize.evaluate import gate, safety_suite
    from engine.ranker.blend import fit_blend
    from engine.ranker.family_ranker import RankerSpec
    from engine.ranker.training import (
        Cancelled,
        Comparison,
        compare,
        fit_on,
        validation_cases,
    )
    from engine.recommend.family_model import lora_scorer, make_explainer
    from engine.recommend.service import inference_threads

    config = ft.config
    record = ft.last_base_model()
    assert record is not None
    adapter = staged / ADAPTER_GGUF
    parts = dataset.parts
    n = config.ranker_candidates
    active = store.active(profile.family_id)
    active_spec = None
    if active is not None:
        try:
            active_spec = RankerSpec.from_manifest(store.manifest(active))
        except (ValueError, FamtuneError):
            active_spec = None  # unreadable: judged against the general engine only
    try:
        with LlamaService(
            Path(record.path),
            n_threads=inference_threads(config),
            seed=config.seed,
            expected_sha256=record.sha256,
        ) as llama:
            llama.check_adapter(adapter)  # a load test: refuse files llama.cpp cannot apply
            lora = lora_scorer(llama, adapter, None)
            oof = fit_on(parts.train, by_id)
            cases = validation_cases(parts.validation, by_id, oof, lora, cancel=cancel)
            blend = fit_blend(cases, ("general", "learner", "trees", "lora"))
            serving = fit_on(parts.train + parts.validation, by_id)
            spec = RankerSpec(serving.learner, blend, n, trees=serving.trees)
            total = sum(1 for s in parts.holdout if s.choice is not None)
            yield Phase("evaluating", f"Comparing with the general ideas on {total} recent moments")
            theirs = None
            if active is not None and active_spec is not None:
                active_adapter = Path(active.path) / ADAPTER_GGUF
                theirs = (active_spec, lora_scorer(llama, active_adapter, active.adapter_sha256))
            comparison = Comparison(active=[] if theirs is not None else None)
            judged = [s for s in parts.holdout if s.choice is not None]
            started = time.monotonic()
            for start in range(0, len(judged), CHECK_CHUNK):
                chunk = judged[start : start + CHECK_CHUNK]
                comparison.extend(compare(chunk, by_id, (spec, lora), theirs, cancel=cancel))
                done_n = start + len(chunk)
                left = (time.monotonic() - started) / done_n * (len(judged) - done_n)
                yield Phase("evaluating", f"Checked {done_n} of {len(judged)} recent moments, "
                                          f"about {left + SAFETY_CASES_S:.0f} s left")  # fmt: skip
            yield Phase("evaluating", "Checking what it would show the children")
            explain = make_explainer(ft, profile, history)
            safety = safety_suite(ft, profile, spec=spec, lora=lora, explain=explain,
                                  cancel=cancel.is_set)  # fmt: skip
    except Cancelled:
        raise _Stopped("Training was cancelled while the new model was being checked; the "
                       "current model keeps serving.") from None  # fmt: skip
    if cancel.is_set():
        raise _Stopped("Training was cancelled while the new model was being checked; the "
                       "current model keeps serving.")  # fmt: skip
    decision = gate(comparison, safety, threshold=config.safety_threshold,
                    min_holdout=config.gate_min_holdout_slates)  # fmt: skip
    scores: dict[str, float | None] = {
        "performanceScore": comparison.rate(comparison.new),
        "baselineScore": comparison.rate(comparison.general),
        "safetyScore": safety.score,
    }
    manifest = {
        "baseSha256": record.sha256,
        "datasetHash": dataset.dataset_hash,
        "config": config.model_dump(by_alias=True, mode="json"),
        "ranker": spec.to_json(),
        "metrics": {
            **scores,
            "activeScore": comparison.rate(comparison.active),
            "holdoutCases": comparison.cases,
            "ndcgAt3": comparison.rate(comparison.new_ndcg),
            "baselineNdcgAt3": comparison.rate(comparison.general_ndcg),
            "blend": spec.blend.to_json(),
            "gateSecondsPerSlate": round(comparison.seconds_per_slate, 3),
            "safetyCases": len(safety.cases),
            "slates": {"train": len(parts.train), "validation": len(parts.validation),
                       "holdout": len(parts.holdout)},
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
        status=decision.status,
        reason=decision.reason,
        scores=scores,
        interactions_used=dataset.interactions,
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


def _start_run(ft: Famtune, family_id: str, dataset: _Dataset) -> int:
    with ft.db.write() as session:
        run = TrainingRun(
            family_id=family_id,
            status="running",
            metrics={"datasetHash": dataset.dataset_hash, "examples": len(dataset.examples),
                     "slates": len(dataset.slates)},
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
