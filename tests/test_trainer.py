"""The on-device LoRA trainer (engine.training) on the real base model's training copy.

Kept short: a handful of tiny examples, a few steps each, one torch thread. The training
copy comes from conftest's session fixture (set FAMTUNE_TEST_BASE_HOME to reuse one).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.training.data import TokenizedData, tokenize_in_subprocess
from engine.training.events import (
    Checkpointed,
    Done,
    Event,
    JsonlSink,
    MemoryAdjusted,
    Phase,
    Progress,
    event_from_json,
    event_to_json,
)
from engine.training.job import TrainJob
from engine.training.memory import (
    MemoryBudgetExceeded,
    MemoryModel,
    MemoryPlan,
    lower_after_pressure,
    plan_memory,
    wait_for_memory,
)

pytestmark = pytest.mark.slow

EXAMPLES = [
    (
        f"Family activity picks.\nOptions:\n{a}: {ta} (outdoor)\n{b}: {tb} (indoor)\n"
        "Pick 1 as JSON.\n",
        json.dumps({"recommendations": [{"id": a, "reason": why}]}),
    )
    for a, ta, b, tb, why in [
        ("park-walk", "Park Walk", "board-games", "Board Games", "fresh air"),
        ("paint-night", "Paint Night", "bike-ride", "Bike Ride", "calm and creative"),
        ("kite-day", "Kite Day", "puzzle-hour", "Puzzle Hour", "windy afternoon"),
        ("baking", "Bake Cookies", "soccer", "Soccer in the Yard", "everyone likes it"),
    ]
]


@pytest.fixture(scope="module")
def tokens(training_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens.npz"
    assert tokenize_in_subprocess(training_cache, EXAMPLES, path) is not None
    return path


def _job(cache: Path, tokens: Path, root: Path, **overrides: Any) -> TrainJob:
    values: dict[str, Any] = {
        "cache_dir": cache,
        "out_dir": root / "out",
        "checkpoint_dir": root / "ckpt",
        "tokenized_path": tokens,
        "batch_size": 2,
        "epochs": 2,
        "learning_rate": 1e-3,
        "num_threads": 1,
        "checkpoint_every": 100,
        "export_gguf": False,
        # In-process tests share pytest's own (large) resident set, so the budget there is
        # generous; the 1536 MB budget is checked in the worker subprocess test.
        "memory_budget_mb": 8192,
    }
    values.update(overrides)
    return TrainJob(**values)


def _losses(events: list[Event]) -> dict[int, float]:
    return {e.step: e.loss for e in events if isinstance(e, Progress)}


# -- pure pieces -------------------------------------------------------------------------


def test_tokenized_examples_are_prompt_then_response(tokens: Path) -> None:
    data = TokenizedData.load(tokens)
    assert len(data) == len(EXAMPLES)
    ids, prompt_len = data.example(0)
    assert ids[0] == 2 and ids[-1] == data.eos_id  # BOS ... EOS
    assert 10 < prompt_len < len(ids) - 5


def test_events_round_trip_and_jsonl_sink(tmp_path: Path) -> None:
    event = Progress(3, 10, 0.5, 2.5, 1e-4, 120.0, 30.0, 700.0)
    assert event_from_json(json.loads(json.dumps(event_to_json(event)))) == event
    assert event_from_json(event_to_json(Phase("loading", "x"))) == Phase("loading", "x")
    with JsonlSink(tmp_path / "m.jsonl") as sink:
        sink.log("loss", 2.0, 1)
        sink.log_dict({"loss": 1.5, "rss_mb": 600}, 2)
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and rows[1]["rss_mb"] == 600.0


def test_the_worker_waits_passively_after_a_short_spin() -> None:
    from engine.training.worker import OMP_SPIN_COUNT, worker_env

    env = worker_env({"PATH": "/usr/bin"})
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["GOMP_SPINCOUNT"] == OMP_SPIN_COUNT and 0 < int(OMP_SPIN_COUNT) <= 100_000
    assert worker_env({"GOMP_SPINCOUNT": "0"})["GOMP_SPINCOUNT"] == "0"  # the operator's choice


def test_chunked_head_gradient_matches_naive(training_cache: Path) -> None:
    import torch
    from safetensors import safe_open

    from engine.training.lmhead import FileHead, TensorHead, chunked_lm_loss

    weights = training_cache / "model.safetensors"
    with safe_open(str(weights), "pt") as handle:
        full = handle.get_tensor("model.embed_tokens.weight")
    file_head = FileHead(weights, "model.embed_tokens.weight")
    start, chunk = next(iter(file_head.chunks(4096)))
    assert start == 0 and torch.equal(chunk, full[:4096])

    torch.manual_seed(0)
    weight = full[:3000].float()  # a small slice of the real head, in float32
    hidden = (torch.randn(9, 640) * 0.05).requires_grad_()
    targets = torch.randint(0, 3000, (9,))
    scale = torch.arange(1.0, 10.0)
    ours = chunked_lm_loss(hidden, targets, TensorHead(weight), chunk_rows=1024)
    (grad_ours,) = torch.autograd.grad((ours * scale).sum(), hidden)
    naive = torch.nn.functional.cross_entropy(hidden @ weight.T, targets, reduction="none")
    (grad_naive,) = torch.autograd.grad((naive * scale).sum(), hidden)
    torch.testing.assert_close(ours, naive, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_ours, grad_naive, rtol=1e-4, atol=1e-6)

    # The whole 262,144-row head in bf16, read from the file, as training uses it.
    hidden16 = (torch.randn(6, 640) * 0.05).to(torch.bfloat16).requires_grad_()
    targets16 = torch.randint(0, full.shape[0], (6,))
    ours16 = chunked_lm_loss(hidden16, targets16, file_head, chunk_rows=32768)
    (grad16,) = torch.autograd.grad(ours16.sum(), hidden16)
    naive16 = torch.nn.functional.cross_entropy(
        (hidden16 @ full.T).float(), targets16, reduction="none"
    )
    (grad16_naive,) = torch.autograd.grad(naive16.sum(), hidden16)
    torch.testing.assert_close(ours16, naive16, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grad16.float(), grad16_naive.float(), rtol=0.02, atol=2e-4)


def test_memory_plan_lowers_batch_then_gives_up() -> None:
    model = MemoryModel(resident_mb=400, weights_mb=200, n_layers=18)
    roomy, adjusted = plan_memory(
        model,
        budget_mb=8192,
        micro_batch_size=4,
        max_seq_length=512,
        longest_example=400,
        min_seq_length=64,
        allow_checkpointing=True,
    )
    assert roomy.micro_batch_size == 4 and roomy.checkpointed_layers == 0 and not adjusted

    tight, adjusted = plan_memory(
        model,
        budget_mb=900,
        micro_batch_size=4,
        max_seq_length=512,
        longest_example=400,
        min_seq_length=64,
        allow_checkpointing=True,
    )
    assert tight.micro_batch_size < 4 and tight.estimate_mb <= 0.9 * 900
    assert adjusted and all(isinstance(a, MemoryAdjusted) for a in adjusted)
    assert adjusted[0].what == "micro_batch_size" and adjusted[0].old == 4

    shorter, adjusted = plan_memory(
        model,
        budget_mb=1200,
        micro_batch_size=2,
        max_seq_length=512,
        longest_example=400,
        min_seq_length=64,
        allow_checkpointing=False,
    )
    assert shorter.micro_batch_size == 1 and shorter.max_seq_length < 400
    assert [a.what for a in adjusted][-1] == "max_seq_length"

    with pytest.raises(MemoryBudgetExceeded):
        plan_memory(
            model,
            budget_mb=600,
            micro_batch_size=4,
            max_seq_length=512,
            longest_example=400,
            min_seq_length=64,
            allow_checkpointing=True,
        )

    plan = MemoryPlan(micro_batch_size=2, max_seq_length=300, checkpointed_layers=4, estimate_mb=1)
    steps = []
    while (lowered := lower_after_pressure(plan, 18, True, 64)) is not None:
        plan, event = lowered
        steps.append(event.what)
    assert steps[:2] == ["checkpointed_layers", "micro_batch_size"]
    assert plan.micro_batch_size == 1 and plan.max_seq_length == 64


def test_training_waits_for_free_memory() -> None:
    free = iter([100.0, 100.0, 5000.0])
    cancel = threading.Event()
    events = list(wait_for_memory(1000, cancel=cancel, timeout_s=10, poll_s=0.01,
                                  available_mb=lambda: next(free)))  # fmt: skip
    assert events == [Phase("waiting", "100 MB free, training needs 1000 MB")]
    with pytest.raises(MemoryBudgetExceeded):
        list(wait_for_memory(1000, cancel=cancel, timeout_s=0.05, poll_s=0.01,
                             available_mb=lambda: 10.0))  # fmt: skip
    cancel.set()
    assert (
        len(list(wait_for_memory(1000, cancel=cancel, timeout_s=10, available_mb=lambda: 1.0))) == 0
    )


# -- with the model ----------------------------------------------------------------------


def test_response_loss_matches_naive_loss(training_cache: Path, tokens: Path) -> None:
    import torch

    from engine.training import model as lm_model
    from engine.training.data import pack

    torch.set_num_threads(1)
    data = TokenizedData.load(tokens)
    base = lm_model.load_base(training_cache, device="cpu", gradient_checkpointing=False)
    peft_model = lm_model.add_lora(base, rank=4, alpha=8, dropout=0.0, targets=("q_proj",), seed=1)
    peft_model.eval()
    lm = lm_model.LoraLM(peft_model, training_cache, data.ids.astype(np.int64))
    ids, prompt_len = data.example(1)
    batch = pack(data, [1], 512)
    with torch.no_grad():
        ours = lm.loss_sum(batch) / len(batch.targets)
        labels = torch.from_numpy(ids.astype(np.int64))[None].clone()
        labels[0, :prompt_len] = -100
        naive = peft_model(
            input_ids=torch.from_numpy(ids.astype(np.int64))[None], labels=labels
        ).loss
    assert len(batch.targets) == len(ids) - prompt_len
    torch.testing.assert_close(ours.float(), naive.float(), rtol=2e-3, atol=2e-3)


def test_loss_falls_on_a_repeated_example(
    training_cache: Path, tokens: Path, tmp_path: Path
) -> None:
    from engine.training.data import from_token_lists
    from engine.training.trainer import train_lora

    one = TokenizedData.load(tokens)
    ids, prompt_len = one.example(0)
    repeated = from_token_lists([(ids[:prompt_len].tolist(), ids[prompt_len:-1].tolist())] * 4,
                                eos_id=one.eos_id, vocab_size=one.vocab_size)  # fmt: skip
    path = tmp_path / "repeated.npz"
    repeated.save(path)
    job = _job(training_cache, path, tmp_path, batch_size=1, epochs=1, learning_rate=3e-3,
               lora_dropout=0.0)  # fmt: skip
    losses = list(_losses(list(train_lora(job))).values())
    assert len(losses) == 4
    assert losses[-1] < losses[0] * 0.8, losses


def test_cancel_keeps_checkpoint_and_resume_matches(
    training_cache: Path, tokens: Path, tmp_path: Path
) -> None:
    from engine.training.checkpoint import checkpoint_step, load_checkpoint
    from engine.training.trainer import train_lora

    straight = _losses(list(train_lora(_job(training_cache, tokens, tmp_path / "a", max_steps=4))))
    assert sorted(straight) == [1, 2, 3, 4]

    job = _job(training_cache, tokens, tmp_path / "b", max_steps=4)
    cancel = threading.Event()
    events: list[Event] = []
    for event in train_lora(job, cancel=cancel):
        events.append(event)
        if isinstance(event, Progress) and event.step == 2:
            cancel.set()
    after = events[[isinstance(e, Progress) and e.step == 2 for e in events].index(True) + 1 :]
    assert isinstance(after[0], Checkpointed) and after[0].step == 2
    assert after[-1].name == "cancelled" and not any(isinstance(e, (Progress, Done)) for e in after)  # type: ignore[union-attr]
    run_dir = Path(after[0].path).parent
    assert checkpoint_step(run_dir) == 2
    saved = load_checkpoint(run_dir)
    assert saved is not None and len(saved.meta["orders"]) == 2

    resumed = list(train_lora(job))
    training = next(e for e in resumed if isinstance(e, Phase) and e.name == "training")
    assert "from step 2" in training.message
    losses = _losses(resumed)
    assert sorted(losses) == [3, 4]
    for step in (3, 4):
        assert losses[step] == pytest.approx(straight[step], rel=2e-3), (losses, straight)
    assert any(isinstance(e, Done) for e in resumed)
    assert not run_dir.exists()  # removed after a finished run
    assert (job.out_dir / "adapter_model.safetensors").is_file()


def test_budget_too_small_stops_cleanly(training_cache: Path, tokens: Path, tmp_path: Path) -> None:
    from engine.training.trainer import train_lora

    job = _job(training_cache, tokens, tmp_path, memory_budget_mb=300)
    with pytest.raises(MemoryBudgetExceeded, match="budget of 300 MB"):
        list(train_lora(job))
    assert not (job.out_dir / "adapter_model.safetensors").exists()


# -- the worker subprocess ---------------------------------------------------------------


@pytest.fixture
def cache_without_tokenizer(training_cache: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the training copy whose tokenizer.json is garbage: any attempt to load the
    tokenizer fails. Weights are hard-linked."""
    clone = tmp_path / "clone" / training_cache.name
    clone.mkdir(parents=True)
    for item in training_cache.iterdir():
        if item.name == "model.safetensors":
            os.link(item, clone / item.name)
        elif item.name == "tokenizer.json":
            (clone / item.name).write_text("not a tokenizer")
        elif item.is_file():
            shutil.copy2(item, clone / item.name)
    yield clone


def test_worker_streams_events_and_exports(
    cache_without_tokenizer: Path, tokens: Path, tmp_path: Path
) -> None:
    from engine.basemodel import verify_gguf
    from engine.gguf.lora import read_lora_gguf_info
    from engine.training.trainer import run_training_subprocess

    job = _job(cache_without_tokenizer, tokens, tmp_path, max_steps=2, batch_size=1,
               export_gguf=True, lora_rank=4, metrics_path=tmp_path / "metrics.jsonl",
               memory_budget_mb=1536)  # fmt: skip
    events = list(run_training_subprocess(job))
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert phases[:2] == ["loading", "training"] and phases[-2:] == ["saving", "exporting"]
    assert [e.step for e in events if isinstance(e, Progress)] == [1, 2]
    done = events[-1]
    assert isinstance(done, Done) and done.steps == 2 and done.gguf_path
    assert 0 < done.peak_rss_mb < job.memory_budget_mb
    assert (job.out_dir / "adapter_model.safetensors").is_file()
    config = json.loads((job.out_dir / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["peft_type"] == "LORA"
    assert verify_gguf(Path(done.gguf_path), what="adapter").metadata["general.type"] == "adapter"
    info = read_lora_gguf_info(Path(done.gguf_path))
    assert info["rank"] == 4 and info["tensor_count"] == 2 * 7 * 18
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
