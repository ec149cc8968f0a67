"""The engine's context: one data directory, its configuration and its database.

Everything above (CLI, GUI, integration facade) opens a ``Famtune`` and calls into it.
Heavy pieces (Presidio, llama.cpp, torch) are created lazily by the modules that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from engine.base.config import FineTuningConfig
from engine.base.config_load import ResolvedConfig, load_config
from engine.base.crypto import Cipher, create_key_file
from engine.base.errors import FamtuneError
from engine.base.paths import DataDir, default_home, resource_path
from engine.db.database import Database
from engine.db.tables import BaseModelRecord, EventLog, utcnow
from engine.domain import families
from engine.schema.profiles import parse_profile_text

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class Famtune:
    """An opened data directory. Cheap to create; nothing heavy happens until asked."""

    def __init__(self, home: Path | str | None = None, profile: str | None = None, *,
                 config: FineTuningConfig | None = None) -> None:
        self.data = DataDir(Path(home).expanduser() if home else default_home())
        self._profile_name = profile
        self._config_override = config

    @cached_property
    def resolved_config(self) -> ResolvedConfig:
        return load_config(self.data, self._profile_name)

    @property
    def config(self) -> FineTuningConfig:
        """The configuration in force: one given to the constructor, else the resolved one."""
        return self._config_override or self.resolved_config.config

    def use_config(self, config: FineTuningConfig) -> None:
        self._config_override = config

    @property
    def initialized(self) -> bool:
        return self.data.database.exists() and self.data.key_file.exists()

    def require_initialized(self) -> None:
        if not self.initialized:
            raise FamtuneError(
                f"famtune has no data in {self.data.root}; run 'famtune-engine init' first"
            )

    @cached_property
    def db(self) -> Database:
        self.require_initialized()
        from engine.db import migrate  # Alembic loads only when a database is opened

        database = Database(self.data.database)
        migrate.upgrade(database)
        return self._anchored(database)

    def _anchored(self, database: Database) -> Database:
        """Keep the audit anchor (engine.domain.audit_anchor) current after every write; anchor a
        data directory that never was."""
        from engine.domain import audit_anchor
        if not (self.data.root / audit_anchor.ANCHOR_FILE).exists():
            with database.write() as session:
                audit_anchor.ensure(self.data.root, session)
        database.after_commit = audit_anchor.Anchorer(self.data.root).refresh
        return database

    @cached_property
    def cipher(self) -> Cipher:
        return Cipher.from_file(self.data.key_file)

    def close(self) -> None:
        if "db" in self.__dict__:
            self.db.close()

    # -- set-up ---------------------------------------------------------------------------

    def initialize(self, *, demo: bool = True, training_cache: bool = True,
                   progress: Progress | None = None) -> dict[str, Any]:
        """Create the data directory, schema, key, base model (and its training copy), demo.

        Idempotent: running it again checks everything and repairs what is missing.
        """
        say = progress or (lambda _msg: None)
        self.data.ensure()
        say(f"data directory {self.data.root}")
        key_created = create_key_file(self.data.key_file)
        from engine.db import migrate

        database = Database(self.data.database)
        migrated = migrate.upgrade(database)
        self.__dict__["db"] = self._anchored(database)
        say("database schema is current" if not migrated else "database schema created")

        base = self.ensure_base_model(progress=say, training_cache=training_cache)
        demo_loaded = False
        if demo:
            demo_loaded = self.load_demo_family()
            if demo_loaded:
                say("demo family 'smith-family' loaded")
        return {
            "home": str(self.data.root),
            "keyCreated": key_created,
            "migrated": migrated,
            "baseModel": base,
            "demoFamilyLoaded": demo_loaded,
        }

    def ensure_base_model(self, *, progress: Progress | None = None,
                          training_cache: bool = True) -> dict[str, Any]:
        from engine import basemodel

        say = progress or (lambda _msg: None)
        configured = self.config.base_model_path
        if configured:
            path = Path(configured).expanduser()
            summary = basemodel.verify_gguf(path)
            sha = basemodel.sha256_file(path)
            size, source = path.stat().st_size, "configured"
        else:
            say("assembling the bundled Gemma 3 270M base model")
            info = basemodel.assemble_base_model(self.data)
            path, sha, size, source = info.path, info.sha256, info.size_bytes, info.source
            summary = basemodel.verify_gguf(path, expected_sha256=sha)
        say(f"base model {path.name} verified ({summary.architecture}, sha256 {sha[:12]}...)")
        cache_dir: Path | None = None
        if training_cache:
            cache_dir = basemodel.training_cache_dir(self.data, sha)
            if not basemodel.is_training_cache_ready(cache_dir):
                say("preparing the training copy of the base model (once, about a minute)")
                cache_dir = basemodel.prepare_training_cache(self.data, path)
            say("training copy ready")
        with self.db.write() as session:
            session.add(BaseModelRecord(
                path=str(path), sha256=sha, size_bytes=size, source=source,
                training_cache=str(cache_dir) if cache_dir else None,
            ))
        return {"path": str(path), "sha256": sha, "sizeBytes": size, "source": source,
                "ok": True, "trainingCache": str(cache_dir) if cache_dir else None}

    def load_demo_family(self) -> bool:
        """Load the bundled demo family unless a family with its id already exists."""
        profile = parse_profile_text(resource_path("demo_family.json").read_bytes())
        with self.db.write() as session:
            if families.family_exists(session, family_id=profile.family_id):
                return False
            families.save_profile(session, profile=profile, is_demo=True)
        return True

    def last_base_model(self) -> BaseModelRecord | None:
        """The newest recorded base model. When its recorded path is gone but a file of the
        same name is in this data directory's ``base/`` (the directory was moved or copied),
        that file is returned instead (its sha256 is still checked before it is served)."""
        with self.db.read() as session:
            record = session.exec(
                select(BaseModelRecord).order_by(col(BaseModelRecord.id).desc())
            ).first()
        if record is not None and not Path(record.path).exists():
            here = self.data.base_dir / Path(record.path).name
            if here.is_file():
                record.path = str(here)
        return record

    def check_base_model(self, *, full: bool = False) -> dict[str, Any]:
        """The recorded base model, re-checked: header always, sha256 too when ``full``."""
        from engine import basemodel
        from engine.base.errors import ModelFileError

        record = self.last_base_model()
        if record is None:
            return {"path": None, "sha256": None, "ok": False,
                    "error": "no base model recorded; run 'famtune-engine init'"}
        report: dict[str, Any] = {"path": record.path, "sha256": record.sha256, "ok": True,
                                  "sizeBytes": record.size_bytes, "source": record.source,
                                  "trainingCache": record.training_cache}
        try:
            path = Path(record.path)
            if not path.is_file():
                raise ModelFileError(f"base model {path} is missing")
            if path.stat().st_size != record.size_bytes:
                raise ModelFileError(
                    f"base model {path.name} changed size since it was verified "
                    f"({path.stat().st_size} bytes, expected {record.size_bytes})"
                )
            basemodel.verify_gguf(path, expected_sha256=record.sha256 if full else None,
                                  what="base model")
        except ModelFileError as exc:
            report.update(ok=False, error=str(exc))
        return report

    # -- operational log ------------------------------------------------------------------

    def log_event(self, level: str, component: str, message: str) -> None:
        """Record an operational error or warning for ``status`` (best effort)."""
        getattr(log, level if level in ("error", "warning", "info") else "info")(
            "%s: %s", component, message
        )
        try:
            with self.db.write() as session:
                session.add(EventLog(level=level, component=component,
                                     message=message[:1000], created_at=utcnow()))
        except Exception:  # logging must never break the caller
            log.exception("could not record event")

    def recent_events(self, limit: int = 10) -> list[EventLog]:
        with self.db.read() as session:
            return list(session.exec(
                select(EventLog).order_by(col(EventLog.id).desc()).limit(limit)
            ).all())
