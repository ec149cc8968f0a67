"""SQLite settings, migrations and the one-writer rule."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlmodel import select

from engine.db import migrate
from engine.db.database import Database
from engine.db.tables import Setting


def test_pragmas_are_set(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    migrate.upgrade(db)
    with db.writer_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.close()


def test_migrations_create_every_table_and_are_idempotent(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    assert migrate.upgrade(db) is True
    assert migrate.upgrade(db) is False
    assert migrate.current_revision(db) == migrate.head_revision()
    names = {r[0] for r in sqlite3.connect(tmp_path / "t.db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    for table in ("family", "member", "family_preferences", "safety_settings",
                  "time_restriction", "interaction", "model_version", "training_run",
                  "audit_event", "metric_sample", "alembic_version"):
        assert table in names
    db.close()


def test_failed_write_rolls_back(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    migrate.upgrade(db)
    try:
        with db.write() as session:
            session.add(Setting(key="a", value="1"))
            session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.read() as session:
        assert session.exec(select(Setting)).all() == []
    db.close()


def test_writers_are_serialized(tmp_path: Path) -> None:
    """Many threads incrementing one counter through write() never lose an update."""
    db = Database(tmp_path / "t.db")
    migrate.upgrade(db)
    with db.write() as session:
        session.add(Setting(key="n", value="0"))

    def bump() -> None:
        for _ in range(25):
            with db.write() as session:
                row = session.get(Setting, "n")
                assert row is not None
                row.value = str(int(row.value) + 1)
                session.add(row)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as session:
        row = session.get(Setting, "n")
        assert row is not None and row.value == "100"
    db.close()


def test_foreign_keys_cascade(engine_ctx: object, smith_profile: dict[str, object]) -> None:
    from engine.db.tables import Member
    from engine.domain import families
    from engine.domain.home import Famtune
    from engine.schema.profiles import parse_profile

    assert isinstance(engine_ctx, Famtune)
    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
    with engine_ctx.db.write() as session:
        families.delete_family(session, family_id="smith-family")
    with engine_ctx.db.read() as session:
        assert session.exec(select(Member)).all() == []
