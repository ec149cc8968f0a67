"""Where famtune keeps its data, and the files inside the data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from engine.base.errors import FamtuneError
from engine.base.ids import check_id


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

    @property
    def training_root(self) -> Path:
        return self.root / "training"

    @property
    def checkpoints_root(self) -> Path:
        return self.root / "checkpoints"

    def inside(self, path: Path, under: Path | None = None) -> Path:
        """``path`` if it resolves (symlinks followed) to a place strictly below ``under``
        (default: the data directory), else FamtuneError. Every path built from input goes
        through here before anything is read, written or removed there."""
        base = (under or self.root).resolve()
        resolved = path.resolve()
        if resolved == base or not resolved.is_relative_to(base):
            raise FamtuneError(f"refusing to use {path}: it is outside {base}")
        return path

    def _family_path(self, parent: Path, family_id: str) -> Path:
        return self.inside(parent / check_id(family_id, "familyId"), parent)

    def family_models(self, family_id: str) -> Path:
        """``models/<family>/``; the id is checked and the path kept inside ``models/``."""
        return self._family_path(self.models_dir, family_id)

    def family_training(self, family_id: str) -> Path:
        """``training/<family>/``: the training job's work folder (tokenized sessions,
        checkpoints of a stopped run)."""
        return self._family_path(self.training_root, family_id)

    def family_checkpoints(self, family_id: str) -> Path:
        return self._family_path(self.checkpoints_root, family_id)

    def family_dirs(self, family_id: str) -> list[Path]:
        """Every directory that holds files derived from one family's data."""
        return [
            self.family_models(family_id),
            self.family_training(family_id),
            self.family_checkpoints(family_id),
        ]

    def version_dir(self, family_id: str, version: int) -> Path:
        """Where a model version's files live. Always derived from the data directory, so a
        data directory that was moved or copied still finds its models."""
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise FamtuneError(f"{version!r} is not a model version number")
        return self.family_models(family_id) / str(version)

    def ensure(self) -> None:
        """Create the directory tree with owner-only permissions."""
        for path in (self.root, self.base_dir, self.models_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
