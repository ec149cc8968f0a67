"""Outbound network refused in every Python process of the test suite.

``tests/conftest.py`` imports this module and puts its folder first on ``PYTHONPATH``, so the
processes the tests start (the CLI, the training worker, the app) import it as
``sitecustomize`` too. An Internet-family socket that tries to connect or send raises; local
(AF_UNIX) sockets still work. famtune never talks to the network, and the whole suite proves
it: anything that tried would fail its test.
"""

from __future__ import annotations

import socket
from typing import Any

_INET = (socket.AF_INET, socket.AF_INET6)


class NetworkBlocked(OSError):
    pass


def _guard(name: str) -> Any:
    real = getattr(socket.socket, name)

    def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        if self.family in _INET:
            raise NetworkBlocked(f"network access blocked in famtune's tests: {name}{args!r}")
        return real(self, *args, **kwargs)

    guarded.__name__ = name
    return guarded


if not getattr(socket.socket, "_famtune_blocked", False):
    for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
        setattr(socket.socket, _name, _guard(_name))
    socket.socket._famtune_blocked = True  # type: ignore[attr-defined]
