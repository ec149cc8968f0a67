"""The suite runs with outbound network blocked (tests/netblock/sitecustomize.py), in this
process and in every Python process the tests start; local sockets keep working."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_blocked_in_this_process() -> None:
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(OSError):
        udp.sendto(b"x", ("192.0.2.1", 53))


def test_blocked_in_child_processes() -> None:
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0 and "network access blocked" in out.stderr


def test_unix_sockets_still_work(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.connect(path)
            client.send(b"READY=1")
        assert server.recv(16) == b"READY=1"
