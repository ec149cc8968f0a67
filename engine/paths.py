"""Where famtune keeps its data, and the files inside the data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def default_home() -> Path:
    """``$FAMTUNE_HOME``, else ``$XDG_DATA_HOME/famtune``, else ``~/.local/share/famtune``."""
    env = os.environ.get("FAMTUNE_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "famtune"


def resource_path(name: str) -> Path:
    """Path of a file shipped in the ``resources`` package (catalog, lexicon, theme...)."""
    return Path(str(resources.files("resources").joinpath(name)))


@dataclass(frozen=True)
class DataDir:
    """The layout of one data directory."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / "famtune.db"

    @property
    def key_file(self) -> Path:
        return self.root / "famtune.key"

    @property
    def config_file(self) -> Path:
        return self.root / "famtune.toml"

    @property
    def base_dir(self) -> Path:
        return self.root / "base"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def family_models(self, family_id: str) -> Path:
        return self.models_dir / family_id

    def version_dir(self, family_id: str, version: int) -> Path:
        """Where a model version's files live. Always derived from the data directory, so a
        data directory that was moved or copied still finds its models."""
        return self.family_models(family_id) / str(version)

    def ensure(self) -> None:
        """Create the directory tree with owner-only permissions."""
        for path in (self.root, self.base_dir, self.models_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
