"""The touchscreen app: cold start to the first screen, and the GUI thread's longest stall
while a real training job runs (started the way "Train now" starts it).

Cold start: a fresh ``python`` process builds the app (``famtune_gui.app.build``) over a data
directory with a family and reports when the window is shown; ``--runs`` times, median and
max. Responsiveness: the app's window at 1024x600 (offscreen), ``EngineSession.start_training``
fine-tunes the family's model (the worker subprocess trains; the app reads its events and
draws progress), and a 10 ms heartbeat timer on the GUI thread records the gaps between its
ticks for ``--seconds`` once training steps are running. Goals: cold start <= 3 s, max
stall <= 50 ms.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--seconds 30] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FAMILY = "smith-family"
COLD_START = """
import sys, time
t0 = float(sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import famtune_gui.app as app
qapp = QApplication([])
args, _ = app.parse_args(["--home", sys.argv[2]])
window = app.build(args, qapp)
def shown():
    print(f"shown {time.time() - t0:.3f}", flush=True)
    window.close()
    qapp.quit()
QTimer.singleShot(0, shown) if window.isVisible() else window.shown.connect(shown)
qapp.exec()
"""


def cold_start(home: Path, runs: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), FAMTUNE_PROFILE="development")
    seconds = []
    for _ in range(runs):
        started = time.time()
        out = subprocess.run(
            [sys.executable, "-c", COLD_START, str(started), str(home)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(f"the app did not start: {out.stderr.strip()[-500:]}")
        seconds.append(float(out.stdout.split("shown")[1]))
    return {"runs": runs, "medianS": round(statistics.median(seconds), 2),
            "maxS": round(max(seconds), 2)}  # fmt: skip


def stall_while_training(home: Path, seconds: float) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from engine.training.events import Progress
    from famtune_gui.mainwindow import MainWindow
    from famtune_gui.session import EngineSession
    from famtune_gui.theme import apply_theme

    qapp = QApplication.instance() or QApplication([])
    apply_theme(qapp)  # type: ignore[arg-type]
    session = EngineSession(home, "development")
    window = MainWindow(session)
    window.resize(1024, 600)
    window.show()
    steps: list[int] = []
    ended: list[str] = []
    session.training_event.connect(
        lambda _f, e: steps.append(e.step) if isinstance(e, Progress) else None
    )
    session.training_ended.connect(lambda _f, how: ended.append(how))

    def spin(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    deadline = time.monotonic() + 60
    while session.profile is None and time.monotonic() < deadline:
        spin(50)
    session.start_training(FAMILY, force=True)
    deadline = time.monotonic() + 600
    while not steps and not ended and time.monotonic() < deadline:
        spin(100)
    if not steps:
        raise SystemExit(f"training did not reach its first step ({ended or 'timeout'})")
    ticks: list[float] = []
    beat = QTimer()
    beat.setInterval(10)
    beat.timeout.connect(lambda: ticks.append(time.perf_counter()))
    beat.start()
    spin(int(seconds * 1000))
    beat.stop()
    still = session.training
    first_step, last_step = steps[0], steps[-1]
    session.cancel_training()
    deadline = time.monotonic() + 300
    while session.training and time.monotonic() < deadline:
        spin(100)
    window.close()
    session.close()
    gaps = sorted((b - a) * 1000 for a, b in itertools.pairwise(ticks))
    return {
        "seconds": seconds,
        "ticks": len(ticks),
        "maxStallMs": round(gaps[-1], 1),
        "p99GapMs": round(gaps[int(0.99 * (len(gaps) - 1))], 1),
        "medianGapMs": round(statistics.median(gaps), 1),
        "trainingSteps": f"{first_step}-{last_step}",
        "trainingRanThroughout": still,
    }


def prepare(work: Path) -> Path:
    from engine.domain.home import Famtune

    home = work / "home"
    ft = Famtune(home, profile="development")
    ft.initialize(demo=True, training_cache=True)
    ft.close()
    env = dict(os.environ, PYTHONPATH=str(ROOT), FAMTUNE_PROFILE="development")
    subprocess.run([sys.executable, "-m", "engine.cli.main", "--home", str(home), "simulate",
                    "--family", FAMILY, "--interactions", "300", "--seed", "1"],
                   check=True, capture_output=True, env=env, cwd=ROOT)  # fmt: skip
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    try:
        home = prepare(work)
        report = {
            "machine": f"{os.cpu_count()} cores, QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}",
            "coldStart": cold_start(home, args.runs),
            "whileTraining": stall_while_training(home, args.seconds),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        c, t = report["coldStart"], report["whileTraining"]
        print(f"cold start to the first screen: median {c['medianS']} s, max {c['maxS']} s "
              f"({c['runs']} runs); goal <= 3 s")  # fmt: skip
        print(f"GUI heartbeat while training (steps {t['trainingSteps']}, {t['seconds']} s): "
              f"max stall {t['maxStallMs']} ms, p99 {t['p99GapMs']} ms; goal <= 50 ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
