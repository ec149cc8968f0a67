"""The model side of training: load the frozen base, add LoRA, compute the loss.

Memory levers that live here:

* The base is loaded from the training copy's bf16 safetensors, which transformers maps
  into memory: weights are file pages, read in as touched, never copied.
* The input embedding is *not* looked up in the mapped 262,144 x 640 matrix (each lookup
  faults in a 64 KB neighbourhood of pages, ~100 MB over a dataset): the rows the dataset
  uses are read once into a small table (:class:`CompactEmbedding`), already scaled the way
  Gemma scales them, and the model gets ``inputs_embeds``.
* The LM head runs only at response positions, chunked over the vocabulary, reading the
  tied embedding from the file (:mod:`engine.training.lmhead`).
* Activation checkpointing is set per layer (:func:`set_checkpointed_layers`), so the
  memory plan can recompute just as many layers as the budget needs.

QLoRA: with CUDA and bitsandbytes, :func:`load_base` loads the base in 4-bit NF4 and runs
``peft.prepare_model_for_kbit_training``. Untested here (no GPU on the build machine).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from engine.base.errors import ModelFileError
from engine.basemodel.layout import CACHE_WEIGHTS_NAME
from engine.basemodel.training_copy import is_training_cache_ready, read_training_cache_stamp
from engine.training.data import MicroBatch, PaddedBatch
from engine.training.lmhead import (
    DEFAULT_CHUNK_ROWS,
    FileHead,
    HeadWeights,
    TensorHead,
    chunked_lm_loss,
    head_chunk_rows,
)

if TYPE_CHECKING:
    import torch

EMBED_NAME = "model.embed_tokens.weight"


def cache_stamp(cache_dir: Path) -> dict[str, Any]:
    """The training copy's ``cache.json``; ModelFileError if the copy is not complete."""
    stamp = read_training_cache_stamp(Path(cache_dir))
    sha = stamp.get("source_sha256") if stamp else None
    if stamp is None or not isinstance(sha, str) or not is_training_cache_ready(cache_dir, sha):
        raise ModelFileError(f"the training copy in {cache_dir} is missing or incomplete")
    return stamp


def qlora_available(device: str) -> bool:
    """CUDA present and bitsandbytes importable."""
    if device != "cuda":
        return False
    try:
        import bitsandbytes  # noqa: F401
    except Exception:
        return False
    return True


def load_base(cache_dir: Path, *, device: str, gradient_checkpointing: bool) -> Any:
    """The frozen base model (no tokenizer). CPU: bf16, memory-mapped. CUDA: 4-bit NF4 via
    bitsandbytes when importable (QLoRA), else bf16 on the GPU."""
    import torch
    from transformers import AutoModelForCausalLM

    cache_stamp(cache_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kwargs: dict[str, Any] = {"dtype": torch.bfloat16, "local_files_only": True}
    if qlora_available(device):
        from transformers import BitsAndBytesConfig

        bnb_config: Any = BitsAndBytesConfig
        kwargs["quantization_config"] = bnb_config(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": 0}
    model: Any
    try:
        model = AutoModelForCausalLM.from_pretrained(str(cache_dir), **kwargs)
    except Exception as exc:
        raise ModelFileError(f"the training copy in {cache_dir} cannot be loaded: {exc}") from exc
    if "quantization_config" in kwargs:
        from peft import prepare_model_for_kbit_training

        prepare: Any = prepare_model_for_kbit_training
        model = prepare(
            model,
            use_gradient_checkpointing=gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif device == "cuda":
        model = model.to("cuda")
    model.config.use_cache = False
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def add_lora(
    model: Any,
    *,
    rank: int,
    alpha: float,
    dropout: float,
    targets: Sequence[str],
    seed: int,
    layers: int | None = None,
) -> Any:
    """``peft.get_peft_model`` with a seeded initialization; LoRA weights in float32. With
    ``layers``, only the upper ``layers`` decoder layers get LoRA."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    lora_config: Any = LoraConfig
    config = lora_config(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(targets),
        layers_to_transform=upper_layers(model, layers),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def upper_layers(model: Any, count: int | None) -> list[int] | None:
    """The indices of the upper ``count`` decoder layers (None: all of them)."""
    if count is None:
        return None
    total = int(model.config.num_hidden_layers)
    return list(range(max(0, total - count), total))


def decoder_layers(peft_model: Any) -> list[Any]:
    return list(peft_model.base_model.model.model.layers)


def set_checkpointed_layers(peft_model: Any, count: int) -> None:
    """Recompute the first ``count`` decoder layers in the backward pass, keep the rest."""
    import torch.utils.checkpoint

    checkpoint = functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=False)
    for index, layer in enumerate(decoder_layers(peft_model)):
        layer._gradient_checkpointing_func = checkpoint
        layer.gradient_checkpointing = index < count


def trainable_state(peft_model: Any) -> dict[str, torch.Tensor]:
    """The LoRA weights by parameter name (detached, on the CPU)."""
    return {
        name: param.detach().to("cpu")
        for name, param in peft_model.named_parameters()
        if param.requires_grad
    }


class CompactEmbedding:
    """The scaled input-embedding rows of the ids a dataset uses, and the id remapping."""

    def __init__(self, cache_dir: Path, used_ids: npt.NDArray[np.int64], scale: float) -> None:
        import torch

        self.vocab = np.unique(used_ids).astype(np.int64)
        head = FileHead(Path(cache_dir) / CACHE_WEIGHTS_NAME, EMBED_NAME)
        rows = torch.empty((len(self.vocab), head.dim), dtype=head.dtype)
        for start, chunk in head.chunks(DEFAULT_CHUNK_ROWS):
            local = self.vocab[(self.vocab >= start) & (self.vocab < start + chunk.shape[0])]
            if len(local):
                where = torch.from_numpy(np.searchsorted(self.vocab, local))
                rows[where] = chunk[torch.from_numpy(local - start)]
        # Gemma3TextScaledWordEmbedding: embedding(ids) * embed_scale.to(weight dtype).
        self.table = rows * torch.tensor(scale, dtype=torch.float32).to(head.dtype)

    def to(self, device: str) -> CompactEmbedding:
        self.table = self.table.to(device)
        return self

    def __call__(self, ids: npt.NDArray[np.int64]) -> torch.Tensor:
        import torch

        local = torch.from_numpy(np.searchsorted(self.vocab, ids)).to(self.table.device)
        return self.table[local]


class LoraLM:
    """The trainable model as a loss function over :class:`MicroBatch` es."""

    def __init__(self, peft_model: Any, cache_dir: Path, used_ids: npt.NDArray[np.int64]) -> None:
        hf_model = peft_model.base_model.model
        self.peft_model = peft_model
        self.body = hf_model.model
        self.device = str(next(iter(self.body.parameters())).device.type)
        config = hf_model.config
        self.n_layers = int(config.num_hidden_layers)
        self.softcap: float | None = getattr(config, "final_logit_softcapping", None) or None
        scale = float(getattr(self.body.embed_tokens, "embed_scale", 1.0))
        self.embed = CompactEmbedding(cache_dir, used_ids, scale).to(self.device)
        self.head: HeadWeights
        if self.device == "cpu":
            self.head = FileHead(Path(cache_dir) / CACHE_WEIGHTS_NAME, EMBED_NAME)
        else:
            self.head = TensorHead(hf_model.get_output_embeddings().weight)

    def chunk_rows(self, n_targets: int) -> int:
        return head_chunk_rows(n_targets, self.head.dim)

    def loss_sum(self, batch: MicroBatch, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> torch.Tensor:
        """Summed cross-entropy of the response tokens of one micro-batch."""
        import torch

        embeds = self.embed(batch.ids)[None]
        positions = torch.from_numpy(batch.positions)[None].to(self.device)
        hidden = self.body(inputs_embeds=embeds, position_ids=positions, use_cache=False)
        states = hidden.last_hidden_state[0, torch.from_numpy(batch.target_pos).to(self.device)]
        targets = torch.from_numpy(batch.targets).to(self.device)
        losses = chunked_lm_loss(
            states, targets, self.head, chunk_rows=chunk_rows, softcap=self.softcap
        )
        return losses.sum()

    def label_loss_sum(self, batch: PaddedBatch, label_rows: torch.Tensor) -> torch.Tensor:
        """Summed cross-entropy over the label tokens only (``label_rows``: their rows of the
        output embedding), read at each row's last prompt position: a pointwise scorer."""
        import torch

        embeds = self.embed(batch.ids)
        mask = torch.from_numpy(batch.mask).to(self.device)
        hidden = self.body(inputs_embeds=embeds, attention_mask=mask, use_cache=False)
        rows = torch.arange(len(batch.last), device=self.device)
        states = hidden.last_hidden_state[rows, torch.from_numpy(batch.last).to(self.device)]
        logits = states.float() @ label_rows.float().T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        targets = torch.from_numpy(batch.labels).to(self.device)
        return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
