"""Crash drill: SIGKILL the engine at random moments and check that nothing committed is lost.

    .venv/bin/python scripts/crash_drill.py [--kills 50] [--seed 1] [--home DIR [--no-init]]
                                            [--kinds profile,safety,...] [--json]

A data directory is prepared once (``famtune-engine init``, or a copy of ``--home``): the
smith family, a simulated history, a parental PIN and two committed model versions (small
random LoRA adapters that llama.cpp applies). Then, again and again, one engine command is
started as a fresh process and killed with SIGKILL after a random delay:

- ``profile``: ``family import`` of a changed profile (ages, interests, learning style);
- ``safety``: ``family import`` that changes the parental settings (content rating, blocked
  topics, time windows, a member's safety level), with the PIN from ``$FAMTUNE_PIN``;
- ``interactions``: ``interactions import`` of a few hundred JSONL lines (all or nothing);
- ``interaction``: one ``interactions add``;
- ``rollback``: ``models rollback F --to V`` between two committed versions;
- ``train``: ``train --family F --force`` killed in its first minute: the CLI (its worker
  finishes its step, checkpoints and stops), the training worker (the CLI must report it),
  or both at once (the process group, as a power cut would).

The delay is uniform over a window measured first: one unkilled run of each command gives
its duration ``T``; most kills fall between the interpreter's start-up time and ``T`` (where
the command does its work), the rest anywhere in ``[0, T]``. A command that finished before
its kill counts as a completed (acknowledged) command, not a kill, and the drill tries again.

After every kill a fresh process (like the app after a restart) checks:
``PRAGMA integrity_check`` and ``foreign_key_check``; ``models list`` (which runs crash
recovery) and the model directories: every row has its numbered directory and no directory
is without a row, no ``.staging-*`` is left, one version is active; ``models validate`` exits
0 with every result true (llama.cpp loads the active adapter); ``audit verify`` exits 0; no
training run is left ``running``; and every acknowledged change is there while the killed
command's change is all there or not at all: the exported profile equals the last
acknowledged or the in-flight one, the interaction count equals the acknowledged count or
that plus the whole batch, the active version is the previous or the requested one, and the
audit trail grew by the killed command's event exactly when its change is visible.

``--restart-at-once`` checks right after a killed ``train`` CLI, while its orphaned worker
still finishes its step (as an app that systemd restarts at once would), then looks for
files that worker wrote after crash recovery had run.

Exit status 1 when any check failed (each failure names the kill and the check).
SIGKILL of a process is not a power cut: the kernel still writes out the page cache, so
this proves atomicity and recovery, not fsync ordering (SQLite runs ``synchronous=FULL``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAMILY = "smith-family"
PROFILE_FILE = ROOT / "tests" / "data" / "smith-family.json"
PIN = "4826"
CONFIG = "epochs = 1\ninferenceDeadlineS = 300.0\n"
KINDS = ("profile", "safety", "interactions", "interaction", "rollback", "train")
CHEAP_KINDS = KINDS[:-1]
AUDIT_EVENT = {"profile": "profile_updated", "safety": "settings_changed",
               "rollback": "model_rolled_back"}  # fmt: skip
TRAIN_MODES = ("cli", "worker", "group")
WORKER_MODULE = "engine.training.worker"

INTERESTS = ["technology", "sports", "cooking", "animals", "drawing", "music", "science",
             "history", "reading", "nature", "games", "crafts", "dance", "building"]  # fmt: skip
TOPICS = ["violence", "adult_content", "horror", "gambling", "weapons", "scary_content",
          "alcohol", "dating"]  # fmt: skip
STYLES = ["visual", "auditory", "kinesthetic", "reading"]
ACTIVITIES = ["breakfast", "homework", "playtime", "reading", "dinner", "bedtime", "cooking",
              "music", "drawing", "travel"]  # fmt: skip
FACTORS = ["home", "away", "indoors", "outdoors", "weekend", "rainy", "sunny", "tired",
           "guests", "school_night"]  # fmt: skip
OUTCOMES = ["shown", "accepted", "accepted", "dismissed", "completed", "rated"]


# -- running the engine --------------------------------------------------------------------


def engine_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), FAMTUNE_PROFILE="development", PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", FAMTUNE_PIN=PIN)  # fmt: skip
    env.pop("FAMTUNE_HOME", None)
    return env


def engine_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli.main", "--home", str(home), *args]


def run_engine(home: Path, *args: str, timeout: float = 900, stdin: str | None = None) -> Any:
    """An unkilled engine command; returns its --json document (fails loudly otherwise)."""
    done = subprocess.run(engine_cmd(home, *args, "--json"), capture_output=True, text=True,
                          env=engine_env(), cwd=ROOT, timeout=timeout, input=stdin)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"crash drill: set-up step {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None


# -- the checks after a kill (run in a fresh process) ---------------------------------------


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
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--observe", str(home)],
                          capture_output=True, text=True, env=engine_env(), cwd=ROOT,
                          timeout=600)  # fmt: skip
    if done.returncode != 0:
        return {"observerError": (done.stderr or done.stdout).strip()[-2000:]}
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


# -- what the drill expects -------------------------------------------------------------------


@dataclass
class Acked:
    """The state every acknowledged command has left (what must survive any crash)."""

    profile: dict[str, Any]
    interactions: int
    audit: int
    active: int
    versions: list[int]


@dataclass
class InFlight:
    """The change the killed command was making: visible in full, or not at all."""

    kind: str
    profile: dict[str, Any] | None = None
    interactions: int = 0
    target: int | None = None


def invariant_failures(state: dict[str, Any]) -> list[str]:
    """Checks that hold whatever was killed."""
    if "observerError" in state:
        return [f"the checking process failed: {state['observerError']}"]
    bad: list[str] = []
    if state["integrity"] != "ok":
        bad.append(f"integrity_check: {state['integrity']}")
    if state["foreignKeyErrors"]:
        bad.append(f"foreign_key_check: {state['foreignKeyErrors']} rows")
    if state["modelsList"]["rc"] != 0:
        bad.append(f"models list failed: {state['modelsList']['err']}")
    elif state["rows"] != state["dirs"]:
        bad.append(f"model rows {state['rows']} != version directories {state['dirs']}")
    broken = {v: why for v, why in state["versionFiles"].items() if why != "ok"}
    if broken:
        bad.append(f"model versions with bad files: {broken}")
    if state["staging"]:
        bad.append(f"staging directories left after recovery: {state['staging']}")
    if state["active"] is not None and len(state["active"]) != 1:
        bad.append(f"active versions {state['active']} (expected exactly one)")
    valid = state["validate"]
    if valid["rc"] != 0 or not valid["results"] or not all(valid["results"].values()):
        bad.append(f"models validate: rc {valid['rc']} {valid['results']} {valid['err']}")
    verify = state["auditVerify"]
    if verify["rc"] != 0:
        bad.append(f"audit verify: rc {verify['rc']} {verify['err'] or verify['doc']}")
    elif state["auditCount"] != (verify["doc"] or {}).get("eventsChecked"):
        bad.append(f"audit list shows {state['auditCount']} events, verify checked "
                   f"{(verify['doc'] or {}).get('eventsChecked')}")  # fmt: skip
    if state["profile"] is None:
        bad.append(f"family export failed: {state['profileErr']}")
    if state["interactions"] is None:
        bad.append(f"interactions list failed: {state['interactionsErr']}")
    if "running" in state["runs"]:
        bad.append("a training run is still marked running after recovery")
    if state["metrics"].get("activeModels") != 1:
        bad.append(f"metrics: {state['metrics']}")
    return bad


def change_failures(
    state: dict[str, Any], acked: Acked, flight: InFlight, *, completed: bool
) -> list[str]:
    """The acknowledged state is all there, and the in-flight change is all or nothing
    (all, when the command completed before its kill)."""
    if "observerError" in state or state["profile"] is None or state["active"] is None:
        return []  # already reported
    bad: list[str] = []
    active = state["active"][0] if state["active"] else None
    applied = {
        "profile": state["profile"] == flight.profile,
        "safety": state["profile"] == flight.profile,
        "interactions": state["interactions"] == acked.interactions + flight.interactions,
        "interaction": state["interactions"] == acked.interactions + flight.interactions,
        "rollback": active == flight.target,
        "train": False,
    }[flight.kind]
    if completed and flight.kind != "train" and not applied:
        bad.append("the command exited 0 but its change is not in the database")
    # the profile
    if state["profile"] != acked.profile and not (flight.profile and applied):
        bad.append("the profile is neither the acknowledged one nor the in-flight one")
    # interactions: acknowledged, or acknowledged plus the whole in-flight batch
    allowed = {acked.interactions, acked.interactions + flight.interactions}
    if state["interactions"] not in allowed:
        bad.append(f"{state['interactions']} interactions, expected one of {sorted(allowed)}")
    # models
    if flight.kind == "train":
        new = [v for v in state["rows"] if v > max(acked.versions)]
        if len(new) > 1:
            bad.append(f"one killed training run published versions {new}")
        if active != acked.active and active not in new:
            bad.append(f"active version {active}, expected {acked.active} or a new one")
        if not new and state["rows"] != acked.versions:
            bad.append(f"versions {state['rows']}, expected {acked.versions}")
    else:
        if state["rows"] != acked.versions:
            bad.append(f"versions {state['rows']}, expected {acked.versions}")
        if active not in {acked.active, flight.target}:
            bad.append(f"active version {active}, expected {acked.active} (or {flight.target})")
    # the audit trail grows by the command's one event exactly when its change is visible
    count = state["auditCount"]
    if flight.kind == "train":
        if count is None or count < acked.audit:
            bad.append(f"audit events {count}, fewer than the acknowledged {acked.audit}")
    else:
        step = 1 if flight.kind in AUDIT_EVENT and applied else 0
        if count != acked.audit + step:
            bad.append(f"audit events {count}, expected {acked.audit + step} "
                       f"(change {'visible' if applied else 'absent'})")  # fmt: skip
        elif step and state["lastAuditType"] != AUDIT_EVENT[flight.kind]:
            bad.append(f"newest audit event {state['lastAuditType']}, "
                       f"expected {AUDIT_EVENT[flight.kind]}")  # fmt: skip
    return bad


def after_completion(acked: Acked, flight: InFlight) -> Acked:
    """The acknowledged state after ``flight`` completed."""
    return Acked(profile=flight.profile or acked.profile,
                 interactions=acked.interactions + flight.interactions,
                 audit=acked.audit + (1 if flight.kind in AUDIT_EVENT else 0),
                 active=flight.target or acked.active, versions=acked.versions)  # fmt: skip


def acked_from(state: dict[str, Any]) -> Acked:
    return Acked(profile=state["profile"], interactions=state["interactions"],
                 audit=state["auditCount"], active=state["active"][0],
                 versions=list(state["rows"]))  # fmt: skip


# -- what the killed commands do ---------------------------------------------------------------


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """A profile as ``family export`` prints it after importing ``document``."""
    from engine.schema.profiles import parse_profile_text

    return parse_profile_text(json.dumps(document)).to_json()


def mutate_profile(rng: random.Random, current: dict[str, Any], *, safety: bool) -> dict[str, Any]:
    """A valid variant of the profile: parental settings changed only with ``safety``."""
    doc = copy.deepcopy(current)
    while normalized(doc) == current:
        if safety:
            settings = doc["safetySettings"]
            choice = rng.randrange(4)
            if choice == 0:
                settings["maxContentRating"] = rng.choice(["G", "PG", "PG-13"])
            elif choice == 1:
                settings["blockedTopics"] = rng.sample(TOPICS, rng.randint(1, 4))
            elif choice == 2:
                settings["timeRestrictions"] = [{
                    "startTime": f"{rng.randint(19, 22):02d}:{rng.choice(['00', '30'])}",
                    "endTime": f"{rng.randint(6, 8):02d}:00",
                    "daysOfWeek": sorted(rng.sample(range(7), rng.randint(1, 7))),
                    "restrictedContent": rng.sample(["entertainment", "games", "video"], 1),
                }]  # fmt: skip
            else:
                member = rng.choice(doc["members"])
                member["safetyLevel"] = rng.choice(["strict", "moderate", "relaxed"])
        else:
            member = rng.choice(doc["members"])
            prefs = member["preferences"]
            if member["role"] == "child":
                member["age"] = rng.randint(4, 12)
            else:
                member["age"] = rng.randint(28, 60)
            prefs["interests"] = rng.sample(INTERESTS, rng.randint(1, 5))
            prefs["learningStyle"] = rng.choice(STYLES)
    return doc


def catalog_ids() -> list[str]:
    doc = json.loads((ROOT / "resources" / "catalog.json").read_text())
    return sorted(str(a["id"]) for a in doc["activities"])


def interaction_record(rng: random.Random, items: list[str], members: list[str]) -> dict[str, Any]:
    at = datetime.now(timezone.utc) - timedelta(minutes=rng.randint(10, 40 * 24 * 60))
    outcome = rng.choice(OUTCOMES)
    record: dict[str, Any] = {
        "member": rng.choice(members), "itemId": rng.choice(items), "outcome": outcome,
        "at": at.isoformat(),
        "context": {"at": at.isoformat(),
                    "familyMembers": rng.sample(members, rng.randint(1, len(members))),
                    "currentActivity": rng.choice(ACTIVITIES),
                    "environmentalFactors": rng.sample(FACTORS, rng.randint(0, 3))},
    }  # fmt: skip
    if outcome == "rated":
        record["rating"] = rng.randint(1, 5)
    return record


@dataclass
class Job:
    """One engine command to start (and usually kill), and the change it makes."""

    kind: str
    args: list[str]
    flight: InFlight
    mode: str = ""  # train: cli, worker or group


def make_job(
    kind: str,
    rng: random.Random,
    acked: Acked,
    work: Path,
    items: list[str],
    train_mode: str = "",
) -> Job:
    members = [m["userId"] for m in acked.profile["members"]]
    if kind in ("profile", "safety"):
        doc = mutate_profile(rng, acked.profile, safety=kind == "safety")
        path = work / f"profile-{rng.getrandbits(32):08x}.json"
        path.write_text(json.dumps(doc))
        return Job(kind, ["family", "import", str(path)], InFlight(kind, profile=normalized(doc)))
    if kind == "interactions":
        lines = [interaction_record(rng, items, members) for _ in range(rng.randint(150, 400))]
        path = work / f"batch-{rng.getrandbits(32):08x}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        return Job(kind, ["interactions", "import", "--family", FAMILY, str(path)],
                   InFlight(kind, interactions=len(lines)))  # fmt: skip
    if kind == "interaction":
        record = interaction_record(rng, items, members)
        ctx = work / f"context-{rng.getrandbits(32):08x}.json"
        ctx.write_text(json.dumps(record["context"]))
        args = ["interactions", "add", "--family", FAMILY, "--member", record["member"],
                "--item", record["itemId"], "--outcome", record["outcome"],
                "--context", str(ctx)]  # fmt: skip
        if "rating" in record:
            args += ["--rating", str(record["rating"])]
        return Job(kind, args, InFlight(kind, interactions=1))
    if kind == "rollback":
        target = rng.choice([v for v in acked.versions if v != acked.active])
        return Job(kind, ["models", "rollback", FAMILY, "--to", str(target)],
                   InFlight(kind, target=target))  # fmt: skip
    mode = train_mode or rng.choice(TRAIN_MODES)
    return Job("train", ["train", "--family", FAMILY, "--force"], InFlight("train"), mode)


# -- killing ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    killed: bool
    at_ms: int
    rc: int | None
    note: str = ""
    problems: list[str] = field(default_factory=list)
    mode: str = ""
    orphans: list[Any] = field(default_factory=list)  # psutil.Process


def _workers(pid: int) -> list[Any]:
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if WORKER_MODULE in " ".join(child.cmdline()):
                found.append(child)
    return found


def start(home: Path, job: Job, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(engine_cmd(home, *job.args, "--json"), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=engine_env(), cwd=ROOT, start_new_session=True)  # fmt: skip


def kill_after(proc: subprocess.Popen[bytes], delay: float, t0: float) -> Outcome:
    """SIGKILL the command ``delay`` seconds after ``t0``, unless it has finished by then."""
    while True:
        left = t0 + delay - time.monotonic()
        if proc.poll() is not None:
            return Outcome(False, int((time.monotonic() - t0) * 1000), proc.returncode)
        if left <= 0:
            break
        time.sleep(min(left, 0.005))
    proc.send_signal(signal.SIGKILL)
    at_ms = int((time.monotonic() - t0) * 1000)
    proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:  # it exited in the same instant
        return Outcome(False, at_ms, proc.returncode)
    return Outcome(True, at_ms, proc.returncode)


def kill_training(
    proc: subprocess.Popen[bytes], mode: str, delay: float, t0: float, *, at_once: bool = False
) -> Outcome:
    """``cli``: kill the CLI and wait for its orphaned worker to checkpoint and stop (with
    ``at_once``, leave it running: the caller checks first, as an app restarted at once would);
    ``worker``: kill the worker (once it exists) and wait for the CLI to report;
    ``group``: kill both at once. A worker that has already finished (the CLI is
    evaluating) cannot be killed: the CLI is killed instead."""
    import psutil

    seen, note = False, ""
    while True:
        if proc.poll() is not None:
            return Outcome(False, int((time.monotonic() - t0) * 1000), proc.returncode,
                           f"train ended before the {mode} kill", mode=mode)  # fmt: skip
        workers = _workers(proc.pid)
        seen = seen or bool(workers)
        if time.monotonic() >= t0 + delay:
            if mode != "worker" or workers:
                break
            if seen:
                mode, note = "cli", "the worker had finished: the CLI was killed instead; "
                break
        time.sleep(0.05)
    workers = _workers(proc.pid)
    at_ms = int((time.monotonic() - t0) * 1000)
    problems: list[str] = []
    if mode == "worker":
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                worker.send_signal(signal.SIGKILL)
        try:
            rc: int | None = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(timeout=60)
            problems.append("train did not end within 300 s of its worker's SIGKILL")
        if rc != 0:
            problems.append(f"train exited {rc} after its worker was killed (expected 0)")
        return Outcome(True, at_ms, rc, f"worker pid {workers[0].pid} killed", problems, mode)
    if mode == "group":
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    note += f"{len(workers)} worker(s) {'killed too' if mode == 'group' else 'left to stop'}"
    outcome = Outcome(True, at_ms, proc.returncode, note, problems, mode, workers)
    if not at_once:
        outcome.problems += wait_for_orphans(outcome)
    return outcome


def wait_for_orphans(outcome: Outcome) -> list[str]:
    """Wait for a killed CLI's training worker to finish its step and stop."""
    import psutil

    problems = []
    _gone, alive = psutil.wait_procs(outcome.orphans, timeout=300)
    for worker in alive:
        problems.append(f"the orphaned training worker {worker.pid} still ran after 300 s")
        with contextlib.suppress(psutil.Error):
            worker.kill()
    outcome.orphans = []
    return problems


# -- set-up ---------------------------------------------------------------------------------


def copy_home(src: Path, dst: Path) -> None:
    """Copy a data directory; the base model files (never rewritten in place) are linked."""

    def copy_file(s: str, d: str) -> None:
        if Path(s).stat().st_size > (1 << 20) and "base" in Path(s).relative_to(src).parts[:1]:
            try:
                os.link(s, d)
                return
            except OSError:
                pass
        shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy_file, ignore=shutil.ignore_patterns("*.lock"))


def commit_random_version(home: Path, seed: int) -> None:
    """A small random LoRA adapter for the first layers of Gemma 3 270M, committed and active."""
    import numpy as np

    from engine.domain.home import Famtune
    from engine.domain.modelstore import ADAPTER_GGUF, ModelStore
    from engine.gguf.lora import write_lora_gguf

    dims = {"q_proj": (640, 1024), "k_proj": (640, 256), "v_proj": (640, 256),
            "o_proj": (1024, 640), "gate_proj": (640, 2048), "up_proj": (640, 2048),
            "down_proj": (2048, 640)}  # fmt: skip
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(2):
        for proj, (n_in, n_out) in dims.items():
            part = "mlp" if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            name = f"base_model.model.model.layers.{layer}.{part}.{proj}"
            tensors[f"{name}.lora_A.weight"] = rng.normal(0, 0.01, (8, n_in))
            tensors[f"{name}.lora_B.weight"] = rng.normal(0, 0.01, (n_out, 8))
    ft = Famtune(home, profile="development")
    try:
        store = ModelStore(ft)
        staged = store.staging_dir(FAMILY)
        write_lora_gguf(staged / ADAPTER_GGUF, tensors, alpha=16.0, n_layers=18)
        store.commit(FAMILY, staged, {}, activate=True, status="active", reason=None,
                     scores={"safetyScore": 1.0}, interactions_used=0)  # fmt: skip
    finally:
        ft.close()


def prepare_home(args: argparse.Namespace, work: Path, say: Any) -> Path:
    home = work / "home"
    if args.home:
        say(f"copying {args.home} to {home}")
        copy_home(Path(args.home), home)
    if not args.no_init:
        say("famtune-engine init (assembles the base model and the training copy)")
        run_engine(home, "init", "--no-demo", timeout=1800)
    (home / "famtune.toml").write_text(CONFIG)
    run_engine(home, "family", "import", str(PROFILE_FILE))
    run_engine(home, "simulate", "--family", FAMILY, "--interactions", "90", "--seed", "3")
    run_engine(home, "pin", "set", stdin=PIN + "\n")
    commit_random_version(home, 1)
    commit_random_version(home, 2)
    return home


def schedule(
    rng: random.Random, args: argparse.Namespace, kinds: list[str], train_modes: tuple[str, ...]
) -> list[str]:
    """Which kind each kill is (``train/<mode>`` for training): training and activation
    capped, training modes taken in turn, the rest spread evenly; in a random order. With
    only training and activation asked for, no caps."""
    heavy = [f"train/{m}" for m in train_modes] if "train" in kinds else []
    heavy += ["rollback"] if "rollback" in kinds else []
    plan: list[str] = []
    if not [k for k in kinds if k not in ("train", "rollback")]:
        plan = [heavy[i % len(heavy)] for i in range(args.kills)]
        rng.shuffle(plan)
        return plan
    if "train" in kinds:
        count = min(args.max_train, math.ceil(args.kills * 0.16))
        plan += [f"train/{train_modes[i % len(train_modes)]}" for i in range(count)]
    if "rollback" in kinds:
        plan += ["rollback"] * min(args.max_rollback, math.ceil(args.kills * 0.2))
    cheap = [k for k in kinds if k not in ("train", "rollback")]
    rest = args.kills - len(plan)
    plan += [cheap[i % len(cheap)] for i in range(rest)] if rest > 0 else []
    plan = plan[: args.kills]
    rng.shuffle(plan)
    return plan


# -- the drill ----------------------------------------------------------------------------------


@dataclass
class Record:
    n: int
    kind: str
    mode: str
    killed: bool
    at_ms: int
    window_ms: tuple[int, int]
    rc: int | None
    applied: str
    note: str
    failures: list[str]
    check_s: float

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "kind": self.kind, "mode": self.mode or None, "killed": self.killed,
                "atMs": self.at_ms, "windowMs": list(self.window_ms), "rc": self.rc,
                "change": self.applied, "note": self.note, "failures": self.failures,
                "checkSeconds": round(self.check_s, 1)}  # fmt: skip


def describe_change(state: dict[str, Any], acked: Acked, flight: InFlight) -> str:
    if "observerError" in state or state.get("active") is None:
        return "?"
    if flight.kind in ("profile", "safety"):
        return "present" if state["profile"] == flight.profile else "absent"
    if flight.kind in ("interactions", "interaction"):
        grew = state["interactions"] - acked.interactions
        return "present" if grew == flight.interactions and grew else "absent"
    if flight.kind == "rollback":
        return "present" if state["active"] == [flight.target] else "absent"
    new = [v for v in state["rows"] if v > max(acked.versions)]
    return f"published v{new[0]}" if new else "no new version"


@dataclass
class Drill:
    """What the kills share: the data directory, the random source, the measured timings and
    the acknowledged state."""

    args: argparse.Namespace
    home: Path
    work: Path
    rng: random.Random
    acked: Acked
    items: list[str] = field(default_factory=catalog_ids)
    startup: float = 0.0
    durations: dict[str, list[float]] = field(default_factory=dict)
    misses: Counter[str] = field(default_factory=Counter)

    def measure(self, kinds: list[str]) -> None:
        """The interpreter's start-up, then one unkilled run of each kind but training."""
        t0 = time.monotonic()
        subprocess.run(engine_cmd(self.home, "family", "import", "--help"), capture_output=True,
                       env=engine_env(), cwd=ROOT, check=True)  # fmt: skip
        self.startup = time.monotonic() - t0
        for kind in kinds:
            if kind == "train":
                continue
            job = make_job(kind, self.rng, self.acked, self.work, self.items)
            log = self.work / "logs" / f"measure-{kind}.log"
            t0 = time.monotonic()
            if start(self.home, job, log).wait(timeout=900) != 0:
                raise SystemExit(f"crash drill: {' '.join(job.args)} failed when measured: "
                                 f"{log.read_text()[-2000:]}")  # fmt: skip
            self.durations[kind] = [time.monotonic() - t0]
            self.acked = after_completion(self.acked, job.flight)  # checked at the first kill

    def window(self, kind: str) -> tuple[float, float]:
        """Seconds after the start within which the kill falls (uniformly)."""
        if kind == "train":
            return 0.0, self.args.train_window
        full = 0.95 * statistics.median(self.durations[kind])
        low = 0.0 if self.rng.random() < 0.3 else min(self.startup, full * 0.9)
        return low, full

    def run_one(self, kind: str, mode: str, number: int, seq: int) -> tuple[Record, bool]:
        """Start one command (the ``seq``-th), kill it (the ``number``-th kill), check;
        returns the record and whether the data directory could still be read."""
        acked = self.acked
        job = make_job(kind, self.rng, acked, self.work, self.items, mode)
        window = self.window(kind)
        delay = self.rng.uniform(*window)
        log = self.work / "logs" / f"{seq:03d}-{kind}.log"
        t0 = time.monotonic()
        proc = start(self.home, job, log)
        if kind == "train":
            outcome = kill_training(proc, mode, delay, t0, at_once=self.args.restart_at_once)
            job.mode = outcome.mode
        else:
            outcome = kill_after(proc, delay, t0)
        if not outcome.killed:
            self.misses[kind] += 1
            if kind != "train" and outcome.rc == 0:
                self.durations[kind].append(outcome.at_ms / 1000)
            elif outcome.rc not in (0, None):
                outcome.problems.append(f"{' '.join(job.args)} failed: {log.read_text()[-500:]}")
        c0 = time.monotonic()
        state = observe_in_subprocess(self.home)
        check_s = time.monotonic() - c0
        if outcome.orphans:  # checked while the orphaned worker ran; now see what it leaves
            outcome.problems += wait_for_orphans(outcome)
            left = sorted(p.name for p in (self.home / "models" / FAMILY).glob(".staging-*"))
            if left:
                outcome.problems.append(
                    f"the orphaned training worker wrote {left} after crash recovery had run; "
                    "it stays until the next start")  # fmt: skip
        failures = outcome.problems + invariant_failures(state)
        failures += change_failures(state, acked, job.flight,
                                    completed=not outcome.killed and outcome.rc == 0)  # fmt: skip
        staged = len(state.get("stagingBeforeRecovery", []))
        if staged:
            outcome.note += f"{'; ' if outcome.note else ''}recovery removed {staged} staging dir"
        readable = "observerError" not in state and bool(state.get("active"))
        if readable:
            self.acked = acked_from(state)
        record = Record(number if outcome.killed else 0, kind, job.mode, outcome.killed,
                        outcome.at_ms, (int(window[0] * 1000), int(window[1] * 1000)),
                        outcome.rc, describe_change(state, acked, job.flight), outcome.note,
                        failures, check_s)  # fmt: skip
        return record, readable


def progress_line(r: Record, kills: int) -> str:
    label = f"{r.kind}/{r.mode}" if r.mode else r.kind
    verdict = "checks ok" if not r.failures else "FAILED: " + "; ".join(r.failures)
    if not r.killed:
        return (f"   miss      {label:<18} finished in {r.at_ms:>6} ms before its kill "
                f"(rc {r.rc}); {verdict}")  # fmt: skip
    return (f"kill {r.n:>3}/{kills} {label:<18} after {r.at_ms:>6} ms (window "
            f"{r.window_ms[0]}-{r.window_ms[1]}) change {r.applied:<15} {verdict}"
            f"{' [' + r.note + ']' if r.note else ''}")  # fmt: skip


def drill(args: argparse.Namespace) -> int:
    started = time.monotonic()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    train_modes = tuple(m.strip() for m in args.train_modes.split(",") if m.strip()) or TRAIN_MODES
    unknown = (set(kinds) - set(KINDS)) | (set(train_modes) - set(TRAIN_MODES))
    if unknown:
        raise SystemExit(f"crash drill: unknown {sorted(unknown)} (kinds: {KINDS}, "
                         f"train modes: {TRAIN_MODES})")
    out = sys.stderr if args.json else sys.stdout  # progress; --json keeps stdout for the JSON

    def say(message: str) -> None:
        print(message, file=out, flush=True)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="crash-drill-"))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    home = prepare_home(args, work, say)
    state = observe_in_subprocess(home)
    setup_bad = invariant_failures(state)
    if setup_bad:
        raise SystemExit(f"crash drill: the prepared data directory fails its checks: {setup_bad}")
    run = Drill(args, home, work, random.Random(args.seed), acked_from(state))
    setup_s = time.monotonic() - started
    say(f"data directory {home} ready in {setup_s:.0f} s: versions {run.acked.versions}, "
        f"active v{run.acked.active}, {run.acked.interactions} interactions, "
        f"{run.acked.audit} audit events")  # fmt: skip
    run.measure(kinds)
    say(f"start-up {run.startup * 1000:.0f} ms; unkilled runs: " + ", ".join(
        f"{k} {v[0] * 1000:.0f} ms" for k, v in run.durations.items()))  # fmt: skip

    records: list[Record] = []
    plan = schedule(run.rng, args, kinds, train_modes)
    while plan:
        kind, _, mode = plan[0].partition("/")
        record, readable = run.run_one(kind, mode, args.kills - len(plan) + 1, len(records) + 1)
        records.append(record)
        say(progress_line(record, args.kills))
        if record.killed:
            plan.pop(0)
        elif run.misses[kind] > 10 + 2 * args.kills:
            raise SystemExit(f"crash drill: {kind} keeps finishing before its kill")
        if not readable:
            break  # the data directory cannot be read: nothing further is meaningful

    summary = summarize(records, run.misses, time.monotonic() - started, setup_s)
    failed = [r for r in records if r.failures]
    if args.json:
        print(json.dumps({"seed": args.seed, "home": str(home), "summary": summary,
                          "kills": [r.to_json() for r in records]}, indent=2))  # fmt: skip
    else:
        print(table(summary))
        for r in failed:
            print(f"FAILED {'kill ' + str(r.n) if r.killed else 'unkilled run'} ({r.kind}"
                  f"{'/' + r.mode if r.mode else ''}, after {r.at_ms} ms): "
                  + "; ".join(r.failures))  # fmt: skip
    if failed or args.keep or args.workdir:
        say(f"data directory kept: {home}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def summarize(records: list[Record], misses: Counter[str], total_s: float,
              setup_s: float) -> dict[str, Any]:  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        key = f"{r.kind}/{r.mode}" if r.mode else r.kind
        row = rows.setdefault(key, {"kills": 0, "changeVisible": 0, "changeAbsent": 0,
                                    "missed": 0, "failures": 0, "killMs": []})  # fmt: skip
        if r.killed:
            row["kills"] += 1
            row["killMs"].append(r.at_ms)
            visible = r.applied == "present" or r.applied.startswith("published")
            row["changeVisible" if visible else "changeAbsent"] += 1
        else:
            row["missed"] += 1
        row["failures"] += bool(r.failures)
    for row in rows.values():
        ms = sorted(row.pop("killMs"))
        row["killMsRange"] = [ms[0], ms[-1]] if ms else None
    kills = sum(r["kills"] for r in rows.values())
    return {"kills": kills, "failures": sum(r["failures"] for r in rows.values()),
            "missed": sum(misses.values()), "seconds": round(total_s, 1),
            "stagingRemovedByRecovery": sum("recovery removed" in r.note for r in records),
            "setupSeconds": round(setup_s, 1),
            "checkSecondsMean": round(sum(r.check_s for r in records) / max(1, len(records)), 1),
            "byKind": dict(sorted(rows.items()))}  # fmt: skip


def table(summary: dict[str, Any]) -> str:
    head = f"{'kind':<20} {'kills':>5} {'visible':>7} {'absent':>6} {'missed':>6} " \
           f"{'failures':>8}  kill moments (ms)"  # fmt: skip
    lines = ["", head, "-" * len(head)]
    for kind, row in summary["byKind"].items():
        span = row["killMsRange"]
        lines.append(f"{kind:<20} {row['kills']:>5} {row['changeVisible']:>7} "
                     f"{row['changeAbsent']:>6} {row['missed']:>6} {row['failures']:>8}  "
                     f"{f'{span[0]}-{span[1]}' if span else '-'}")  # fmt: skip
    lines.append("-" * len(head))
    lines.append(f"{'total':<20} {summary['kills']:>5} {'':>7} {'':>6} {summary['missed']:>6} "
                 f"{summary['failures']:>8}")  # fmt: skip
    lines.append(f"crash recovery removed a leftover staging directory "
                 f"{summary['stagingRemovedByRecovery']} times")
    lines.append(f"{summary['seconds']:.0f} s in all (set-up {summary['setupSeconds']:.0f} s, "
                 f"{summary['checkSecondsMean']:.1f} s of checks after each command)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs to deliver (default 50)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--home", metavar="DIR",
                   help="an initialized data directory to start from (it is copied, never "
                        "changed); default: a new one made with 'famtune-engine init'")
    p.add_argument("--no-init", action="store_true",
                   help="do not run 'famtune-engine init' on the copy of --home (then the "
                        "train kind needs the training copy already prepared there)")
    p.add_argument("--workdir", metavar="DIR", help="where to work (default: a temporary dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"comma-separated kinds to kill (default: {','.join(KINDS)})")
    p.add_argument("--max-train", type=int, default=8, help="at most this many training kills")
    p.add_argument("--max-rollback", type=int, default=10,
                   help="at most this many activation (rollback) kills")
    p.add_argument("--train-window", type=float, default=60.0, metavar="S",
                   help="training is killed uniformly within its first S seconds (default 60)")
    p.add_argument("--train-modes", default=",".join(TRAIN_MODES),
                   help="what a training kill kills: cli (the command; its worker stops by "
                        "itself), worker (the training subprocess), group (both at once)")
    p.add_argument("--restart-at-once", action="store_true",
                   help="after killing the train CLI, check at once while its orphaned worker "
                        "still runs (an app restarted immediately), then look for files the "
                        "worker leaves after recovery")
    p.add_argument("--json", action="store_true", help="print one JSON document at the end")
    p.add_argument("--observe", metavar="HOME", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.observe:
        print(json.dumps(observe(Path(args.observe)), default=str))
        return 0
    if args.no_init and not args.home:
        raise SystemExit("crash drill: --no-init needs --home")
    if args.kills < 1:
        raise SystemExit("crash drill: --kills must be at least 1")
    return drill(args)


if __name__ == "__main__":
    raise SystemExit(main())
