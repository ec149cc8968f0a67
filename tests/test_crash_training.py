"""SIGKILL at any moment of a family fine-tune (issue #5, "Done when").

One family goes through a real ``famtune-engine train`` that is killed again and again: while
the dataset is built, while the worker trains (the CLI killed: the worker saves a checkpoint
and stops; the worker itself killed: no checkpoint), and while the new version is evaluated.
After every kill: the database passes ``PRAGMA integrity_check``, the audit chain verifies,
the previous version is the active one and llama.cpp loads it, and no other version is
visible (no row, no numbered directory). A run left ``running`` is marked ``interrupted``.
Then a last ``train`` runs to the end, resuming the saved checkpoint, and ``recommend``
answers from the new version. The model store's commit is killed separately at each of its
steps (files staged, directory renamed, row written).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import CliRun

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "smith-family"
CONFIG = """\
epochs = 1
batchSize = 4
scorerBatchSize = 4
gateMinHoldoutSlates = 3
maxSeqLength = 256
inferenceThreads = 2
inferenceDeadlineS = 300.0
"""
CTX = {
    "at": "2026-11-21T16:00:00+00:00",
    "familyMembers": ["dad-john", "child-emma"],
    "currentActivity": "free time",
    "environmentalFactors": ["home", "rainy"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    path = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    env.update(PYTHONPATH=path, FAMTUNE_PROFILE="development", PYTHONUNBUFFERED="1")
    return env


def _engine(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=timeout,
    )


class TrainProcess:
    """``famtune-engine train`` in a subprocess, read line by line from its stderr."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "--home", str(home), "train",
             "--family", FAMILY, "--force", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
        )  # fmt: skip
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 600) -> str:
        """Read progress lines until one matches ``pattern``; returns it."""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"train ended before {pattern!r}:\n" + "".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n" + "".join(self.lines))

    def worker(self) -> psutil.Process:
        children = psutil.Process(self.proc.pid).children(recursive=True)
        workers = [c for c in children if "engine.training.worker" in " ".join(c.cmdline())]
        assert len(workers) == 1, children
        return workers[0]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL

    def finish(self, timeout: float = 1200) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, "".join(self.lines) + err


def _assert_consistent(home: Path, *, active: int, versions: set[int]) -> None:
    """The invariants after a kill (``models list`` also runs crash recovery first)."""
    from engine.db.database import Database

    database = Database(home / "famtune.db")
    try:
        assert database.integrity_check() == "ok"
    finally:
        database.close()
    listed = _engine(home, "models", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["models"]
    assert {r["version"] for r in rows} == versions
    assert [r["version"] for r in rows if r["isActive"]] == [active]
    on_disk = {p.name for p in (home / "models" / FAMILY).iterdir()}
    assert on_disk == {str(v) for v in versions}, on_disk  # no staging leftovers either
    verify = _engine(home, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    valid = _engine(home, "models", "validate", "--json")  # llama.cpp loads the adapter
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert json.loads(valid.stdout)["results"] == {FAMILY: True}
    assert all(r["status"] != "running" for r in _runs(home))  # marked interrupted


def _runs(home: Path) -> list[dict[str, Any]]:
    import sqlite3

    with sqlite3.connect(home / "famtune.db") as db:
        return [
            {"status": s, "error": e}
            for s, e in db.execute("SELECT status, error FROM training_run ORDER BY id")
        ]


@pytest.fixture
def family_home(training_cache: Path, home: Path, cli: CliRun) -> Path:
    """The smith family with a simulated history and an active version 1 (a small random
    LoRA adapter that llama.cpp applies), in a data dir holding the training copy."""
    from engine.domain.home import Famtune
    from tests.test_inference import commit_random_adapter

    assert (home / "base").is_dir() and training_cache.is_dir()
    (home / "famtune.toml").write_text(CONFIG)
    # Without time windows and blocked topics the gate's safety suite is shorter (the
    # strict child, the family and the adversarial contexts): the evaluation is the slow
    # part on a CPU, and the rules are not what this test is about.
    doc = json.loads((ROOT / "tests" / "data" / "smith-family.json").read_text())
    doc["safetySettings"].update(timeRestrictions=[], blockedTopics=[])
    for member in doc["members"]:
        member["preferences"]["avoidedTopics"] = []
    profile = home / "smith.json"
    profile.write_text(json.dumps(doc))
    code, _, err = cli("family", "import", str(profile))
    assert code == 0, err
    code, _, err = cli("simulate", "--family", FAMILY, "--interactions", "90", "--seed", "3")
    assert code == 0, err
    ft = Famtune(home, profile="development")
    try:
        assert commit_random_adapter(ft, FAMILY) == 1
    finally:
        ft.close()
    return home


def test_sigkill_during_training_keeps_the_previous_version(family_home: Path) -> None:
    home = family_home
    _assert_consistent(home, active=1, versions={1})

    # 1. While the dataset is built.
    run = TrainProcess(home)
    run.wait_for("Reading this family's moments")
    run.kill()
    _assert_consistent(home, active=1, versions={1})

    # 2. The CLI killed mid-training: the worker reads end-of-file, checkpoints and stops.
    run = TrainProcess(home)
    run.wait_for(r"step 1/\d+")
    worker = run.worker()
    run.kill()
    worker.wait(timeout=300)
    _assert_consistent(home, active=1, versions={1})
    assert [r["status"] for r in _runs(home)][-1] == "interrupted"
    assert "before it finished" in str(_runs(home)[-1]["error"])

    # 3. The worker itself killed (as by the kernel's OOM killer): the run fails plainly;
    #    it resumed from step 2's checkpoint first.
    run = TrainProcess(home)
    plan = run.wait_for(r"from step \d+")
    assert int(re.search(r"from step (\d+)", plan).group(1)) >= 1, plan  # type: ignore[union-attr]
    run.wait_for(r"step \d+/\d+")
    run.worker().send_signal(signal.SIGKILL)
    code, out, err = run.finish(timeout=120)
    assert code == 0, err  # the CLI reports the outcome; it did not crash
    outcome = json.loads(out)
    assert outcome["created"] is False and "stopped by the system" in outcome["reason"], outcome
    _assert_consistent(home, active=1, versions={1})
    assert _runs(home)[-1]["status"] == "failed"

    # 4. While the new version is evaluated (its files are staged, not published).
    run = TrainProcess(home)
    run.wait_for("Checking the new model")
    staged = list((home / "models" / FAMILY).glob(".staging-*"))
    assert staged and (staged[0] / "adapter.gguf").is_file()
    run.kill()
    _assert_consistent(home, active=1, versions={1})

    # 5. To the end: a new version is created; if it passes the gate it serves.
    run = TrainProcess(home)
    code, out, err = run.finish()
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["created"] is True and outcome["version"] == 2, outcome
    assert outcome["safetyScore"] is not None and outcome["performanceScore"] is not None
    if outcome["activated"]:
        _assert_consistent(home, active=2, versions={1, 2})
        ctx = home / "ctx.json"
        ctx.write_text(json.dumps(CTX))
        answer = _engine(home, "recommend", "--family", FAMILY, "--context", str(ctx),
                         "-n", "3", "--json", timeout=600)  # fmt: skip
        assert answer.returncode == 0, answer.stderr
        recs = json.loads(answer.stdout)["recommendations"]
        assert recs and {r["source"] for r in recs} == {"family-model"}, recs
        assert {r["modelVersion"] for r in recs} == {2}
    else:
        _assert_consistent(home, active=1, versions={1, 2})


COMMIT_CHILD = textwrap.dedent(
    """
    import sys, time
    import engine.domain.modelstore as ms
    from engine.domain.home import Famtune
    from tests.test_inference import commit_random_adapter

    home, point = sys.argv[1], sys.argv[2]

    def pause(name):
        if name == point:
            print(name, flush=True)
            time.sleep(600)

    real_tree, real_dir = ms.fsync_tree, ms.fsync_dir
    ms.fsync_tree = lambda p: (real_tree(p), pause("staged"))
    ms.fsync_dir = lambda p: (real_dir(p), pause("renamed"))
    commit_random_adapter(Famtune(home, profile="development"), "smith-family", seed=5)
    pause("committed")
    """
)


@pytest.mark.parametrize("point", ["staged", "renamed", "committed"])
def test_sigkill_during_model_commit(point: str, home: Path, cli: CliRun) -> None:
    """Killed inside ``ModelStore.commit``: before the row commits the new version is
    invisible (and its files are removed at the next start); after, it is complete."""
    from engine.domain.home import Famtune
    from engine.domain.modelstore import ModelStore
    from tests.test_inference import commit_random_adapter

    code, _, err = cli("family", "import", str(ROOT / "tests" / "data" / "smith-family.json"))
    assert code == 0, err

    ft = Famtune(home, profile="development")
    try:
        commit_random_adapter(ft, FAMILY)
    finally:
        ft.close()
    child = subprocess.Popen(
        [sys.executable, "-c", COMMIT_CHILD, str(home), point],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=ROOT,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == point
    child.kill()
    child.wait(timeout=30)
    if point == "committed":
        _assert_consistent(home, active=2, versions={1, 2})
        ft = Famtune(home, profile="development")
        try:
            ModelStore(ft).verify_files(ModelStore(ft).active(FAMILY))  # type: ignore[arg-type]
        finally:
            ft.close()
    else:
        _assert_consistent(home, active=1, versions={1})
