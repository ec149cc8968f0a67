"""The appliance packaging: the systemd unit (``systemd-analyze verify`` and the settings it must
carry), the Jetson installer (dry run, refusals) and the app's systemd notifications
(READY=1, WATCHDOG=1 from the GUI thread, STOPPING=1) over a real AF_UNIX datagram socket."""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from engine.domain.home import Famtune
from famtune_gui import app as famtune_app
from famtune_gui.mainwindow import MainWindow
from famtune_gui.session import EngineSession
from famtune_gui.systemd_notify import Notifier, socket_address, watchdog_usec
from tests.gui.conftest import WAIT_MS, FakeClock, last_wednesday_evening, settle

if sys.version_info >= (3, 11):
    import tomllib
else:  # JetPack 6 ships Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "packaging" / "famtune.service"
INSTALLER = ROOT / "packaging" / "install-jetson.sh"
LOCK = ROOT / "requirements-cpu.lock"
CONSTRAINTS = ROOT / "constraints-cpu.txt"
DATA_DIR = "/var/lib/famtune"

# Commands the installer would change the machine with. In the tests they are shims that
# record the call and fail loudly, so a dry run (or a refusal) that ran any of them fails.
DANGEROUS = (
    "apt", "apt-get", "dpkg", "useradd", "usermod", "groupadd", "systemctl", "install",
    "rsync", "python3", "pip", "pip3", "git", "cmake", "make", "runuser", "chown", "chmod",
    "mkdir", "cp", "mv", "rm", "ln", "tee", "sudo", "loginctl", "env",
)


# -- the unit ------------------------------------------------------------------------------------


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values]}}: like configparser, but repeated keys
    (Environment=) keep every value, as systemd does."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a KEY=VALUE line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key, [])
    assert len(values) == 1, f"{key}= should be set exactly once, is {values}"
    return values[0]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|min)?", value)
    assert match, f"not a simple time span: {value!r}"
    factor = {"ms": 0.001, "s": 1.0, "min": 60.0, None: 1.0}[match.group(2)]
    return int(match.group(1)) * factor


def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    """``systemd-analyze verify`` also checks that ExecStart's program exists and is executable,
    and /usr/bin/cage exists only on the device. So verify runs on a copy in which that one
    path points at a stand-in executable; every other line is verified as shipped. It must
    print nothing: unknown or misspelled settings are only warnings (exit status 0)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    exec_start = one(read_unit(UNIT)["Service"], "ExecStart")
    program = exec_start.split()[0]
    assert program == "/usr/bin/cage"
    stand_in = tmp_path / "bin" / "cage"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    text = UNIT.read_text()
    copy = tmp_path / "famtune.service"
    copy.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={stand_in} ", 1))
    assert copy.read_text() != text
    out = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (out.stdout + out.stderr).strip() == ""


def test_unit_carries_the_appliance_settings() -> None:
    unit = read_unit(UNIT)
    service, section = unit["Service"], unit["Unit"]
    # supervision
    assert one(service, "Type") == "notify"
    assert one(service, "NotifyAccess") == "all"  # the app is cage's child
    assert one(service, "Restart") == "on-failure"
    assert seconds(one(service, "WatchdogSec")) >= 10
    assert seconds(one(service, "RestartSec")) > 0
    assert one(section, "StartLimitIntervalSec") == "0"  # never stops retrying
    # PAMName with pam_systemd would move the app into a session scope, where its
    # notifications no longer count for this unit (systemd.exec(5)).
    assert "PAMName" not in service
    # the kiosk under cage, as the unprivileged user
    assert one(service, "User") == "famtune"
    assert one(service, "ExecStart").split() == [
        "/usr/bin/cage", "-s", "--",
        "/opt/famtune/.venv/bin/famtune", "--kiosk", "--home", DATA_DIR,
    ]
    assert set(one(service, "SupplementaryGroups").split()) == {"video", "render", "input"}
    assert one(service, "TTYPath") == "/dev/tty1"
    environment = dict(v.split("=", 1) for v in service["Environment"])
    assert environment["QT_QPA_PLATFORM"] == "wayland"
    # the app draws its own keyboard (famtune --kiosk): no input method for Qt to load, as
    # Qt's virtual keyboard cannot run as a Wayland client of cage
    assert "QT_IM_MODULE" not in environment
    assert environment["FAMTUNE_HOME"] == DATA_DIR
    # hardening: the data directory is the only persistent place it writes
    assert one(service, "NoNewPrivileges") == "yes"
    assert one(service, "ProtectSystem") == "strict"
    assert one(service, "ProtectHome") == "yes"
    assert one(service, "PrivateTmp") == "yes"
    assert service["ReadWritePaths"] == [DATA_DIR]
    assert one(service, "StateDirectory") == "famtune"
    assert one(service, "StateDirectoryMode") == "0700"
    families = set(one(service, "RestrictAddressFamilies").split())
    assert "AF_UNIX" in families and not families & {"AF_INET", "AF_INET6", "AF_PACKET"}
    for key in ("ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups"):
        assert one(service, key) == "yes"
    # settings that would lock the GPU out (device allow-lists): documented, not set
    for key in ("PrivateDevices", "ProtectClock", "DevicePolicy", "DeviceAllow"):
        assert key not in service
    assert one(unit["Install"], "WantedBy") == "graphical.target"


# -- the installer -------------------------------------------------------------------------------


@pytest.fixture
def shims(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An environment whose PATH starts with failing stand-ins for every command that could
    change the machine, and the log they write to when called."""
    bin_dir = tmp_path / "shims"
    bin_dir.mkdir()
    log = tmp_path / "shim-calls.log"
    for name in DANGEROUS:
        shim = bin_dir / name
        shim.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*" >> "{log}"\n'
            f'echo "SHIM: the installer ran {name} $*" >&2\n'
            "exit 97\n"
        )
        shim.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LANG": "C.UTF-8",
        "FAMTUNE_SRC": str(ROOT),
    }
    yield env, log


def bash() -> str:
    found = shutil.which("bash")
    assert found is not None
    return found


def test_installer_parses_and_passes_shellcheck() -> None:
    assert INSTALLER.stat().st_mode & stat.S_IXUSR, "the installer should be executable"
    out = subprocess.run([bash(), "-n", str(INSTALLER)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    out = subprocess.run([shellcheck, str(INSTALLER)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_installer_dry_run_lists_every_step_and_changes_nothing(
    shims: tuple[dict[str, str], Path],
) -> None:
    env, log = shims
    out = subprocess.run(
        [bash(), str(INSTALLER), "--dry-run"], capture_output=True, text=True, env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert not log.exists(), f"a dry run ran commands: {log.read_text()}"
    text = out.stdout
    numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 10
    assert "nothing was changed" in text
    commands = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("$ ")]
    joined = "\n".join(commands)
    llama_version = importlib.metadata.version("llama_cpp_python")  # the tested build
    for expected in (
        "apt-get install -y --no-install-recommends cage seatd",
        "useradd --system",
        "--shell /usr/sbin/nologin",
        "usermod --append --groups video,render,input famtune",
        "https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/torch-",
        "'CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=87'",
        f"llama-cpp-python=={llama_version}",
        "-DCOMPUTE_BACKEND=cuda -DCOMPUTE_CAPABILITY=87",
        "/opt/famtune/.venv/bin/pip install --no-cache-dir -c /opt/famtune/constraints-jetson.txt"
        " /opt/famtune/src",
        f"install -d -o famtune -g famtune -m 0700 {DATA_DIR}",
        f"runuser -u famtune -- env -C {DATA_DIR}",
        f"/opt/famtune/.venv/bin/famtune-engine --home {DATA_DIR} init",
        "/opt/famtune/src/packaging/famtune.service /etc/systemd/system/famtune.service",
        "systemctl set-default graphical.target",
        "systemctl enable famtune.service",
    ):
        assert expected in joined, f"{expected!r} is not among the dry run's commands"
    # the installer puts the app where the unit starts it from
    app_path = one(read_unit(UNIT)["Service"], "ExecStart").split()[3]
    assert app_path.startswith("/opt/famtune/.venv/bin/")
    assert "python3 -m venv /opt/famtune/.venv" in joined


def run_as_nobody_or_self(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installer as an unprivileged user: as is when this test is not root, else as
    nobody (uid 65534). The script comes on stdin, so nobody needs no access to the checkout."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is missing: cannot drop to a plain user")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run(
        [*prefix, bash(), "-s", "--", *args], input=INSTALLER.read_text(),
        capture_output=True, text=True, env=env, cwd="/", timeout=60,
    )


def test_installer_refuses_to_run_for_real_without_root(
    shims: tuple[dict[str, str], Path],
) -> None:
    env, log = shims
    out = run_as_nobody_or_self(env)
    assert out.returncode != 0
    assert "refusing to install" in out.stderr and "must run as root" in out.stderr
    assert "[1]" not in out.stdout and not log.exists()


@pytest.mark.skipif(platform.machine() == "aarch64", reason="this machine could be the Jetson")
def test_installer_refuses_to_run_off_the_jetson(shims: tuple[dict[str, str], Path]) -> None:
    env, log = shims
    out = subprocess.run(
        [bash(), str(INSTALLER)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode != 0
    assert "refusing to install" in out.stderr and "aarch64" in out.stderr
    assert platform.machine() in out.stderr
    assert "[1]" not in out.stdout and not log.exists()


def test_installer_rejects_unknown_arguments(shims: tuple[dict[str, str], Path]) -> None:
    env, log = shims
    out = subprocess.run(
        [bash(), str(INSTALLER), "--dryrun"], capture_output=True, text=True, env=env,
        timeout=60,
    )
    assert out.returncode != 0 and "unknown argument: --dryrun" in out.stderr
    assert not log.exists()


# -- the CPU lock --------------------------------------------------------------------------------


def locked_requirements() -> dict[str, tuple[str, list[str]]]:
    """requirements-cpu.lock as {normalized name: (version, [sha256 hashes])}; every entry must
    be a plain `name==version` pin followed only by --hash options (what --require-hashes
    installs), with no index, find-links or editable lines."""
    text = LOCK.read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    # an entry is a line and its backslash-continued lines; comments stand on lines of their own
    for entry in re.sub(r"\\\n", " ", text).splitlines():
        entry = entry.split("#", 1)[0].strip()
        if not entry:
            continue
        words = entry.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^=;\s]+)", words[0])
        assert match, f"not a plain name==version pin: {entry!r}"
        hashes = []
        for word in words[1:]:
            found = re.fullmatch(r"--hash=sha256:([0-9a-f]{64})", word)
            assert found, f"{words[0]}: {word!r} is not a sha256 hash"
            hashes.append(found.group(1))
        assert hashes, f"{words[0]} has no hash"
        name = canonicalize_name(match.group(1))
        assert name not in entries, f"{name} is pinned twice"
        entries[name] = (match.group(2), hashes)
    return entries


def test_cpu_lock_pins_every_package_with_a_hash_and_the_cpu_torch() -> None:
    locked = locked_requirements()
    assert len(locked) > 50
    # torch: the version constraints-cpu.txt asks for, and its CPU build (one wheel)
    pins = [line.split("#", 1)[0].strip() for line in CONSTRAINTS.read_text().splitlines()]
    assert "torch==2.13.0" in pins
    version, hashes = locked["torch"]
    assert version == "2.13.0+cpu" and len(hashes) == 1, f"torch=={version}, {hashes}"
    assert not any(name.startswith(("nvidia-", "cuda-")) or name == "triton" for name in locked)
    # llama-cpp-python is an sdist: its hash is the source archive's
    assert len(locked["llama-cpp-python"][1]) == 1


def test_cpu_lock_covers_pyproject() -> None:
    """Every runtime and dev dependency that applies to CPython 3.11 on Linux x86_64 is in the
    lock at a version its range admits: a stale lock (`make lock` not rerun after a change to
    pyproject.toml) fails here, not only at `pip check` in `make setup`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = locked_requirements()
    environment = {
        "python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
        "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "extra": "dev",
    }  # fmt: skip
    for line in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {LOCK.name}: run `make lock`"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{LOCK.name} pins {name}=={version}, outside {requirement}: run `make lock`"
        )


def make_dry_run(tmp_path: Path, *overrides: str) -> str:
    """The commands `make setup` would run for a venv that does not exist yet."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # not the settings of a make that runs this test (`make test CONSTRAINTS=` passes its
    # overrides down in MAKEFLAGS) nor any from the environment
    ignored = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CONSTRAINTS", "LOCK", "LOCK_ARGS", "VENV"}
    env = {key: value for key, value in os.environ.items() if key not in ignored}
    out = subprocess.run(
        [make, "-n", "-C", str(ROOT), "setup", f"VENV={tmp_path / 'venv'}", *overrides],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_make_setup_installs_the_cpu_lock_and_the_jetson_path_skips_it(tmp_path: Path) -> None:
    cpu = make_dry_run(tmp_path)
    assert f"pip install --quiet --require-hashes -r {LOCK.name}" in cpu
    assert "pip install --quiet --no-deps -e ." in cpu
    assert "pip check" in cpu
    assert "'.[dev]'" not in cpu
    # on the Jetson (README, "On the Jetson"): no CPU constraints and no lock
    for overrides in (["CONSTRAINTS="], ["CONSTRAINTS=", "LOCK="]):
        jetson = make_dry_run(tmp_path, *overrides)
        assert LOCK.name not in jetson and "constraints-cpu.txt" not in jetson
        assert "pip install --quiet  -e '.[dev]'" in jetson


# -- sd_notify -------------------------------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket bound in tmp_path, as systemd's notification socket: its
    NOTIFY_SOCKET value and the socket to read from."""
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) >= 100:  # sun_path holds 108 bytes
        pytest.skip(f"tmp_path is too long for an AF_UNIX address: {path}")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.setblocking(False)
    yield str(path), receiver
    receiver.close()


def drain(receiver: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(receiver.recv(4096).decode())
        except BlockingIOError:
            return messages


def wait_for(receiver: socket.socket, count: int, timeout: float = 5.0) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        messages += drain(receiver)
        time.sleep(0.005)
    return messages


def test_notify_socket_addresses() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@famtune/notify") == b"\0famtune/notify"
    for value in ("", "@", "relative/path", "vsock:2:1234"):
        assert socket_address(value) is None


def test_watchdog_period_and_whose_pings_count() -> None:
    assert watchdog_usec({"WATCHDOG_USEC": "30000000"}, 10, 1) == 30_000_000
    # WATCHDOG_PID names the unit's main process: under cage that is the app's parent
    assert watchdog_usec({"WATCHDOG_USEC": "500", "WATCHDOG_PID": "10"}, 10, 1) == 500
    assert watchdog_usec({"WATCHDOG_USEC": "500", "WATCHDOG_PID": "1"}, 10, 1) == 500
    assert watchdog_usec({"WATCHDOG_USEC": "500", "WATCHDOG_PID": "77"}, 10, 1) is None
    for bad in ({}, {"WATCHDOG_USEC": "soon"}, {"WATCHDOG_USEC": "0"},
                {"WATCHDOG_USEC": "500", "WATCHDOG_PID": "x"}):
        assert watchdog_usec(bad, 10, 1) is None
    assert Notifier("/x", 30_000_000).watchdog_interval_ms == 15_000
    assert Notifier(None, 30_000_000).watchdog_interval_ms is None


def test_ready_watchdog_and_stopping_arrive(notify_socket: tuple[str, socket.socket]) -> None:
    address, receiver = notify_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
    assert notifier.enabled and notifier.watchdog_interval_ms == 1000
    assert notifier.ready("showing Home")
    assert notifier.watchdog()
    assert notifier.status("training the smith family's model")
    assert notifier.stopping()
    assert wait_for(receiver, 4) == [
        "READY=1\nSTATUS=showing Home",
        "WATCHDOG=1",
        "STATUS=training the smith family's model",
        "STOPPING=1",
    ]
    notifier.close()


def test_abstract_namespace_socket() -> None:
    name = f"famtune-test-{uuid.uuid4().hex}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.setblocking(False)
    try:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready() and notifier.watchdog()
        assert wait_for(receiver, 2) == ["READY=1", "WATCHDOG=1"]
    finally:
        receiver.close()


def test_without_notify_socket_nothing_happens_and_nothing_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = Notifier.from_environment()
    assert not notifier.enabled and notifier.watchdog_interval_ms is None
    assert not notifier.ready("x") and not notifier.watchdog() and not notifier.stopping()
    notifier.close()


def test_a_socket_that_is_gone_or_full_never_raises_nor_blocks(
    tmp_path: Path, notify_socket: tuple[str, socket.socket],
) -> None:
    gone = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "no-such.sock")})
    assert gone.enabled and not gone.ready() and not gone.watchdog()
    address, _receiver = notify_socket  # nobody reads: its queue fills up
    full = Notifier(address)
    started = time.monotonic()
    results = [full.watchdog() for _ in range(2000)]
    assert time.monotonic() - started < 5.0
    assert results[0] and not all(results)  # the first arrive, the rest are dropped


# -- the app's watchdog timer ----------------------------------------------------------------------


def test_the_apps_watchdog_timer_pings_from_the_gui_thread(
    qtbot: QtBot,
    home: Path,
    notify_socket: tuple[str, socket.socket],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, receiver = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 100 ms: a ping every 50 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    ft = Famtune(home, profile="development")
    ft.load_demo_family()  # a family: the app opens on Home, not on the first-run setup
    ft.close()
    session = EngineSession(
        home, "development", clock=FakeClock(), local_clock=last_wednesday_evening
    )
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()  # as famtune's main() does: the window is up before supervise()
    app = QApplication.instance()
    assert app is not None
    held = weakref.ref(famtune_app.supervise(window, app))
    gc.collect()
    supervision = held()  # kept alive by its Qt connections, not by the caller
    assert supervision is not None
    try:
        timer = supervision.watchdog_timer
        assert timer is not None and timer.isActive() and timer.interval() == 50
        assert window.findChild(QTimer, "systemd-watchdog") is timer
        seen: list[str] = []

        def enough() -> bool:
            seen.extend(drain(receiver))
            return "WATCHDOG=1" in seen and seen.count("WATCHDOG=1") >= 3

        qtbot.waitUntil(enough, timeout=WAIT_MS)
        assert seen[0] == f"READY=1\nSTATUS=showing {window.title.text()}"
        assert seen.count(seen[0]) == 1  # READY=1 once
        # A GUI thread that is stuck sends nothing: the pings come from its event loop.
        drain(receiver)
        time.sleep(0.3)
        assert drain(receiver) == []
        qtbot.waitUntil(lambda: "WATCHDOG=1" in drain(receiver), timeout=WAIT_MS)
        settle(qtbot, session)
    finally:
        # read what queued while the session settled (as systemd does all along): a full
        # datagram queue (10 messages here) would drop the STOPPING=1 sent next
        drain(receiver)
        supervision.stop()
    assert not timer.isActive()
    assert "STOPPING=1\nSTATUS=leaving" in wait_for(receiver, 1)


def test_sigterm_stops_the_kiosk_app_cleanly(
    notify_socket: tuple[str, socket.socket], home: Path
) -> None:
    """As systemd stops the service: the real app in kiosk mode gets SIGTERM after READY=1,
    says STOPPING=1 and exits 0 (no PIN asked, the engine closed)."""
    import signal
    import subprocess
    import sys

    address, receiver = notify_socket
    env = dict(os.environ, NOTIFY_SOCKET=address, QT_QPA_PLATFORM="offscreen",
               FAMTUNE_PROFILE="development")  # fmt: skip
    app = subprocess.Popen(
        [sys.executable, "-m", "famtune_gui.app", "--kiosk", "--home", str(home)],
        env=env, cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        messages: list[str] = []
        deadline = time.monotonic() + 60
        while not any("READY=1" in m for m in messages) and time.monotonic() < deadline:
            messages += wait_for(receiver, 1, timeout=1.0)
        assert any("READY=1" in m for m in messages), messages
        app.send_signal(signal.SIGTERM)
        out, _ = app.communicate(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, out
    assert any("STOPPING=1" in m for m in messages + drain(receiver))
