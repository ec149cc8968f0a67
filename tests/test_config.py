"""Tests for engine.base.config: profiles, the runtime detector and layered overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.config import (
    DEFAULT_TARGET_MODULES,
    FineTuningConfig,
    FineTuningConfigFactory,
    MachineInfo,
    RuntimeConfigDetector,
)
from engine.base.config_load import load_config
from engine.base.errors import ConfigError, ValidationFailed
from engine.base.paths import DataDir


def fake_detector(
    root: Path, total_mb: int = 16_000, cpus: int = 8, cuda: bool = False
) -> RuntimeConfigDetector:
    return RuntimeConfigDetector(
        root,
        ram=lambda: (total_mb, total_mb // 2),
        cpus=lambda: cpus,
        find_library=lambda name: "libcuda.so.1" if cuda else None,
    )


JETSON_MODEL = b"NVIDIA Jetson Orin Nano Developer Kit\x00"


def make_jetson_root(root: Path, model: bytes = JETSON_MODEL) -> Path:
    (root / "proc" / "device-tree").mkdir(parents=True)
    (root / "proc" / "device-tree" / "model").write_bytes(model)
    return root


# -- factory -----------------------------------------------------------------------------


def test_factory_names() -> None:
    assert FineTuningConfigFactory.names() == ["jetson", "development", "child-safe", "production"]


def test_jetson_profile_matches_seed_recommended_settings() -> None:
    c = FineTuningConfigFactory.get_config("jetson")
    assert (c.max_memory_usage, c.batch_size, c.epochs) == (1536, 4, 2)
    assert c.learning_rate == pytest.approx(1e-4)
    assert c.safety_threshold == pytest.approx(0.95)
    assert c.use_cuda == "auto" and c.inference_threads == 6
    assert c.enabled and c.fallback_to_general
    assert (c.min_interactions_for_training, c.retraining_threshold) == (50, 20)
    assert c.lora_target_modules == list(DEFAULT_TARGET_MODULES)
    assert c.base_model_path is None


def test_development_profile_is_small_and_chatty() -> None:
    c = FineTuningConfigFactory.get_config("development")
    assert (c.min_interactions_for_training, c.retraining_threshold, c.epochs) == (10, 5, 1)
    assert c.max_memory_usage == 2048
    assert c.debug_mode and c.log_level == "debug"


def test_child_safe_profile_is_stricter() -> None:
    c = FineTuningConfigFactory.get_config("child-safe")
    assert c.safety_threshold == pytest.approx(0.99)
    assert c.max_content_rating_cap == "PG"
    assert c.privacy_level == "strict"
    assert c.fallback_to_general
    assert c.safety_threshold > FineTuningConfigFactory.get_config("jetson").safety_threshold


def test_production_profile_is_conservative() -> None:
    c = FineTuningConfigFactory.get_config("production")
    assert c.safety_threshold == pytest.approx(0.95)
    assert not c.debug_mode and c.log_level in ("warn", "error")


def test_profile_name_is_forgiving_about_case_and_underscore() -> None:
    assert FineTuningConfigFactory.get_config("Child_Safe") == FineTuningConfigFactory.get_config(
        "child-safe"
    )


def test_unknown_profile_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        FineTuningConfigFactory.get_config("turbo")
    message = str(info.value)
    assert "turbo" in message
    for name in FineTuningConfigFactory.names():
        assert name in message


# -- model -------------------------------------------------------------------------------


def test_camel_case_round_trip() -> None:
    c = FineTuningConfigFactory.get_config("child-safe")
    dumped = c.model_dump(by_alias=True)
    for key in ("minInteractionsForTraining", "retrainingThreshold", "maxMemoryUsage",
                "safetyThreshold", "fallbackToGeneral", "debugMode", "logLevel"):  # fmt: skip
        assert key in dumped
    assert "min_interactions_for_training" not in dumped
    assert FineTuningConfig.model_validate(dumped) == c
    assert FineTuningConfig.model_validate(c.model_dump()) == c


def test_model_is_frozen_and_forbids_extra_keys() -> None:
    c = FineTuningConfig()
    with pytest.raises(pydantic.ValidationError):
        c.batch_size = 3  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError) as info:
        FineTuningConfig.model_validate({"batchSize": 2, "turbo": True})
    assert info.value.errors()[0]["loc"] == ("turbo",)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("safety_threshold", 1.5),
        ("batch_size", 0),
        ("log_level", "loud"),
        ("quiet_hours_start", "25:00"),
        ("lora_alpha", 0),
        ("lora_target_modules", []),
        ("max_content_rating_cap", "NC-17"),
        ("inference_threads", 0),
    ],
)
def test_nonsense_is_refused_with_the_field_named(key: str, value: Any) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        FineTuningConfig.model_validate({key: value})
    assert info.value.errors()[0]["loc"][0] == key


def test_cross_field_checks() -> None:
    with pytest.raises(pydantic.ValidationError, match="must differ"):
        FineTuningConfig(quiet_hours_start="02:00", quiet_hours_end="02:00")
    with pytest.raises(pydantic.ValidationError, match="larger than min_interactions"):
        FineTuningConfig(batch_size=64, min_interactions_for_training=50)


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.text(max_size=8), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
JUNK_FIELDS = ["batch_size", "safety_threshold", "log_level", "quiet_hours_start",
               "lora_target_modules", "lora_alpha", "max_memory_usage", "enabled"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(JUNK_FIELDS), JUNK, max_size=len(JUNK_FIELDS)))
def test_random_junk_validates_within_bounds_or_raises_validation_error(
    data: dict[str, Any],
) -> None:
    try:
        c = FineTuningConfig.model_validate(data)
    except pydantic.ValidationError:
        return
    assert 1 <= c.batch_size <= 256
    assert 0.0 <= c.safety_threshold <= 1.0
    assert c.log_level in ("error", "warn", "info", "debug", "verbose")
    assert 0 < c.lora_alpha <= 4096
    assert 256 <= c.max_memory_usage <= 1_048_576
    assert c.lora_target_modules and all(isinstance(m, str) for m in c.lora_target_modules)
    assert len(c.quiet_hours_start) == 5 and c.quiet_hours_start != c.quiet_hours_end
    assert isinstance(c.enabled, bool)


# -- detector ----------------------------------------------------------------------------


def test_detector_on_fake_jetson(tmp_path: Path) -> None:
    det = fake_detector(make_jetson_root(tmp_path), total_mb=7620, cpus=6)
    machine = det.detect_machine()
    assert machine == MachineInfo(
        total_ram_mb=7620,
        available_ram_mb=3810,
        cpu_count=6,
        has_cuda=False,
        is_jetson=True,
        jetson_model="NVIDIA Jetson Orin Nano Developer Kit",
    )
    name, config = det.detect()
    assert name == "jetson"
    assert config == FineTuningConfigFactory.get_config("jetson")
    assert det.detect_optimal_config() == config


def test_detector_on_jetson_found_by_tegra_release_and_nvhost(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.0\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvhost-gpu").touch()
    machine = fake_detector(tmp_path).detect_machine()
    assert machine.is_jetson and machine.jetson_model is None and machine.has_cuda


def test_detector_small_jetson_fits_memory_and_batch(tmp_path: Path) -> None:
    det = fake_detector(make_jetson_root(tmp_path), total_mb=3800, cpus=4)
    config = det.detect_optimal_config()
    assert config.max_memory_usage == 3800 * 40 // 100
    assert config.batch_size == 2
    assert config.inference_threads == 4
    assert config.gradient_checkpointing


def test_detector_on_plain_root_picks_development(tmp_path: Path) -> None:
    det = fake_detector(tmp_path, total_mb=16_000, cpus=2)
    machine = det.detect_machine()
    assert not machine.is_jetson and not machine.has_cuda
    name, config = det.detect()
    assert name == "development"
    assert config.max_memory_usage == 2048
    assert config.inference_threads == 2


def test_detector_cuda_without_jetson_picks_production(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidia0").touch()
    name, config = fake_detector(tmp_path, total_mb=32_000, cpus=16).detect()
    assert name == "production"
    assert config == FineTuningConfigFactory.get_config("production")
    assert fake_detector(Path(tmp_path / "none"), cuda=True).detect()[0] == "production"


def test_detector_tiny_machine(tmp_path: Path) -> None:
    config = fake_detector(tmp_path, total_mb=1000, cpus=1).detect_optimal_config()
    assert config.max_memory_usage == 512
    assert (config.batch_size, config.max_seq_length, config.inference_threads) == (1, 256, 1)


def test_real_machine_detection_does_not_crash() -> None:
    machine = RuntimeConfigDetector().detect_machine()
    assert machine.total_ram_mb > 0 and machine.cpu_count >= 1


# -- load_config -------------------------------------------------------------------------


def test_explicit_profile_without_file(tmp_path: Path) -> None:
    resolved = load_config(tmp_path, "child-safe", env={"FAMTUNE_PROFILE": "jetson"})
    assert resolved.profile == "child-safe"
    assert resolved.config == FineTuningConfigFactory.get_config("child-safe")
    assert set(resolved.sources.values()) == {"profile:child-safe"}
    assert set(resolved.sources) == set(FineTuningConfig.model_fields)


def test_profile_from_env_then_detector(tmp_path: Path) -> None:
    resolved = load_config(DataDir(tmp_path), env={"FAMTUNE_PROFILE": "production"})
    assert resolved.profile == "production"
    assert resolved.sources["batch_size"] == "profile:production"
    det = fake_detector(make_jetson_root(tmp_path / "root"), total_mb=7620, cpus=6)
    resolved = load_config(tmp_path, env={}, detector=det)
    assert resolved.profile == "jetson"
    assert set(resolved.sources.values()) == {"detector"}


def test_toml_then_env_precedence_with_sources(tmp_path: Path) -> None:
    file = tmp_path / "famtune.toml"
    file.write_text(
        "batchSize = 2\nsafety_threshold = 0.97\n\n"
        '[fine_tuning]\nepochs = 3\nlogLevel = "verbose"\n'
    )
    env = {
        "FAMTUNE_HOME": "/ignored",
        "FAMTUNE_EPOCHS": "5",
        "FAMTUNE_ENABLED": "false",
        "FAMTUNE_LORA_TARGET_MODULES": "q_proj, v_proj",
        "FAMTUNE_BASE_MODEL_PATH": "/models/base.gguf",
        "FAMTUNE_NOT_A_FIELD": "whatever",
    }
    resolved = load_config(tmp_path, "jetson", env=env)
    c = resolved.config
    assert (c.batch_size, c.safety_threshold, c.epochs, c.log_level) == (2, 0.97, 5, "verbose")
    assert c.enabled is False
    assert c.lora_target_modules == ["q_proj", "v_proj"]
    assert c.base_model_path == "/models/base.gguf"
    src = resolved.sources
    assert src["batch_size"] == f"file:{file}"
    assert src["log_level"] == f"file:{file}"
    assert src["epochs"] == "env:FAMTUNE_EPOCHS"
    assert src["enabled"] == "env:FAMTUNE_ENABLED"
    assert src["learning_rate"] == "profile:jetson"

    doc = resolved.to_json()
    assert doc["profile"] == "jetson"
    assert doc["config"]["batchSize"] == 2 and doc["config"]["loraTargetModules"] == [
        "q_proj",
        "v_proj",
    ]
    assert doc["sources"]["batchSize"] == f"file:{file}"
    assert doc["sources"]["loraTargetModules"] == "env:FAMTUNE_LORA_TARGET_MODULES"
    assert set(doc["sources"]) == set(doc["config"])


def test_data_dir_none_uses_famtune_home_from_env(tmp_path: Path) -> None:
    (tmp_path / "famtune.toml").write_text("epochs = 7\n")
    resolved = load_config(None, "jetson", env={"FAMTUNE_HOME": str(tmp_path)})
    assert resolved.config.epochs == 7


def test_bad_toml_value_names_key_and_file(tmp_path: Path) -> None:
    file = tmp_path / "famtune.toml"
    file.write_text("[fine_tuning]\nsafetyThreshold = 1.5\n")
    with pytest.raises(ValidationFailed) as info:
        load_config(tmp_path, "jetson", env={})
    assert info.value.field == "fine_tuning.safetyThreshold"
    assert str(file) in str(info.value)


def test_unknown_toml_key_is_config_error(tmp_path: Path) -> None:
    file = tmp_path / "famtune.toml"
    file.write_text("batch_size = 2\nturbo_mode = true\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, "jetson", env={})
    assert "turbo_mode" in str(info.value) and str(file) in str(info.value)


def test_key_given_twice_and_broken_toml_are_config_errors(tmp_path: Path) -> None:
    file = tmp_path / "famtune.toml"
    file.write_text("batch_size = 2\n[fine_tuning]\nbatchSize = 3\n")
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(tmp_path, "jetson", env={})
    file.write_text("batch_size = = 2\n")
    with pytest.raises(ConfigError, match=r"famtune\.toml"):
        load_config(tmp_path, "jetson", env={})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("FAMTUNE_BATCH_SIZE", "abc"),
        ("FAMTUNE_ENABLED", "perhaps"),
        ("FAMTUNE_LOG_LEVEL", "loud"),
        ("FAMTUNE_LORA_TARGET_MODULES", ","),
        ("FAMTUNE_QUIET_HOURS_END", "01:00"),
    ],
)
def test_bad_env_value_names_the_variable(tmp_path: Path, var: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        load_config(tmp_path, "jetson", env={var: value})
    assert info.value.field == var
    assert f"env:{var}" in str(info.value)


def test_cross_field_error_blames_the_latest_override(tmp_path: Path) -> None:
    file = tmp_path / "famtune.toml"
    file.write_text("batch_size = 16\n")
    with pytest.raises(ValidationFailed) as info:
        load_config(tmp_path, "development", env={})
    assert info.value.field == "batch_size"
    assert str(file) in str(info.value)
    file.unlink()
    with pytest.raises(ValidationFailed) as info:
        load_config(tmp_path, "jetson", env={"FAMTUNE_MIN_INTERACTIONS_FOR_TRAINING": "2"})
    assert info.value.field == "FAMTUNE_MIN_INTERACTIONS_FOR_TRAINING"


def test_unknown_profile_in_env_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="child-safe"):
        load_config(tmp_path, env={"FAMTUNE_PROFILE": "nope"})
