"""Fine-tuning configuration: the typed model, the named profiles and the runtime detector
that picks one for this machine. The layered loader (profile, ``famtune.toml``, environment)
is :mod:`engine.base.config_load`. Nothing here imports torch.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from engine.base.errors import ConfigError
from engine.base.vocabulary import ContentRating, PrivacyLevel

if sys.version_info >= (3, 11):
    pass
else:  # JetPack 6 ships Python 3.10
    pass

LogLevel = Literal["error", "warn", "info", "debug", "verbose"]
CudaMode = Literal["auto", "on", "off"]

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DEFAULT_TARGET_MODULES = (
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
)  # fmt: skip


def _cross_field(fields: tuple[str, ...], message: str) -> PydanticCustomError:
    """A model-level error that still says which fields are involved (``ctx["fields"]``)."""
    ctx = {"fields": ",".join(fields), "message": message}
    return PydanticCustomError("cross_field", "{message}", ctx)


class FineTuningConfig(BaseModel):
    """Every fine-tuning and serving option. Python names are snake_case; JSON is camelCase."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    enabled: bool = Field(True, description="Whether family models are trained and used at all.")
    min_interactions_for_training: int = Field(
        50, ge=1, le=100_000, description="Interactions a family needs before its first model."
    )
    retraining_threshold: int = Field(
        20, ge=1, le=100_000, description="New interactions that trigger a model update."
    )
    max_memory_usage: int = Field(
        1536, ge=256, le=1_048_576, description="Memory limit for training, in MB."
    )
    safety_threshold: float = Field(
        0.95, ge=0.0, le=1.0, description="Minimum safety score (0..1) an answer must reach."
    )
    fallback_to_general: bool = Field(
        True, description="Use the general engine when the family model is unavailable or late."
    )
    batch_size: int = Field(4, ge=1, le=256, description="Training examples per optimizer step.")
    epochs: int = Field(2, ge=1, le=100, description="Passes over the training data.")
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Optimizer learning rate.")
    debug_mode: bool = Field(False, description="Keep extra diagnostics and detailed logs.")
    log_level: LogLevel = Field("info", description="error, warn, info, debug or verbose.")
    lora_rank: int = Field(8, ge=1, le=256, description="LoRA adapter rank r.")
    lora_alpha: float = Field(16.0, gt=0.0, le=4096.0, description="LoRA scaling alpha.")
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on LoRA layers.")
    lora_target_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        min_length=1,
        max_length=64,
        description="Module names LoRA adapts (attention and MLP projections by default).",
    )
    max_seq_length: int = Field(
        512, ge=32, le=32_768, description="Longest training/prompt sequence, in tokens."
    )
    base_model_path: str | None = Field(
        None, description="Base model file; None = the bundled Gemma 3 270M in the data dir."
    )
    models_to_keep: int = Field(3, ge=1, le=100, description="Model versions kept per family.")
    max_content_rating_cap: ContentRating = Field(
        "PG-13", description="Most permissive content rating any family may choose."
    )
    privacy_level: PrivacyLevel = Field("standard", description="standard or strict PII handling.")
    inference_threads: int = Field(4, ge=1, le=256, description="CPU threads for inference.")
    inference_deadline_s: float = Field(
        5.0, gt=0.0, le=600.0, description="Seconds a family-model answer may take before fallback."
    )
    use_cuda: CudaMode = Field("auto", description="auto (use it if present), on (require), off.")
    quiet_hours_start: str = Field(
        "01:00", pattern=_HHMM, description="HH:MM when the scheduler starts preferring to train."
    )
    quiet_hours_end: str = Field(
        "05:00", pattern=_HHMM, description="HH:MM when the preferred training window ends."
    )
    gradient_checkpointing: bool = Field(
        True, description="Trade compute for memory while training."
    )
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Random seed for training and sampling.")
    scorer_layers: int = Field(
        8, ge=1, le=256, description="Upper decoder layers the pointwise LoRA scorer adapts."
    )
    scorer_learning_rate: float = Field(
        1e-3, gt=0.0, le=1.0, description="Learning rate of the pointwise LoRA scorer."
    )
    scorer_batch_size: int = Field(
        16, ge=1, le=256, description="Prompts per optimizer step of the pointwise scorer."
    )
    scorer_epochs: int = Field(1, ge=1, le=20, description="Passes of the pointwise scorer.")
    # The upper layers' saved activations grow with the prompts in one pass (about 0.5 MB a
    # token with 8 LoRA layers). Measured on 2 cores (2026-12-04, bench_training.py --only
    # ours --steps 8 --micro N, peak RSS of the worker): passes of 4 prompts 892 MB, of 3
    # 832 MB, of 2 764 MB, at 240, 202 and 204 tokens per CPU-second. With the main process
    # (173 MB while the worker trains: the safety validator's spaCy lemmatizer) passes of 4
    # put the process tree at 1,068-1,088 MB, over the 1,024 MB it must stay within on this
    # machine; passes of 2 kept it at 957 MB. The cost: 15% fewer tokens per CPU-second in
    # that bench; in the CLI runs the scorer took 300 s against 233 s (+29%). With the worker's
    # short OpenMP spin (engine.training.worker.OMP_SPIN_COUNT) a 399-slate `train` took 267 s
    # in passes of 2, the tree at 961 MB.
    scorer_micro_batch_size: int = Field(
        2, ge=1, le=256, description="Prompts per forward/backward pass of the pointwise scorer."
    )
    ranker_candidates: int = Field(
        15, ge=2, le=50, description="The general engine's best items the family model scores."
    )
    gate_min_holdout_slates: int = Field(
        30, ge=1, le=10_000,
        description="Recent moments with a choice a new version is judged on before it serves.",
    )
    auto_train_interval_minutes: int = Field(
        30, ge=0, le=10_080,
        description="How often the app checks whether a family is due for training (0: never).",
    )

    @field_validator("lora_target_modules")
    @classmethod
    def _check_modules(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.replace(".", "_").isidentifier():
                raise ValueError(f"{name!r} is not a module name")
        if len(set(value)) != len(value):
            raise ValueError("module names must not repeat")
        return value

    @model_validator(mode="after")
    def _check_cross_fields(self) -> FineTuningConfig:
        if self.quiet_hours_start == self.quiet_hours_end:
            raise _cross_field(
                ("quiet_hours_end", "quiet_hours_start"),
                "quiet_hours_start and quiet_hours_end must differ (the window would be empty)",
            )
        if self.batch_size > self.min_interactions_for_training:
            raise _cross_field(
                ("batch_size", "min_interactions_for_training"),
                f"batch_size ({self.batch_size}) is larger than min_interactions_for_training "
                f"({self.min_interactions_for_training}): the first training run has no full batch",
            )
        return self

    @classmethod
    def field_for_key(cls, key: str) -> str | None:
        """The field a snake_case or camelCase key names, or None."""
        if key in cls.model_fields:
            return key
        for name, info in cls.model_fields.items():
            if info.alias == key:
                return name
        return None

    @classmethod
    def alias_of(cls, name: str) -> str:
        return cls.model_fields[name].alias or name


_PROFILES: dict[str, dict[str, Any]] = {
    # The seed's "Recommended Settings" for a Jetson Orin Nano (8 GB, 6 cores).
    "jetson": {
        "max_memory_usage": 1536,
        "batch_size": 4,
        "epochs": 2,
        "learning_rate": 1e-4,
        "safety_threshold": 0.95,
        "use_cuda": "auto",
        "inference_threads": 6,
        "gradient_checkpointing": True,
    },
    # Small and fast, for laptops and tests: trains early and often, talks a lot.
    "development": {
        "min_interactions_for_training": 10,
        "retraining_threshold": 5,
        "epochs": 1,
        "max_memory_usage": 2048,
        "debug_mode": True,
        "log_level": "debug",
        "max_seq_length": 256,
        "models_to_keep": 2,
        "inference_deadline_s": 10.0,
        "gradient_checkpointing": False,
    },
    # Jetson settings with stricter safety and privacy, for families with young children.
    "child-safe": {
        "max_memory_usage": 1536,
        "inference_threads": 6,
        "safety_threshold": 0.99,
        "max_content_rating_cap": "PG",
        "privacy_level": "strict",
        "fallback_to_general": True,
    },
    # A CUDA server: more memory and bigger batches, quiet logs, more versions kept.
    "production": {
        "max_memory_usage": 4096,
        "batch_size": 8,
        "safety_threshold": 0.95,
        "log_level": "warn",
        "models_to_keep": 5,
        "inference_threads": 8,
        "inference_deadline_s": 3.0,
    },
}


class FineTuningConfigFactory:
    """The named configuration profiles."""

    @staticmethod
    def names() -> list[str]:
        return list(_PROFILES)

    @staticmethod
    def get_config(name: str) -> FineTuningConfig:
        """The profile called ``name`` (case-insensitive, ``_`` accepted for ``-``)."""
        key = name.strip().lower().replace("_", "-")
        if key not in _PROFILES:
            valid = ", ".join(_PROFILES)
            raise ConfigError(f"unknown configuration profile {name!r}; valid profiles: {valid}")
        return FineTuningConfig.model_validate(_PROFILES[key])


@dataclass(frozen=True)
class MachineInfo:
    total_ram_mb: int
    available_ram_mb: int
    cpu_count: int
    has_cuda: bool
    is_jetson: bool
    jetson_model: str | None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def _psutil_ram() -> tuple[int, int]:
    vm = psutil.virtual_memory()
    return int(vm.total) // 2**20, int(vm.available) // 2**20


def _psutil_cpus() -> int:
    count = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    return int(count)


_CUDA_LIB_DIRS = ("usr/lib/aarch64-linux-gnu", "usr/lib/x86_64-linux-gnu", "usr/lib64",
                  "usr/local/cuda/lib64", "usr/lib/wsl/lib")  # fmt: skip


class RuntimeConfigDetector:
    """Picks a profile for this machine and fits it to the machine's RAM and cores.

    Rules (simple on purpose):
    - a Jetson -> ``jetson``; CUDA but no Jetson -> ``production``; otherwise ``development``;
    - ``max_memory_usage`` = min(profile value, 40% of total RAM), never below 512 MB;
    - ``inference_threads`` = min(profile value, CPU cores);
    - total RAM under 7000 MB (less than an 8 GB board reports) halves ``batch_size`` and
      turns on gradient checkpointing; under 3500 MB the batch is 1 and sequences <= 256.

    ``root`` is the file-system root to probe (tests pass a temp dir); ``ram``, ``cpus`` and
    ``find_library`` replace psutil and ctypes. The host's libraries are only consulted when
    ``root`` is ``/``.
    """

    def __init__(
        self,
        root: Path = Path("/"),
        *,
        ram: Callable[[], tuple[int, int]] | None = None,
        cpus: Callable[[], int] | None = None,
        find_library: Callable[[str], str | None] | None = None,
    ) -> None:
        self.root = root
        self._ram = ram or _psutil_ram
        self._cpus = cpus or _psutil_cpus
        if find_library is None and root.resolve() == Path("/").resolve():
            find_library = ctypes.util.find_library
        self._find_library = find_library

    def _has_cuda(self) -> bool:
        dev = self.root / "dev"
        if (dev / "nvidia0").exists() or any(dev.glob("nvhost-*")):
            return True
        for lib_dir in _CUDA_LIB_DIRS:
            if any((self.root / lib_dir).glob("libcuda.so*")):
                return True
        return self._find_library is not None and self._find_library("cuda") is not None

    def _jetson(self) -> tuple[bool, str | None]:
        model = _read_text(self.root / "proc" / "device-tree" / "model")
        by_model = model is not None and any(w in model.lower() for w in ("jetson", "orin"))
        by_release = (self.root / "etc" / "nv_tegra_release").is_file()
        if by_model or by_release:
            return True, model or None
        return False, None

    def detect_machine(self) -> MachineInfo:
        total, available = self._ram()
        is_jetson, jetson_model = self._jetson()
        return MachineInfo(
            total_ram_mb=total,
            available_ram_mb=available,
            cpu_count=max(1, self._cpus()),
            has_cuda=self._has_cuda(),
            is_jetson=is_jetson,
            jetson_model=jetson_model,
        )

    @staticmethod
    def pick_profile(machine: MachineInfo) -> str:
        if machine.is_jetson:
            return "jetson"
        return "production" if machine.has_cuda else "development"

    @staticmethod
    def fit(config: FineTuningConfig, machine: MachineInfo) -> FineTuningConfig:
        """``config`` adjusted to ``machine`` by the rules in the class docstring."""
        changes: dict[str, Any] = {
            "max_memory_usage": max(
                512, min(config.max_memory_usage, machine.total_ram_mb * 40 // 100)
            ),
            "inference_threads": max(1, min(config.inference_threads, machine.cpu_count)),
        }
        if machine.total_ram_mb < 3500:
            changes["batch_size"] = 1
            changes["max_seq_length"] = min(config.max_seq_length, 256)
            changes["gradient_checkpointing"] = True
        elif machine.total_ram_mb < 7000:
            changes["batch_size"] = max(1, config.batch_size // 2)
            changes["gradient_checkpointing"] = True
        return FineTuningConfig.model_validate({**config.model_dump(), **changes})

    def detect(self) -> tuple[str, FineTuningConfig]:
        """The picked profile name and the fitted configuration."""
        machine = self.detect_machine()
        name = self.pick_profile(machine)
        return name, self.fit(FineTuningConfigFactory.get_config(name), machine)

    def detect_optimal_config(self) -> FineTuningConfig:
        return self.detect()[1]


