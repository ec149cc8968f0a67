"""SQLite through SQLModel: WAL, synchronous=FULL, foreign keys, one writer at a time.

Two SQLAlchemy engines share the file. Readers use ordinary deferred transactions.
The writer engine has a single connection, is guarded by a process-wide lock, and opens
every transaction with ``BEGIN IMMEDIATE`` so that a write never has to upgrade a read lock
(which SQLite may refuse) and other processes wait on ``busy_timeout`` instead of failing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool, StaticPool
from sqlmodel import Session, create_engine

BUSY_TIMEOUT_MS = 30_000
log = logging.getLogger(__name__)


def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; the "begin" hooks issue BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _make_engine(path: Path, *, writer: bool) -> Engine:
    url = f"sqlite:///{path}"
    if writer:
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=4,
                               connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _configure)
    begin_sql = "BEGIN IMMEDIATE" if writer else "BEGIN"

    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    event.listen(engine, "begin", _begin)
    return engine


class Database:
    """The data directory's SQLite file. Use ``read()`` for queries, ``write()`` for changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = _make_engine(path, writer=False)
        self._writer = _make_engine(path, writer=True)
        self._write_lock = threading.RLock()
        # Called with a read session after each committed write, still under the write
        # lock (the audit anchor, engine.domain.audit_anchor); a failure there is logged, since
        # the write itself is already committed.
        self.after_commit: Callable[[Session, dict[str, Any]], None] | None = None

    @property
    def writer_engine(self) -> Engine:
        return self._writer

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        with self._write_lock, Session(self._writer, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            if self.after_commit is not None:
                try:
                    with self.read() as reader:
                        self.after_commit(reader, dict(session.info))
                except Exception:
                    log.exception("after-commit hook failed")

    def integrity_check(self) -> str:
        with self._reader.connect() as conn:
            row = conn.exec_driver_sql("PRAGMA integrity_check").fetchone()
        return str(row[0]) if row else "no answer"

    def backup_to(self, target: Path) -> None:
        """Consistent copy through SQLite's online backup API, safe while others write."""
        source = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            dest = sqlite3.connect(target)
            try:
                source.backup(dest)
            finally:
                dest.close()
        finally:
            source.close()

    def close(self) -> None:
        self._reader.dispose()
        self._writer.dispose()
