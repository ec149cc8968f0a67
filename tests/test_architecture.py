"""Layering rules that review alone would not keep: the engine never imports Qt, and the GUI
starts without torch, transformers, peft or llama_cpp."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "llama_cpp")


def _imports(path: Path, *, top_level_only: bool) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_engine_never_imports_qt() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "engine").rglob("*.py")
        for name in _imports(path, top_level_only=False)
        if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "qtpy", "famtune_gui")
    ]
    assert offenders == []


def test_heavy_ml_modules_are_imported_lazily() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for pkg in ("engine", "famtune_gui")
        for path in (ROOT / pkg).rglob("*.py")
        for name in _imports(path, top_level_only=True)
        if name.split(".")[0] in HEAVY
    ]
    assert offenders == []


def test_cli_and_gui_entry_modules_do_not_load_heavy_modules() -> None:
    code = (
        "import sys, engine.cli.main, famtune_gui.app\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin"})
    assert out.stdout.strip() == "[]"


def _floors() -> list[str]:
    return sorted(
        p.name for p in (ROOT / "engine").iterdir() if (p / "__init__.py").is_file()
    )


def test_modules_stay_a_few_hundred_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for pkg in ("engine", "famtune_gui")
        for path in (ROOT / pkg).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 500
    ]
    assert long == []


def test_every_floor_is_in_the_layers_contract_and_the_docs() -> None:
    """A new folder under engine/ cannot escape the import-linter contract, and the README's
    layout and docs/ARCHITECTURE.md name it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    in_contract = {
        name.strip().removeprefix("engine.")
        for layer in layers["layers"]
        for name in layer.split("|")
    }
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    for floor in _floors():
        if floor == "migrations":
            continue
        assert floor in in_contract, f"engine/{floor} is not in the layers contract"
        assert f"engine/{floor}/" in architecture, f"docs/ARCHITECTURE.md misses engine/{floor}/"
        assert f"{floor}/" in layout, f"the README's layout misses {floor}/"


# The CLI reaches the engine only through the application layer (what the GUI calls too), so
# a command and a screen cannot drift apart. engine.base is shared by every floor.
CLI_MAY_IMPORT = ("engine.app", "engine.base", "engine.cli")


def _engine_imports(path: Path) -> list[str]:
    """Every engine module a file imports, anywhere in it, as a dotted name: ``from engine
    import app`` counts as ``engine.app``."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "engine":
                names += [f"engine.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
    return [n for n in names if n == "engine" or n.startswith("engine.")]


def _allowed_for_cli(name: str) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in CLI_MAY_IMPORT)


def test_the_cli_imports_only_the_application_layer_and_base() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "engine" / "cli").rglob("*.py")
        for name in _engine_imports(path)
        if not _allowed_for_cli(name)
    ]
    assert offenders == []


def test_the_cli_boundary_check_catches_a_lower_floor(tmp_path: Path) -> None:
    """The check above would fail if a command imported engine.domain (in any spelling)."""
    probe = tmp_path / "probe_cmds.py"
    probe.write_text(
        "from engine import app as actions\n"
        "from engine.base.errors import FamtuneError\n"
        "from engine import domain\n"
        "def f():\n"
        "    from engine.domain.families import get_profile\n"
        "    import engine.schema.context\n"
    )
    bad = [n for n in _engine_imports(probe) if not _allowed_for_cli(n)]
    assert bad == ["engine.domain", "engine.domain.families", "engine.schema.context"]


def test_the_cli_uses_no_database_library() -> None:
    """Queries belong to the floors under engine.app; the CLI formats what actions return."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "engine" / "cli").rglob("*.py")
        for name in _imports(path, top_level_only=False)
        if name.split(".")[0] in ("sqlmodel", "sqlalchemy")
    ]
    assert offenders == []


def test_the_cli_contract_forbids_every_floor_below_the_application_layer() -> None:
    """A new floor is forbidden to the CLI as soon as it exists (lint-imports checks it)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["type"] == "forbidden" and c["source_modules"] == ["engine.cli"]
    )
    floors = {f"engine.{floor}" for floor in _floors() if floor != "migrations"}
    below = floors - {f"engine.{name}" for name in ("app", "base", "cli")}
    assert below <= set(contract["forbidden_modules"])
    assert contract.get("allow_indirect_imports") is True  # through engine.app, by design


# The GUI is the application layer's other caller: a screen runs actions and shows what they
# return, and the types, constants and events it shows come from engine.app too.
GUI_MAY_IMPORT = ("engine.app", "engine.base")


def _allowed_for_gui(name: str) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in GUI_MAY_IMPORT)


def test_the_gui_imports_only_the_application_layer_and_base() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "famtune_gui").rglob("*.py")
        for name in _engine_imports(path)
        if not _allowed_for_gui(name)
    ]
    assert offenders == []


def test_the_gui_boundary_check_catches_a_lower_floor(tmp_path: Path) -> None:
    """The check above would fail if a screen imported engine.domain, a seed name of it
    (engine.core) or the CLI, in any spelling."""
    probe = tmp_path / "probe_screen.py"
    probe.write_text(
        "from engine import app as actions\n"
        "from engine.app import FamilyProfile\n"
        "from engine.base.errors import FamtuneError\n"
        "from engine.domain import pin\n"
        "import engine.core\n"
        "def f():\n"
        "    from engine.schema.profiles import FamilyProfile\n"
        "    from engine import cli\n"
    )
    bad = [n for n in _engine_imports(probe) if not _allowed_for_gui(n)]
    assert bad == ["engine.domain", "engine.core", "engine.schema.profiles", "engine.cli"]


def test_the_gui_uses_no_database_library() -> None:
    """Queries belong to the floors under engine.app; the GUI shows what actions return."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "famtune_gui").rglob("*.py")
        for name in _imports(path, top_level_only=False)
        if name.split(".")[0] in ("sqlmodel", "sqlalchemy")
    ]
    assert offenders == []


def test_the_gui_contract_forbids_every_floor_below_the_application_layer() -> None:
    """A new floor is forbidden to the GUI as soon as it exists (lint-imports checks it), and
    so are the seed's top-level names of lower floors."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["type"] == "forbidden" and c["source_modules"] == ["famtune_gui"]
    )
    floors = {f"engine.{floor}" for floor in _floors() if floor != "migrations"}
    below = floors - {f"engine.{name}" for name in ("app", "base", "cli")}
    forbidden = set(contract["forbidden_modules"])
    assert below <= forbidden
    assert {"engine.core", "engine.interactions", "sqlalchemy", "sqlmodel"} <= forbidden
    assert contract.get("allow_indirect_imports") is True  # through engine.app, by design
