"""The on-screen keyboard in the real kiosk stack: famtune as a Wayland client of cage (the
compositor the appliance runs), typing into a dialog with its on-screen keys, and grim's
screenshot of the composited screen showing the keyboard in the dialog.

It runs where cage and grim are installed (Debian: ``cage grim``) and is skipped elsewhere,
saying why. cage refuses to run as root, so as root it runs cage as the unprivileged user
``nobody`` with its own XDG_RUNTIME_DIR (mode 0700), and with an interpreter that user can
execute (this one, or the system's python of the same version with this environment's
site-packages on PYTHONPATH)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from tests.conftest import clone_home

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "kiosk_keyboard.py"
USER = "nobody"
PLUGIN = "libqwayland"


def _missing() -> str | None:
    for tool in ("cage", "grim"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: apt-get install cage grim)"
    import PySide6

    platforms = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    if not any(p.name.startswith(PLUGIN) for p in platforms.glob("*")):
        return "this PySide6 has no Wayland platform plugin"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cage refuses to run as root"
    return None


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _interpreter() -> tuple[str, str] | None:
    """(python, PYTHONPATH) the cage user can run, or None."""
    paths = [str(ROOT), *site.getsitepackages()]
    pythonpath = os.pathsep.join(paths)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version) or "", f"/usr/bin/{version}"):
        if not candidate:
            continue
        probe = _as_user([candidate, "-c", "import PySide6.QtWidgets, sqlmodel"])
        ok = subprocess.run(
            probe, env={**os.environ, "PYTHONPATH": pythonpath}, capture_output=True, timeout=60
        )
        if ok.returncode == 0:
            return candidate, pythonpath
    return None


def _readable(path: Path) -> None:
    """The cage user owns the test's directories (as root: chown; otherwise they are ours)."""
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{USER}:", str(path)], check=True)


@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_typing_into_a_dialog_with_the_on_screen_keys_under_cage(template_home: Path) -> None:
    # pytest's own temporary directories are private to this user: cage's user needs one
    # it can enter
    with tempfile.TemporaryDirectory(prefix="famtune-cage-") as tmp:
        _run(Path(tmp), template_home)


def _run(tmp_path: Path, template_home: Path) -> None:
    found = _interpreter()
    if found is None:
        pytest.skip(f"no Python interpreter that the user {USER!r} can run with PySide6")
    python, pythonpath = found
    from engine.core import Famtune

    home = clone_home(template_home, tmp_path / "home")
    ft = Famtune(home, profile="development")
    ft.load_demo_family()
    ft.close()
    run_dir, out = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir(mode=0o700)
    out.mkdir()
    tmp_path.chmod(0o755)
    _readable(tmp_path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run_dir),
        "WLR_BACKENDS": "headless",
        "WLR_RENDERER": "pixman",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "QT_QPA_PLATFORM": "wayland",
        "QT_WAYLAND_DISABLE_WINDOWDECORATION": "1",  # as the systemd unit sets it
        "PYTHONPATH": pythonpath,
    }
    cmd = _as_user(
        ["cage", "--", python, str(SCRIPT), "--home", str(home), "--out", str(out)]
    )
    log = (tmp_path / "cage.log").open("wb")
    cage = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out / "ready").exists():
            if cage.poll() is not None or (out / "result.json").exists():
                break
            time.sleep(0.2)
        result = json.loads((out / "result.json").read_text())
        assert "error" not in result, result
        shot = out / "kiosk-keyboard.png"
        grim = _as_user(["grim", str(shot)])
        subprocess.run(
            grim, env={**env, "WAYLAND_DISPLAY": "wayland-0"}, check=True, timeout=30
        )
        (out / "done").write_text("1")
        assert cage.wait(timeout=60) == 0
    finally:
        if cage.poll() is None:
            cage.kill()
        log.close()
    keep = os.environ.get("FAMTUNE_KIOSK_SHOT")  # scripts/screenshots.py keeps it
    if keep:
        shutil.copy(shot, keep)
    result = json.loads((out / "result.json").read_text())
    assert result["platform"] == "wayland"
    assert result["typed"] == "Kiosk Ok"  # typed with the on-screen keys
    assert result["keyboardVisible"] and result["keyboardInDialog"]
    assert result["dialogClosed"] and result["memberAdded"]  # Enter was OK
    # the composited screen shows the keyboard: its yellow Enter key is on screen
    image = QImage(str(shot))
    assert not image.isNull()
    # a Wayland client sees its own coordinates only; cage centres a dialog on the output
    dx, dy, dw, dh = result["dialog"]
    left, top = (image.width() - dw) // 2, (image.height() - dh) // 2
    assert left >= 0 and top >= 0  # the whole dialog fits on the screen
    x, y, w, h = result["enterKey"]
    x, y = x - dx + left, y - dy + top
    inside = [
        QColor(image.pixel(px, py))
        for px in range(max(0, x), min(image.width(), x + w), 4)
        for py in range(max(0, y), min(image.height(), y + h), 4)
    ]
    yellow = [c for c in inside if c.red() > 200 and c.green() > 170 and c.blue() < 120]
    assert len(yellow) > len(inside) // 3, "the keyboard's Enter key is not on the screen"
