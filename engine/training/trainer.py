"""The on-device LoRA trainer: :func:`train_lora` is a generator of typed events.

Its way: wait for free memory -> token ids (tokenized in a subprocess, or given) -> load the
memory-mapped bf16 base and add LoRA -> plan memory (how many layers to recompute, the
micro-batch, the sequence length) -> resume from the run's checkpoint if there is one ->
train, checking the cancel flag between steps and checkpointing every N steps -> save the
PEFT adapter -> export ``adapter.gguf`` (f16) and read its header back.

The loss is the mean cross-entropy of the response tokens (and EOS) of each optimizer step;
the head is computed at those positions only, in vocabulary chunks. Defaults match
``transformers.Trainer``: AdamW (no weight decay), linear decay without warm-up, gradient
norm clipped to 1.0. :func:`run_training_subprocess` runs all of this in
``python -m engine.training.worker`` and streams the same events back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.base.errors import FamtuneError, ModelFileError
from engine.training import checkpoint as ckpt
from engine.training.data import (
    TokenizedData,
    answer_ids,
    count_targets,
    epoch_order,
    examples_sha256,
    pack,
    pad_prompts,
    steps_per_epoch,
    tokenize_in_subprocess,
)
from engine.training.events import (
    Checkpointed,
    Done,
    Event,
    MetricSink,
    Phase,
    Progress,
)
from engine.training.job import TrainJob
from engine.training.memory import (
    MB,
    MemoryBudgetExceeded,
    MemoryModel,
    MemoryPlan,
    MemoryWatchdog,
    lower_after_pressure,
    malloc_trim,
    plan_memory,
    release_memory,
    rss_mb,
    wait_for_memory,
)
from engine.training.worker import run_training_subprocess

__all__ = ["MemoryBudgetExceeded", "TrainJob", "run_training_subprocess", "train_lora"]

MAX_GRAD_NORM = 1.0
PAD_MULTIPLE = 16  # see engine.training.data.pack
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


def train_lora(
    job: TrainJob, *, cancel: threading.Event | None = None, sink: MetricSink | None = None
) -> Iterator[Event]:
    """Train ``job`` and yield its events; see the module docstring. Raises
    :class:`MemoryBudgetExceeded` (or another FamtuneError) when it cannot go on; a
    cancelled run yields ``Phase("cancelled")`` and returns, leaving its checkpoint."""
    cancel = cancel or threading.Event()
    started = time.monotonic()
    yield from wait_for_memory(job.memory_budget_mb, cancel=cancel, timeout_s=job.wait_timeout_s)
    data = None if cancel.is_set() else (yield from _token_data(job, cancel))
    if data is None:
        yield Phase("cancelled", "stopped before training started")
        return
    yield Phase("loading", "loading the base model (memory-mapped) and adding LoRA")
    run = _Run.open(job, data)
    yield from run.adjustments
    with MemoryWatchdog(job.memory_budget_mb) as watchdog:
        yield Phase("training", run.describe())
        finished = yield from _loop(run, watchdog, cancel, sink)
    if not finished:
        yield Phase("cancelled", f"stopped after step {run.step}; the checkpoint is kept")
        return
    yield Phase("saving", f"saving the adapter to {job.out_dir}")
    adapter_dir = run.save_adapter()
    gguf_path = None
    if job.export_gguf:
        yield Phase("exporting", "writing adapter.gguf (f16)")
        gguf_path = run.export_gguf()
    if not job.keep_checkpoint:
        ckpt.remove_run(run.run_dir)
        if job.examples is not None:
            tokens_path(job).unlink(missing_ok=True)
    yield Done(
        adapter_dir=str(adapter_dir),
        gguf_path=str(gguf_path) if gguf_path else None,
        steps=run.step,
        final_loss=run.last_loss,
        peak_rss_mb=round(watchdog.peak_mb(), 1),
        seconds=round(time.monotonic() - started, 2),
        tokens_per_s=round(run.tokens_per_s(), 2),
        cpu_tokens_per_s=round(run.tokens_done / max(run.cpu_done, 1e-9), 2),
    )


def _loop(
    run: _Run, watchdog: MemoryWatchdog, cancel: threading.Event, sink: MetricSink | None
) -> Generator[Event, None, bool]:
    """The training loop. Returns True when every step ran, False when cancelled."""
    for step in range(run.step, run.total_steps):
        if cancel.is_set():
            yield Checkpointed(step, str(run.save_checkpoint()))
            return False
        tick, cpu_tick = time.monotonic(), time.process_time()
        loss, tokens, grad_norm = run.train_step(step)
        run.record(step + 1, loss, tokens, time.monotonic() - tick, time.process_time() - cpu_tick)
        progress = run.progress(rss_mb=watchdog.sample())
        yield progress
        if sink is not None:
            sink.log_dict({"loss": loss, "learning_rate": progress.learning_rate,
                           "grad_norm": grad_norm, "tokens_per_s": progress.tokens_per_s,
                           "rss_mb": progress.rss_mb}, run.step)  # fmt: skip
        if watchdog.near_limit():
            yield from run.relieve_pressure(watchdog)
        if run.step % run.job.checkpoint_every == 0 and run.step < run.total_steps:
            yield Checkpointed(run.step, str(run.save_checkpoint()))
    return True


def _token_data(
    job: TrainJob, cancel: threading.Event
) -> Generator[Event, None, TokenizedData | None]:
    """The job's token ids (tokenizing in a subprocess if needed); None if cancelled."""
    if job.tokenized_path is not None:
        return TokenizedData.load(job.tokenized_path)
    assert job.examples is not None
    path = tokens_path(job)
    if path.is_file():
        with contextlib.suppress(FamtuneError):
            return TokenizedData.load(path)
    yield Phase("tokenizing", f"tokenizing {len(job.examples)} examples in a subprocess")
    return tokenize_in_subprocess(job.cache_dir, job.examples, path, cancel=cancel)


def _resolve_device(job: TrainJob) -> str:
    import torch

    if job.device == "cuda" and not torch.cuda.is_available():
        raise FamtuneError("CUDA was asked for but is not available")
    if job.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return job.device


@dataclass
class _Run:
    """Everything one training run holds; the methods are the loop's steps."""

    job: TrainJob
    data: TokenizedData
    key: str
    run_dir: Path
    device: str
    peft_model: Any
    lm: Any
    optimizer: Any
    plan: MemoryPlan
    orders: list[list[int]]
    total_steps: int
    per_epoch: int
    step: int = 0
    last_loss: float = float("nan")
    tokens_done: int = 0
    seconds_done: float = 0.0
    cpu_done: float = 0.0
    first_step: int = 0
    adjustments: list[Event] = field(default_factory=list)
    label_ids: list[int] = field(default_factory=list)
    label_rows: Any = None

    @classmethod
    def open(cls, job: TrainJob, data: TokenizedData) -> _Run:
        import torch

        from engine.training import model as lm_model

        stamp = lm_model.cache_stamp(job.cache_dir)
        key = hashlib.sha256(
            (data.sha256() + job.config_hash(str(stamp["source_sha256"]))).encode()
        ).hexdigest()[:16]
        device = _resolve_device(job)
        torch.set_num_threads(job.num_threads or max(1, os.cpu_count() or 1))
        base = lm_model.load_base(
            job.cache_dir, device=device, gradient_checkpointing=job.gradient_checkpointing
        )
        peft_model = lm_model.add_lora(
            base,
            rank=job.lora_rank,
            alpha=job.lora_alpha,
            dropout=job.lora_dropout,
            targets=job.lora_target_modules,
            seed=job.seed,
            layers=job.lora_layers,
        )
        lm = lm_model.LoraLM(peft_model, job.cache_dir, data.ids.astype(np.int64))
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=job.learning_rate, weight_decay=0.0)
        per_epoch = steps_per_epoch(len(data), job.batch_size)
        total = per_epoch * job.epochs
        total = min(total, job.max_steps) if job.max_steps else total
        orders = [epoch_order(len(data), job.seed, e).tolist() for e in range(job.epochs)]
        run = cls(
            job=job,
            data=data,
            key=key,
            run_dir=job.checkpoint_dir / f"run-{key}",
            device=device,
            peft_model=peft_model,
            lm=lm,
            optimizer=optimizer,
            plan=MemoryPlan(1, job.max_seq_length, 0, 0.0),
            orders=orders,
            total_steps=total,
            per_epoch=per_epoch,
        )
        if job.objective == "yes_no":
            run.label_ids = answer_ids(data)
            run.label_rows = lm.head.rows_of(run.label_ids).to(device)
        saved = ckpt.load_checkpoint(run.run_dir)
        resumed_seq = None
        if saved is not None and saved.meta.get("job_key") == key:
            run.restore(saved)
            resumed_seq = int(saved.meta["plan"]["max_seq_length"])
        run.make_plan(resumed_seq=resumed_seq)
        peft_model.train()
        return run

    def make_plan(self, resumed_seq: int | None) -> None:
        """Pick micro-batch, sequence cap and recomputed layers (see engine.training.memory).
        CPU: one example per pass by default (measured faster than packing several, whose
        block-diagonal attention mask costs more than the larger matrix products save).
        CUDA: the whole batch per pass, every layer recomputed if allowed; the RSS model
        does not describe GPU memory, so there is no estimate."""
        from engine.training import model as lm_model

        job, n_layers = self.job, self.lm.n_layers
        max_seq = min(job.max_seq_length, resumed_seq or job.max_seq_length)
        if job.objective == "yes_no":
            # Short prompts, a 2-row head and no backward pass below the LoRA layers: no
            # recomputation, passes of the job's micro-batch (the scorer's config: 4 prompts;
            # see FineTuningConfig.scorer_micro_batch_size); the watchdog guards the budget.
            self.plan = MemoryPlan(job.micro_batch_size or job.batch_size, max_seq, 0, 0.0)
        elif self.device != "cpu":
            micro = min(job.batch_size, job.micro_batch_size or job.batch_size)
            layers = n_layers if job.gradient_checkpointing else 0
            self.plan = MemoryPlan(micro, max_seq, layers, 0.0)
        else:
            embed_bytes = self.lm.head.rows * self.lm.head.dim * 2
            weights = (Path(job.cache_dir) / "model.safetensors").stat().st_size - embed_bytes
            memory = MemoryModel.for_this_process(rss_mb(), max(0.0, weights / MB), n_layers)
            longest = -(-int(self.data.lengths().max()) // PAD_MULTIPLE) * PAD_MULTIPLE
            self.plan, adjusted = plan_memory(
                memory,
                budget_mb=job.memory_budget_mb,
                micro_batch_size=min(job.batch_size, job.micro_batch_size or 1),
                max_seq_length=max_seq,
                longest_example=longest,
                min_seq_length=job.min_seq_length,
                allow_checkpointing=job.gradient_checkpointing,
            )
            self.adjustments.extend(adjusted)
        lm_model.set_checkpointed_layers(self.peft_model, self.plan.checkpointed_layers)

    def describe(self) -> str:
        p = self.plan
        return (
            f"{len(self.data)} examples, {self.total_steps} steps from step {self.step}, "
            f"micro-batch {p.micro_batch_size}, max {p.max_seq_length} tokens, "
            f"{p.checkpointed_layers}/{self.lm.n_layers} layers recomputed, "
            f"estimated peak {p.estimate_mb:.0f} MB of {self.job.memory_budget_mb}"
        )

    def lr_at(self, step: int) -> float:
        """transformers' default schedule: linear decay to 0, no warm-up."""
        return self.job.learning_rate * max(0.0, (self.total_steps - step) / self.total_steps)

    def indices(self, step: int) -> list[int]:
        epoch, within = divmod(step, self.per_epoch)
        size = self.job.batch_size
        return self.orders[epoch][within * size : (within + 1) * size]

    def train_step(self, step: int) -> tuple[float, int, float]:
        """One optimizer step over the step's examples in micro-batches; returns the mean
        response-token loss, the tokens processed and the gradient norm."""
        import torch

        batch, plan = self.indices(step), self.plan
        if self.job.objective == "yes_no":
            return self.label_step(step, batch)
        n_targets = count_targets(self.data, batch, plan.max_seq_length)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        total, tokens = 0.0, 0
        for start in range(0, len(batch), plan.micro_batch_size):
            group = batch[start : start + plan.micro_batch_size]
            micro = pack(self.data, group, plan.max_seq_length, pad_multiple=PAD_MULTIPLE)
            loss = (
                self.lm.loss_sum(micro, chunk_rows=self.lm.chunk_rows(len(micro.targets)))
                / n_targets
            )
            loss.backward()
            total, tokens = total + float(loss.detach()), tokens + micro.n_tokens
            if self.device == "cpu":
                malloc_trim()  # freed activations back to the system: the peak stays per pass
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, tokens, grad_norm

    def label_step(self, step: int, batch: list[int]) -> tuple[float, int, float]:
        """One optimizer step of the yes/no objective: padded prompts, the label-only head."""
        import torch

        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(step)
        total, tokens = 0.0, 0
        for start in range(0, len(batch), self.plan.micro_batch_size):
            group = batch[start : start + self.plan.micro_batch_size]
            padded = pad_prompts(self.data, group, self.plan.max_seq_length, self.label_ids,
                                 pad_multiple=PAD_MULTIPLE)  # fmt: skip
            loss = self.lm.label_loss_sum(padded, self.label_rows) / len(batch)
            loss.backward()
            total, tokens = total + float(loss.detach()), tokens + padded.n_tokens
            if self.device == "cpu":
                malloc_trim()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, tokens, grad_norm

    def record(self, step: int, loss: float, tokens: int, seconds: float, cpu: float) -> None:
        self.step, self.last_loss = step, loss
        self.tokens_done += tokens
        self.seconds_done += seconds
        self.cpu_done += cpu

    def progress(self, rss_mb: float) -> Progress:
        return Progress(
            step=self.step,
            total_steps=self.total_steps,
            epoch=round(self.step / self.per_epoch, 4),
            loss=self.last_loss,
            learning_rate=self.lr_at(self.step - 1),
            tokens_per_s=round(self.tokens_per_s(), 2),
            eta_s=round(self.eta_s(), 1),
            rss_mb=round(rss_mb, 1),
        )

    def tokens_per_s(self) -> float:
        return self.tokens_done / self.seconds_done if self.seconds_done else 0.0

    def eta_s(self) -> float:
        done = self.step - self.first_step
        return (self.total_steps - self.step) * self.seconds_done / done if done else 0.0

    def relieve_pressure(self, watchdog: MemoryWatchdog) -> Iterator[Event]:
        from engine.training import model as lm_model

        lowered = lower_after_pressure(
            self.plan, self.lm.n_layers, self.job.gradient_checkpointing, self.job.min_seq_length
        )
        if lowered is None:
            if watchdog.peak_mb() > self.job.memory_budget_mb:
                self.save_checkpoint()
                raise MemoryBudgetExceeded(
                    f"training reached {watchdog.peak_mb():.0f} MB with nothing left to lower "
                    f"(budget {self.job.memory_budget_mb} MB); the checkpoint is kept"
                )
            return
        self.plan, event = lowered
        lm_model.set_checkpointed_layers(self.peft_model, self.plan.checkpointed_layers)
        release_memory()
        watchdog.reset_recent()
        yield event

    # -- checkpoints ------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        import torch

        from engine.training.model import trainable_state

        trainer = {"optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
        if self.device == "cuda":
            trainer["cuda_rng"] = torch.cuda.get_rng_state()
        meta = {
            "job_key": self.key,
            "plan": {
                "micro_batch_size": self.plan.micro_batch_size,
                "max_seq_length": self.plan.max_seq_length,
                "checkpointed_layers": self.plan.checkpointed_layers,
            },
            "orders": self.orders,
            "last_loss": self.last_loss,
            "tokens_done": self.tokens_done,
            "seconds_done": self.seconds_done,
        }
        return ckpt.save_checkpoint(
            self.run_dir,
            step=self.step,
            weights=trainable_state(self.peft_model),
            trainer=trainer,
            meta=meta,
        )

    def restore(self, saved: ckpt.Checkpoint) -> None:
        import torch

        params = dict(self.peft_model.named_parameters())
        missing = set(params[n] for n in params if params[n].requires_grad)
        with torch.no_grad():
            for name, value in saved.weights.items():
                if name not in params:
                    raise FamtuneError(f"checkpoint weight {name} is not in the model")
                params[name].copy_(value)
                missing.discard(params[name])
        if missing:
            raise FamtuneError("the checkpoint lacks some LoRA weights")
        self.optimizer.load_state_dict(saved.trainer["optimizer"])
        torch.set_rng_state(saved.trainer["torch_rng"])
        if self.device == "cuda" and "cuda_rng" in saved.trainer:
            torch.cuda.set_rng_state(saved.trainer["cuda_rng"])
        self.orders = [list(map(int, order)) for order in saved.meta["orders"]]
        self.step = saved.step
        self.first_step = saved.step
        self.last_loss = float(saved.meta.get("last_loss", float("nan")))

    # -- results ----------------------------------------------------------------------

    def save_adapter(self) -> Path:
        """adapter_model.safetensors + adapter_config.json, each renamed into place."""
        out = Path(self.job.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".adapter-{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            self.peft_model.save_pretrained(str(tmp), save_embedding_layers=False)
            for name in ADAPTER_FILES:
                with (tmp / name).open("rb") as handle:
                    os.fsync(handle.fileno())
                os.replace(tmp / name, out / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    def export_gguf(self) -> Path:
        """adapter.gguf in f16, then its header read back (general.type must be adapter)."""
        from peft import get_peft_model_state_dict

        from engine.gguf import ADAPTER_GGUF
        from engine.gguf.lora import read_lora_gguf_info, write_lora_gguf

        state = get_peft_model_state_dict(self.peft_model, save_embedding_layers=False)
        tensors = {name: t.detach().float().cpu().numpy() for name, t in state.items()}
        path = Path(self.job.out_dir) / ADAPTER_GGUF
        write_lora_gguf(
            path,
            tensors,
            alpha=self.job.lora_alpha,
            arch="gemma3",
            n_layers=self.lm.n_layers,
            dtype="f16",
            name=self.job.name,
        )
        info = read_lora_gguf_info(path)
        if info["tensor_count"] != len(tensors) or info["rank"] != self.job.lora_rank:
            raise ModelFileError(f"{path.name} came out with the wrong tensors")
        return path


def tokens_path(job: TrainJob) -> Path:
    """Where :func:`train_lora` keeps the job's tokenized examples."""
    assert job.examples is not None
    return job.checkpoint_dir / f"tokens-{examples_sha256(job.examples)[:16]}.npz"
