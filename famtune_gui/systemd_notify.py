"""Tell systemd how the app is doing (``sd_notify``), in plain Python: no libsystemd.

systemd hands a ``Type=notify`` service the address of its notification socket in
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace) and, with ``WatchdogSec=``,
the watchdog period in ``$WATCHDOG_USEC``. Each message is one datagram of ``KEY=VALUE`` lines:
``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``.

Nothing here raises: without ``$NOTIFY_SOCKET`` (a developer's run, the tests) every call is a
no-op, and a message that cannot be sent is dropped (the socket is non-blocking, so a busy
service manager never stalls the GUI thread) and logged once.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes | None:
    """The ``sendto`` address for a ``$NOTIFY_SOCKET`` value: a file-system path, or a name in
    the abstract namespace (``@name`` becomes ``\\0name``). None for anything else (an empty
    value, a relative path, ``vsock:`` addresses of newer systemd versions)."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return value
    return None


def watchdog_usec(env: Mapping[str, str], pid: int, parent_pid: int) -> int | None:
    """The watchdog period in microseconds when this process should ping, else None.

    ``$WATCHDOG_PID`` names the process systemd expects pings from: the unit's main process.
    Under the kiosk compositor that is ``cage``, and the app is its child, so pings from the
    process named or from its child are both accepted (libsystemd's ``sd_watchdog_enabled``
    would accept only the first, and the app would never ping)."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    named = env.get("WATCHDOG_PID", "")
    if named:
        try:
            if int(named) not in (pid, parent_pid):
                return None
        except ValueError:
            return None
    return usec


class Notifier:
    """Sends notifications to the service manager; a no-op without ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | bytes | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec if address is not None else None
        self._sock: socket.socket | None = None
        self._warned = False
        self.sent = 0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        source = os.environ if env is None else env
        address = socket_address(source.get("NOTIFY_SOCKET", ""))
        return cls(address, watchdog_usec(source, os.getpid(), os.getppid()))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_ms(self) -> int | None:
        """How often to ping: half the watchdog period (at least 1 ms), as systemd advises."""
        if self.watchdog_usec is None:
            return None
        return max(1, self.watchdog_usec // 2000)

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one message. True when it was handed to the socket."""
        if self.address is None or not lines:
            return False
        message = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.setblocking(False)
                self._sock = sock
            self._sock.sendto(message, self.address)
        except (OSError, ValueError) as exc:
            if not self._warned:
                self._warned = True
                log.warning("systemd notification not sent (%s); later failures are silent", exc)
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *((f"STATUS={status}",) if status else ()))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *((f"STATUS={status}",) if status else ()))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
