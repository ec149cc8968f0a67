"""Shared fixtures. A real data directory is initialized once per test session (base model
assembled and verified) and each test gets its own copy, with the large model files
hard-linked rather than copied."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NETBLOCK = Path(__file__).parent / "netblock"
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(NETBLOCK), os.environ.get("PYTHONPATH")) if p
)  # child processes: outbound network blocked (tests/netblock/sitecustomize.py)
import tests.netblock.sitecustomize  # noqa: E402,F401  (and in this process)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("FAMTUNE_PROFILE", None)
os.environ.pop("FAMTUNE_HOME", None)

DATA = Path(__file__).parent / "data"
LARGE = 1 << 20


def clone_home(src: Path, dst: Path) -> Path:
    """Copy a data directory; files over 1 MiB are hard-linked (they are never rewritten)."""

    def copy(s: str, d: str) -> None:
        if os.path.getsize(s) > LARGE:
            os.link(s, d)
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy)
    return dst


@pytest.fixture(scope="session")
def template_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialized data directory (schema, key, verified base model), without families."""
    from engine.domain.home import Famtune

    home = tmp_path_factory.mktemp("template") / "home"
    ft = Famtune(home, profile="development")
    ft.initialize(demo=False, training_cache=False)
    ft.close()
    return home


@pytest.fixture
def home(template_home: Path, tmp_path: Path) -> Path:
    """A fresh initialized data directory for one test."""
    return clone_home(template_home, tmp_path / "home")


@pytest.fixture
def smith_profile() -> dict[str, Any]:
    """The seed's smith-family profile, exactly as the seed writes it."""
    loaded: dict[str, Any] = json.loads((DATA / "smith-family.json").read_text())
    return loaded


@pytest.fixture
def engine_ctx(home: Path) -> Iterator[Any]:
    from engine.domain.home import Famtune

    ft = Famtune(home, profile="development")
    yield ft
    ft.close()


class CliRun:
    """Runs ``famtune-engine`` in-process and captures what it prints."""

    def __init__(self, capsys: pytest.CaptureFixture[str], home: Path) -> None:
        self.capsys = capsys
        self.home = home

    def __call__(self, *args: str, home: bool = True) -> tuple[int, str, str]:
        from engine.cli.main import main

        argv = [*(["--home", str(self.home)] if home else []), *args]
        self.capsys.readouterr()
        code = main(argv)
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], home: Path) -> CliRun:
    return CliRun(capsys, home)


# -- the base model (engine.basemodel) ---------------------------------------------------


@pytest.fixture(scope="session")
def base_model_data(template_home: Path) -> Any:
    """A ``DataDir`` holding the assembled bundled base model: the template home's.

    Set ``FAMTUNE_TEST_BASE_HOME`` to a directory to keep the base model and its training
    copy between sessions; it is then reused instead of rebuilt.
    """
    from engine import basemodel
    from engine.base.paths import DataDir

    keep = os.environ.get("FAMTUNE_TEST_BASE_HOME")
    if not keep:
        return DataDir(template_home)
    data = DataDir(Path(keep).expanduser())
    data.base_dir.mkdir(parents=True, exist_ok=True)
    basemodel.assemble_base_model(data)
    return data


@pytest.fixture(scope="session")
def training_cache(base_model_data: Any) -> Path:
    """The training copy of the bundled base model (bf16 safetensors + fast tokenizer).
    Prepared once per session in a subprocess: about a minute and a 3.2 GB peak."""
    from engine import basemodel

    info = basemodel.assemble_base_model(base_model_data)
    return basemodel.prepare_training_cache(base_model_data, info.path, sha256=info.sha256)
