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

The drill's parts are in scripts/crash/: commands (running the engine), observe and expect
(the checks after a kill), jobs and kill (what is started and how it is killed), prepare
(the data directory and the plan), report and run (the loop and its summary).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.crash.commands import KINDS, TRAIN_MODES  # noqa: E402
from scripts.crash.observe import observe  # noqa: E402
from scripts.crash.run import drill  # noqa: E402


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
