"""The on-screen keyboard in the real kiosk stack: famtune as a Wayland client of cage (the
compositor the appliance runs), typing into a dialog with its on-screen keys, and grim's
screenshot of the composited screen showing the keyboard in the dialog
(``scripts/kiosk_keyboard.py`` does the run; as root it runs cage as ``nobody``).

It runs where cage and grim are installed (Debian: ``cage grim``) and is skipped elsewhere,
saying why."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from engine.domain.home import Famtune
from tests.conftest import clone_home

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kiosk_keyboard.py"


def _why_not() -> str | None:
    spec = importlib.util.spec_from_file_location("kiosk_keyboard", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reason: str | None = module.missing()
    return reason


WHY_NOT = _why_not()


@pytest.mark.skipif(WHY_NOT is not None, reason=f"the kiosk stack cannot run here: {WHY_NOT}")
def test_typing_into_a_dialog_with_the_on_screen_keys_under_cage(
    tmp_path: Path, template_home: Path
) -> None:
    home = clone_home(template_home, tmp_path / "home")
    ft = Famtune(home, profile="development")
    ft.load_demo_family()
    ft.close()
    shot, result_file = tmp_path / "kiosk.png", tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--home", str(home), "--shot", str(shot),
         "--result", str(result_file)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    if run.returncode == 2:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr[-2000:]
    keep = os.environ.get("FAMTUNE_KIOSK_SHOT")
    if keep:
        shutil.copy(shot, keep)
    result = json.loads(result_file.read_text())
    assert result["cageExit"] == 0
    assert result["platform"] == "wayland"
    assert result["typed"] == "Kiosk Ok"  # typed with the on-screen keys
    assert result["keyboardVisible"] and result["keyboardInDialog"]
    assert result["dialogClosed"] and result["memberAdded"]  # its Enter key was OK
    # the composited screen shows the keyboard: its yellow Enter key is where it should be.
    # A Wayland client sees only its own coordinates; cage centres a dialog on the output.
    image = QImage(str(shot))
    assert not image.isNull()
    dx, dy, dw, dh = result["dialog"]
    left, top = (image.width() - dw) // 2, (image.height() - dh) // 2
    assert left >= 0 and top >= 0  # the whole dialog is on the screen
    x, y, w, h = result["enterKey"]
    x, y = x - dx + left, y - dy + top
    inside = [
        QColor(image.pixel(px, py))
        for px in range(max(0, x), min(image.width(), x + w), 4)
        for py in range(max(0, y), min(image.height(), y + h), 4)
    ]
    yellow = [c for c in inside if c.red() > 200 and c.green() > 170 and c.blue() < 120]
    assert len(yellow) > len(inside) // 3, "the keyboard's Enter key is not on the screen"
