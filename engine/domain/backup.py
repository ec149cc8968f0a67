"""Backup and restore of a data directory.

``backup`` writes a .tar.gz: its manifest first (``backup.json``: every entry's sha256 and
size), then a consistent copy of the database (SQLite's online backup API, safe while the
app runs), the key, ``famtune.toml``, the audit anchor, the base model's manifest and the
published family models. The archive holds the encryption key, so it is written owner-only
through an exclusive temporary file (never through a planted symlink).

``restore`` trusts nothing in the archive. The manifest must come first; every other entry
must be a regular file listed in it, with an allowed name, under its size limit and with
its recorded size and sha256. Everything is unpacked and checked in a staging directory
beside the target: the database's integrity, migrations and audit chain (and the anchor
when the backup has one), the key, ``famtune.toml`` (it must load). Only then is the staged
directory swapped in whole: the old directory is renamed aside, the staged one renamed into
place, and the old one removed. If anything fails, the target is as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import text
from sqlmodel import select

from engine.base.errors import FamtuneError
from engine.base.fileio import check_output_file, file_sha256, fsync_dir, fsync_tree, write_private
from engine.base.ids import is_valid_id
from engine.base.paths import DataDir
from engine.db import migrate
from engine.db.database import Database
from engine.db.tables import Member, Setting, utcnow
from engine.domain import audit, audit_anchor, families

if TYPE_CHECKING:
    from engine.domain.home import Famtune

BACKUP_FORMAT = "famtune-backup"
BACKUP_MANIFEST = "backup.json"
MAX_MANIFEST_BYTES = 4 << 20
# Per-entry limits; the total is bounded by their sum over at most MAX_ENTRIES entries.
LIMITS = {
    "famtune.db": 8 << 30,
    "famtune.key": 4 << 10,
    "famtune.toml": 256 << 10,
    audit_anchor.ANCHOR_FILE: audit_anchor.MAX_ANCHOR_BYTES,
    "base/manifest.json": 16 << 20,
}
MAX_MODEL_FILE_BYTES = 512 << 20
MAX_MODELS_BYTES = 16 << 30
MAX_ENTRIES = 20_000
MAX_MODEL_DEPTH = 4  # models/<family>/<version>/<file>, one more level allowed


def _iso_now() -> str:
    return utcnow().isoformat()


# -- backup ---------------------------------------------------------------------------------


def _model_name_ok(parts: tuple[str, ...]) -> bool:
    return (
        len(parts) >= 2
        and len(parts) <= MAX_MODEL_DEPTH
        and parts[0] == "models"
        and all(is_valid_id(p) for p in parts[1:])
    )


def _backup_sources(data: DataDir) -> list[tuple[str, Path]]:
    """(name in the archive, file) for everything a backup holds besides the database and the
    anchor. Staging leftovers (hidden names) and symlinks are not part of a backup."""
    files = [
        ("famtune.key", data.key_file),
        ("famtune.toml", data.config_file),
        ("base/manifest.json", data.base_dir / "manifest.json"),
    ]
    out = [(name, path) for name, path in files if path.is_file() and not path.is_symlink()]
    if data.models_dir.is_dir() and not data.models_dir.is_symlink():
        for path in sorted(data.models_dir.rglob("*")):
            rel = path.relative_to(data.root)
            if path.is_file() and not path.is_symlink() and _model_name_ok(rel.parts):
                out.append((rel.as_posix(), path))
    return out


def backup(ft: Famtune, out: Path) -> dict[str, Any]:
    """Write a .tar.gz of the data directory (see the module docstring). Not the base model
    or its training copy: ``init`` re-creates them."""
    if out.is_dir() and not out.is_symlink():
        out = out / f"famtune-backup-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
    check_output_file(out, "the backup")
    with ft.db.write() as session:
        audit.record_event(session, event_type="backup_created", actor="parent")
    with tempfile.TemporaryDirectory(prefix="famtune-backup-") as scratch:
        members: list[tuple[str, Path]] = []
        anchor = ft.data.root / audit_anchor.ANCHOR_FILE
        if anchor.is_file():  # before the database: a database ahead of its anchor is fine
            anchor_copy = Path(scratch) / audit_anchor.ANCHOR_FILE
            shutil.copyfile(anchor, anchor_copy)
            members.append((audit_anchor.ANCHOR_FILE, anchor_copy))
        db_copy = Path(scratch) / "famtune.db"
        ft.db.backup_to(db_copy)
        members = [("famtune.db", db_copy), *members, *_backup_sources(ft.data)]
        manifest = {
            "format": BACKUP_FORMAT,
            "formatVersion": 1,
            "createdAt": _iso_now(),
            "sourceHome": str(ft.data.root.resolve()),
            "files": {name: file_sha256(path) for name, path in members},
            "sizes": {name: path.stat().st_size for name, path in members},
        }
        manifest_path = Path(scratch) / BACKUP_MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2))

        def write_archive(handle: IO[bytes]) -> None:
            with tarfile.open(fileobj=handle, mode="w:gz") as tar:
                tar.add(manifest_path, arcname=BACKUP_MANIFEST, recursive=False)
                for name, path in members:
                    tar.add(path, arcname=name, recursive=False)

        write_private(out, write_archive)
    return {"path": str(out), "files": len(members), "sizeBytes": out.stat().st_size}


# -- restore --------------------------------------------------------------------------------


def _limit(name: str) -> int | None:
    """The size limit of an allowed entry name, None when the name is not allowed."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or path.as_posix() != name:
        return None
    if name in LIMITS:
        return LIMITS[name]
    return MAX_MODEL_FILE_BYTES if _model_name_ok(path.parts) else None


def _not_a_backup(archive: Path, why: str) -> FamtuneError:
    return FamtuneError(f"{archive} is not a usable famtune backup: {why}")


def _read_manifest(archive: Path, tar: tarfile.TarFile) -> tuple[dict[str, str], dict[str, Any]]:
    first = tar.next()
    if first is None or first.name != BACKUP_MANIFEST or not first.isfile():
        raise _not_a_backup(archive, f"it does not start with its manifest {BACKUP_MANIFEST}")
    if first.size > MAX_MANIFEST_BYTES:
        raise _not_a_backup(archive, "its manifest is too large")
    source = tar.extractfile(first)
    assert source is not None
    try:
        manifest = json.loads(source.read(MAX_MANIFEST_BYTES + 1))
    except (ValueError, RecursionError):
        raise _not_a_backup(archive, "its manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise _not_a_backup(archive, "its manifest is not a famtune backup manifest")
    files = manifest.get("files")
    if not isinstance(files, dict) or "famtune.db" not in files or "famtune.key" not in files:
        raise _not_a_backup(archive, "its manifest lists no database or no key")
    if len(files) > MAX_ENTRIES:
        raise _not_a_backup(archive, f"it lists more than {MAX_ENTRIES} files")
    for name, digest in files.items():
        if _limit(name) is None:
            raise _not_a_backup(archive, f"its manifest lists an unexpected entry {name!r}")
        if not (isinstance(digest, str) and len(digest) == 64):
            raise _not_a_backup(archive, f"its manifest has no sha256 for {name!r}")
    return files, manifest


def _extract(archive: Path, staging: Path) -> dict[str, Any]:
    """Unpack the listed, checksummed, size-bounded entries into ``staging``; refuse
    anything else before reading its data."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            files, manifest = _read_manifest(archive, tar)
            sizes = manifest.get("sizes") if isinstance(manifest.get("sizes"), dict) else {}
            seen: set[str] = set()
            models_total = 0
            while (member := tar.next()) is not None:
                name = member.name
                if member.isdir() and _limit(name.rstrip("/") + "/x") is not None:
                    continue
                if name not in files:
                    raise _not_a_backup(archive, f"entry {name!r} is not listed in its manifest")
                if not member.isfile():
                    raise _not_a_backup(archive, f"entry {name!r} is not a regular file")
                if name in seen:
                    raise _not_a_backup(archive, f"entry {name!r} appears twice")
                limit = _limit(name) or 0
                expected_size = sizes.get(name) if isinstance(sizes, dict) else None
                if member.size > limit or (
                    expected_size is not None and member.size != expected_size
                ):
                    raise _not_a_backup(
                        archive, f"entry {name!r} is larger than allowed or than recorded"
                    )
                if name.startswith("models/"):
                    models_total += member.size
                    if models_total > MAX_MODELS_BYTES:
                        raise _not_a_backup(archive, "its family models are too large")
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("xb") as fh:
                    shutil.copyfileobj(source, fh, length=1 << 20)
                if target.stat().st_size != member.size:
                    raise _not_a_backup(archive, f"entry {name!r} is truncated")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FamtuneError(f"cannot read the backup {archive}: {exc}") from None
    for name, digest in files.items():
        path = staging / name
        if not path.is_file() or file_sha256(path) != digest:
            raise FamtuneError(f"the backup {archive} is damaged: {name} is missing or changed")
    return manifest


def check_backup(archive: Path) -> None:
    """Read and check ``archive`` in a scratch directory (names, sizes, checksums), without
    touching any data directory."""
    if not archive.is_file():
        raise FamtuneError(f"backup {archive} does not exist or is not a file")
    with tempfile.TemporaryDirectory(prefix="famtune-check-") as scratch:
        _extract(archive, Path(scratch))


def _check_staged(staged: DataDir) -> None:
    """The key must be a usable key, ``famtune.toml`` must load."""
    from engine.base.config_load import load_config
    from engine.base.crypto import Cipher

    try:
        Cipher.from_file(staged.key_file)
    except (ValueError, FamtuneError):
        raise FamtuneError("the backup's famtune.key is not a valid key") from None
    if staged.config_file.exists():
        try:
            load_config(staged, "development", env={})
        except FamtuneError as exc:
            raise FamtuneError(f"the backup's famtune.toml cannot be used: {exc}") from None


def _check_restored(db_path: Path, source_home: str, target: Path) -> dict[str, Any]:
    """Integrity check, migrations, paths moved to the new home, audit chain verified (with
    the backup's anchor when it has one), a ``data_restored`` event, a fresh anchor."""
    database = Database(db_path)
    try:
        integrity = database.integrity_check()
        if integrity != "ok":
            raise FamtuneError(f"the backup's database fails its integrity check: {integrity}")
        migrate.upgrade(database)
        old, new = source_home.rstrip("/") + "/", str(target.resolve()) + "/"
        with database.write() as session:
            report = audit.verify_chain(session)
            if not report.ok:
                raise FamtuneError(f"the backup's {report.message}")
            if old != new:
                for table, column in (
                    ("model_version", "path"),
                    ("base_model", "path"),
                    ("base_model", "training_cache"),
                ):
                    session.connection().execute(
                        text(
                            f"UPDATE {table} SET {column} = :new || substr({column}, :n) "
                            f"WHERE substr({column}, 1, :len) = :old"
                        ),
                        {"new": new, "old": old, "n": len(old) + 1, "len": len(old)},
                    )
            audit.record_event(
                session,
                event_type="data_restored",
                actor="parent",
                details={"eventsVerified": report.events_checked},
            )
            restored = families.list_families(session)
            member_ids = session.exec(select(Member.user_id)).all()
            bad = [i for i in [*(f.id for f in restored), *member_ids] if not is_valid_id(i)]
            if bad:  # ids become directory names: a crafted database must not bring others
                raise FamtuneError(f"the backup's database holds an invalid id {bad[0]!r}")
            families_restored = len(restored)
            if session.get(Setting, audit_anchor.MARKER_KEY) is None:
                session.add(Setting(key=audit_anchor.MARKER_KEY, value="1"))
        with database.read() as session:
            audit_anchor.write(db_path.parent, audit_anchor.current_state(session))
        return {
            "integrity": integrity,
            "auditEvents": report.events_checked + 1,
            "families": families_restored,
        }
    finally:
        database.close()


# What a restore replaces; everything else in the target (the base model, its training
# copy, logs) is carried over into the new directory.
_RESTORED = frozenset(
    {
        "famtune.db",
        "famtune.db-wal",
        "famtune.db-shm",
        "famtune.key",
        "famtune.toml",
        audit_anchor.ANCHOR_FILE,
        "models",
        "training",
        "checkpoints",
    }
)


def _carry_over(old: Path, staging: Path) -> None:
    """Hard-link (else copy) what the restore does not replace from ``old`` into the staged
    directory; ``old`` itself is not touched."""
    for entry in old.iterdir():
        if entry.name in _RESTORED or entry.name.startswith(f".{old.name}.restore-"):
            continue
        if entry.name == "base" and entry.is_dir() and not entry.is_symlink():
            (staging / "base").mkdir(exist_ok=True)
            for item in entry.iterdir():
                if item.name != "manifest.json" and not (staging / "base" / item.name).exists():
                    _link_tree(item, staging / "base" / item.name)
            continue
        _link_tree(entry, staging / entry.name)


def _link_tree(src: Path, dst: Path) -> None:
    if src.is_symlink():
        return  # a link in the data directory is not ours to carry
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy, ignore=_symlinks)
    elif src.is_file():
        _link_or_copy(str(src), str(dst))


def _symlinks(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if (Path(folder) / n).is_symlink()]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def restore(archive: Path, target: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore a :func:`backup` archive into ``target``, an empty or new data directory
    (``force`` replaces the data of a non-empty one; the CLI asks for its PIN first). All
    or nothing: see the module docstring."""
    if not archive.is_file():
        raise FamtuneError(f"backup {archive} does not exist or is not a file")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FamtuneError(f"{target} is not a directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise FamtuneError(
            f"{target} is not empty; restore into an empty or new directory, "
            f"or pass --force to replace its data"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    aside: Path | None = None
    try:
        manifest = _extract(archive, staging)
        staged = DataDir(staging)
        _check_staged(staged)
        summary = _check_restored(
            staged.database, str(manifest.get("sourceHome", "")), target
        )
        if target.is_dir():
            _carry_over(target, staging)
        staged.ensure()
        os.chmod(staged.key_file, 0o600)
        (staging / audit_anchor.ANCHOR_FILE).chmod(0o600)
        fsync_tree(staging, best_effort=True)
        if target.is_dir():
            aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, aside / "home")
        try:
            os.rename(staging, target)
        except OSError:
            if aside is not None:
                os.rename(aside / "home", target)  # put the old directory back
            raise
        fsync_dir(target.parent, best_effort=True)
    except OSError as exc:
        raise FamtuneError(f"cannot restore into {target}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    return {
        "home": str(target),
        "restoredFrom": str(archive),
        "createdAt": manifest.get("createdAt"),
        **summary,
    }

