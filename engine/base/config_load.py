"""The layered loader behind ``famtune-engine config show``: a profile (``--profile``, else
``$FAMTUNE_PROFILE``, else the runtime detector's pick), then ``<home>/famtune.toml``, then one
``FAMTUNE_<FIELD>`` environment variable per field (later wins). A configured value may make
the memory budget stricter, never weaker than the machine allows."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.base.config import (
    FineTuningConfig,
    FineTuningConfigFactory,
    RuntimeConfigDetector,
)
from engine.base.errors import ConfigError, ValidationFailed
from engine.base.paths import DataDir, default_home
from engine.base.vocabulary import RATINGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # JetPack 6 ships Python 3.10
    import tomli as tomllib

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedConfig:
    """The effective configuration, its profile and where each field's value came from."""

    config: FineTuningConfig
    profile: str
    sources: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "config": self.config.model_dump(mode="json", by_alias=True),
            "sources": {FineTuningConfig.alias_of(k): v for k, v in self.sources.items()},
        }


_NOT_FIELDS = frozenset({"FAMTUNE_HOME", "FAMTUNE_PROFILE"})


_TABLES = ("fine_tuning", "fineTuning")


def env_var_for(name: str) -> str:
    """``batch_size`` -> ``FAMTUNE_BATCH_SIZE``."""
    return "FAMTUNE_" + name.upper()


def _toml_layer(path: Path) -> dict[str, tuple[str, Any]]:
    """field -> (key as written, value) from the TOML file; {} when there is no file."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except RecursionError:
        raise ConfigError(f"cannot read {path}: it is nested too deeply") from None
    items: list[tuple[str, str, Any]] = []  # (key as written, key, value)
    for key, value in doc.items():
        if key in _TABLES and isinstance(value, dict):
            items.extend((f"{key}.{k}", k, v) for k, v in value.items())
        else:
            items.append((key, key, value))
    out: dict[str, tuple[str, Any]] = {}
    for written, key, value in items:
        name = FineTuningConfig.field_for_key(key)
        if name is None:
            raise ConfigError(f"unknown configuration key {written!r} in {path}")
        if name in out:
            raise ConfigError(f"{written!r} in {path} sets {name} again (also {out[name][0]!r})")
        out[name] = (written, value)
    return out


def _parse_env(name: str, raw: str) -> Any:
    """An environment string in the shape the field's validator expects."""
    annotation = FineTuningConfig.model_fields[name].annotation
    if annotation == list[str]:
        return [part.strip() for part in raw.split(",") if part.strip()]
    if annotation == (str | None) and raw.strip().lower() in ("", "none", "null"):
        return None
    return raw.strip()


def _validation_failed(
    exc: ValidationError,
    written: dict[str, str],
    sources: dict[str, str],
    rank: dict[str, int],
    values: dict[str, Any],
) -> ValidationFailed:
    """The first pydantic error as a ValidationFailed naming the key as written and its source."""
    err = exc.errors()[0]
    names: list[str] = []
    if err["loc"]:
        names = [str(err["loc"][0])]
    elif err.get("ctx") and "fields" in err["ctx"]:
        names = str(err["ctx"]["fields"]).split(",")
    if not names:
        return ValidationFailed("", err["msg"])
    # Blame the involved field whose value came from the latest layer.
    name = max(names, key=lambda n: rank.get(n, 0))
    name = FineTuningConfig.field_for_key(name) or name
    source = sources.get(name, "default")
    key = written.get(name, name)
    return ValidationFailed(key, f"invalid value {values.get(name)!r} from {source}: {err['msg']}")


def load_config(
    data_dir: DataDir | Path | None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    detector: RuntimeConfigDetector | None = None,
) -> ResolvedConfig:
    """Profile, then ``<home>/famtune.toml``, then ``FAMTUNE_<FIELD>`` variables (see module doc).

    ``data_dir`` None means ``env["FAMTUNE_HOME"]`` or the default home. Unknown TOML keys
    raise ConfigError; bad values raise ValidationFailed naming the key and its source.
    Environment variables that are not ``FAMTUNE_<FIELD>`` are ignored.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if data_dir is None:
        home = environ.get("FAMTUNE_HOME")
        data_dir = DataDir(Path(home).expanduser() if home else default_home())
    elif not isinstance(data_dir, DataDir):
        data_dir = DataDir(Path(data_dir))

    name = profile or environ.get("FAMTUNE_PROFILE") or None
    if name:
        base = FineTuningConfigFactory.get_config(name)
        name = name.strip().lower().replace("_", "-")
        base_source = f"profile:{name}"
    else:
        name, base = (detector or RuntimeConfigDetector()).detect()
        base_source = "detector"

    values: dict[str, Any] = base.model_dump()
    sources = dict.fromkeys(values, base_source)
    written: dict[str, str] = {}
    rank = dict.fromkeys(values, 0)

    file = data_dir.config_file
    for field_name, (key, value) in _toml_layer(file).items():
        values[field_name], sources[field_name] = value, f"file:{file}"
        written[field_name], rank[field_name] = key, 1

    for field_name in FineTuningConfig.model_fields:
        var = env_var_for(field_name)
        if var in _NOT_FIELDS or var not in environ:
            continue
        values[field_name] = _parse_env(field_name, environ[var])
        sources[field_name], written[field_name], rank[field_name] = f"env:{var}", var, 2

    try:
        config = FineTuningConfig.model_validate(values)
    except ValidationError as exc:
        raise _validation_failed(exc, written, sources, rank, values) from exc
    config = _never_weaker(config, base, sources, base_source)
    return ResolvedConfig(config=config, profile=name, sources=sources)


def _never_weaker(
    config: FineTuningConfig, base: FineTuningConfig, sources: dict[str, str], base_source: str
) -> FineTuningConfig:
    """``famtune.toml`` and ``FAMTUNE_*`` may raise the safety threshold and lower the rating
    cap, never the other way past the profile's own values (nor turn a profile's strict
    privacy level into standard): a weaker override is replaced by the profile's value, and
    ``sources`` says it was ignored."""
    changes: dict[str, Any] = {}
    if config.safety_threshold < base.safety_threshold:
        changes["safety_threshold"] = base.safety_threshold
    if RATINGS.index(config.max_content_rating_cap) > RATINGS.index(
        base.max_content_rating_cap
    ):
        changes["max_content_rating_cap"] = base.max_content_rating_cap
    if base.privacy_level == "strict" and config.privacy_level != "strict":
        changes["privacy_level"] = "strict"
    for field_name, value in changes.items():
        log.warning(
            "%s from %s is weaker than the profile's %r and is ignored",
            field_name, sources[field_name], value,
        )  # fmt: skip
        sources[field_name] = (
            f"{base_source} ({sources[field_name]} ignored: it may only make this stricter)"
        )
    return config.model_copy(update=changes) if changes else config
