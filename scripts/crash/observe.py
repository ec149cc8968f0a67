"""The checks after a kill, run in a fresh process (like the app after a restart): the
database file first, then the engine's own commands, which run crash recovery."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from scripts.crash.commands import FAMILY, ROOT, SCRIPT, engine_env


def _cli(argv: list[str]) -> tuple[int, Any, str]:
    """One ``famtune-engine`` command in this process: exit code, --json document, stderr."""
    from engine.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    try:
        doc = json.loads(out.getvalue()) if out.getvalue().strip() else None
    except ValueError:
        doc = out.getvalue()
    return code, doc, err.getvalue().strip()


def observe(home: Path) -> dict[str, Any]:
    """Everything the checks need, read the way the app would after a restart. The database
    file is checked first, before anything opens it through the engine (and recovers)."""
    import sqlite3

    from engine.db.database import Database

    state: dict[str, Any] = {}
    database = Database(home / "famtune.db")
    try:
        state["integrity"] = database.integrity_check()
    finally:
        database.close()
    with contextlib.closing(sqlite3.connect(home / "famtune.db")) as db:
        state["foreignKeyErrors"] = len(db.execute("PRAGMA foreign_key_check").fetchall())
    models = home / "models" / FAMILY
    state["stagingBeforeRecovery"] = sorted(
        p.name for p in models.glob(".staging-*")) if models.is_dir() else []  # fmt: skip
    g = ["--home", str(home), "--json"]
    code, doc, err = _cli(["models", "list", *g])  # runs crash recovery first
    state["modelsList"] = {"rc": code, "err": err}
    state["rows"] = sorted(m["version"] for m in doc["models"]) if code == 0 else None
    state["active"] = ([m["version"] for m in doc["models"] if m["isActive"]]
                       if code == 0 else None)  # fmt: skip
    entries = sorted(p.name for p in models.iterdir()) if models.is_dir() else []
    state["dirs"] = sorted(int(n) for n in entries if n.isdigit())
    state["staging"] = [n for n in entries if n.startswith(".staging-")]
    state["otherEntries"] = [n for n in entries if not n.isdigit() and n not in state["staging"]]
    state["versionFiles"] = version_files(home)
    code, doc, err = _cli(["models", "validate", *g])
    state["validate"] = {"rc": code, "results": (doc or {}).get("results"), "err": err}
    code, doc, err = _cli(["audit", "verify", *g])
    state["auditVerify"] = {"rc": code, "doc": doc, "err": err}
    code, doc, err = _cli(["audit", "list", "--limit", "100000000", *g])
    events = doc["events"] if code == 0 else []
    state["auditCount"] = len(events) if code == 0 else None
    state["lastAuditType"] = events[0]["eventType"] if events else None
    code, doc, err = _cli(["family", "export", FAMILY, *g])
    state["profile"] = doc if code == 0 else None
    state["profileErr"] = err
    code, doc, err = _cli(["interactions", "list", "--family", FAMILY, *g])
    state["interactions"] = len(doc["interactions"]) if code == 0 else None
    state["interactionsErr"] = err
    code, doc, err = _cli(["metrics", *g])
    state["metrics"] = doc if code == 0 else {"rc": code, "err": err}
    with contextlib.closing(sqlite3.connect(home / "famtune.db")) as db:
        state["runs"] = [s for (s,) in db.execute("SELECT status FROM training_run ORDER BY id")]
    return state


def version_files(home: Path) -> dict[str, str]:
    """Every version's files against the sha256 in its manifest, active or not."""
    from engine.base.errors import FamtuneError
    from engine.domain.home import Famtune
    from engine.domain.modelstore import ModelStore

    ft = Famtune(home, profile="development")
    try:
        store = ModelStore(ft)
        report = {}
        for info in store.versions():
            try:
                store.verify_files(info)
                report[str(info.version)] = "ok"
            except FamtuneError as exc:
                report[str(info.version)] = str(exc)
        return report
    finally:
        ft.close()


def observe_in_subprocess(home: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(SCRIPT), "--observe", str(home)],
                          capture_output=True, text=True, env=engine_env(), cwd=ROOT,
                          timeout=600)  # fmt: skip
    if done.returncode != 0:
        return {"observerError": (done.stderr or done.stdout).strip()[-2000:]}
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded
