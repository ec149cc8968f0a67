"""The audit trail's anchor outside the database: what makes truncation evident.

The hash chain (:mod:`engine.domain.audit`) notices edited, reordered or missing rows, but its head
lives in the same database: somebody who deletes the newest events and moves the head back,
or empties the table and deletes the head, leaves a chain that verifies. So after every
committed write the engine also records, in ``audit.anchor`` beside the database, the head
(id and hash), the number of events and a digest of the parental PIN's row (hash, failures,
lockout), sealed with an HMAC whose key is derived from the data directory's encryption key
(``famtune.key``, a file outside the database). The file is written to a temporary file,
fsynced and renamed, then the directory is fsynced.

:func:`check` compares the database with the anchor: fewer events or an older head than the
anchor recorded, a head whose hash differs from the anchored one, a PIN row that differs
from the anchored digest (a lockout cleared, the PIN removed) or an anchor whose MAC does
not verify are reported. A database *ahead* of its anchor is accepted: a crash between the
commit and the anchor's rename leaves exactly that, and only appends can get there.

Limits, on purpose: somebody who can read ``famtune.key`` can forge an anchor; deleting
both the anchor file and the ``audit.anchored`` marker row makes the next start anchor the
state it finds, as it does once for a data directory created before anchors existed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from engine.base.fileio import atomic_file, fsync_dir
from engine.db.tables import AuditEvent, ParentalPin, Setting

log = logging.getLogger(__name__)

ANCHOR_FILE = "audit.anchor"
LOCK_FILE = ".audit.anchor.lock"
# Keys a write's ``Session.info`` carries when famtune itself changed the PIN's row or
# re-sealed the chain (erasure); only then may the anchor follow such a change.
PIN_CHANGED = "famtune.pin_changed"
RESEALED = "famtune.audit_resealed"
KEY_FILE = "famtune.key"
MARKER_KEY = "audit.anchored"
HEAD_KEY = "audit.head"
FORMAT = 1
MAX_ANCHOR_BYTES = 64 * 1024


@dataclass(frozen=True)
class TrailState:
    """What the anchor seals: the chain's head, its length and the PIN row's digest."""

    head_id: int
    head_hash: str
    events: int
    pin: str

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "headId": self.head_id,
            "headHash": self.head_hash,
            "events": self.events,
            "pin": self.pin,
        }


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def pin_digest(session: Session) -> str:
    """sha256 over everything the PIN row holds that protects something."""
    row = session.get(ParentalPin, 1)
    if row is None:
        return hashlib.sha256(b"no-pin-row").hexdigest()
    locked = row.locked_until.isoformat(timespec="microseconds") if row.locked_until else None
    doc = {
        "hash": row.pin_hash.hex() if row.pin_hash else None,
        "salt": row.salt.hex() if row.salt else None,
        "kdf": row.kdf,
        "failures": row.failures,
        "lockedUntil": locked,
        "lockedOut": bool(row.locked_out),
    }
    return hashlib.sha256(_canonical(doc)).hexdigest()


def current_state(session: Session) -> TrailState:
    head = session.get(Setting, HEAD_KEY)
    head_id, head_hash = 0, ""
    if head is not None:
        try:
            doc = json.loads(head.value)
            head_id, head_hash = int(doc["id"]), str(doc["hash"])
        except (ValueError, KeyError, TypeError):
            head_id, head_hash = -1, ""
    count = int(session.exec(select(func.count()).select_from(AuditEvent)).one())
    return TrailState(head_id, head_hash, count, pin_digest(session))


def _mac_key(root: Path) -> bytes | None:
    try:
        key = (root / KEY_FILE).read_bytes().strip()
    except OSError:
        return None
    return hashlib.sha256(b"famtune audit anchor v1\x00" + key).digest()


def _mac(key: bytes, document: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(document), hashlib.sha256).hexdigest()


def write(root: Path, state: TrailState) -> bool:
    """Seal ``state`` into ``root``'s anchor file. False when there is no key to seal with."""
    key = _mac_key(root)
    if key is None:
        return False
    document = state.document()
    document["mac"] = _mac(key, document)
    with atomic_file(root / ANCHOR_FILE, "wb") as handle:
        handle.write(_canonical(document))
    fsync_dir(root, best_effort=True)
    return True


def read(root: Path) -> dict[str, Any] | None:
    """The anchor document, None when the file does not exist; ValueError when unreadable."""
    path = root / ANCHOR_FILE
    try:
        if path.stat().st_size > MAX_ANCHOR_BYTES:
            raise ValueError("the audit anchor file is too large")
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"the audit anchor file cannot be read ({exc.strerror})") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ValueError("the audit anchor file is not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("the audit anchor file is not a JSON object")
    return doc


def _marked(session: Session) -> bool:
    return session.get(Setting, MARKER_KEY) is not None


def ensure(root: Path, session: Session) -> None:
    """Anchor a data directory that has no anchor yet and was never anchored (created before
    anchors existed, or just now): record the marker row, then the anchor. ``session`` must
    be a write session; the caller commits."""
    if (root / ANCHOR_FILE).exists() or _marked(session) or _mac_key(root) is None:
        return
    session.add(Setting(key=MARKER_KEY, value="1"))
    session.flush()
    write(root, current_state(session))


def _sealed(root: Path) -> TrailState | None:
    """The anchored state if the anchor exists and its MAC verifies, else None."""
    key = _mac_key(root)
    try:
        doc = read(root)
    except ValueError:
        return None
    if doc is None or key is None:
        return None
    given = doc.pop("mac", None)
    if not isinstance(given, str) or not hmac.compare_digest(given, _mac(key, doc)):
        return None
    try:
        return TrailState(
            int(doc["headId"]), str(doc["headHash"]), int(doc["events"]), str(doc["pin"])
        )
    except (KeyError, TypeError, ValueError):
        return None


def _follows(session: Session, anchored: TrailState, state: TrailState) -> bool:
    """Whether ``state`` only appended to the anchored trail (nothing removed or replaced)."""
    if state.events < anchored.events or state.head_id < anchored.head_id:
        return False
    if anchored.head_id <= 0:
        return True
    event = session.get(AuditEvent, anchored.head_id)
    return event is not None and event.hash == anchored.head_hash


class Anchorer:
    """Keeps one data directory's anchor current; called after each committed write with
    what the write's session recorded in ``info`` (:data:`PIN_CHANGED`, :data:`RESEALED`).

    The anchor moves forward only over changes famtune made: when the trail no longer
    follows from the anchored one (events removed, the head replaced) and the write did not
    re-seal it, or the PIN's row changed in a write that did not change the PIN, the old
    anchor (or its PIN digest) is kept, so ``audit verify`` still reports the tampering
    however the app is used afterwards. A missing or forged anchor is never replaced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._last: TrailState | None = None

    def refresh(self, session: Session, info: Mapping[str, Any] | None = None) -> None:
        info = info or {}
        state = current_state(session)
        if state == self._last:
            return
        try:
            with _anchor_lock(self.root):
                if not (self.root / ANCHOR_FILE).exists():
                    return  # never anchored (ensure() does that once) or deleted: evidence
                anchored = _sealed(self.root)
                if anchored is None:
                    return  # unreadable or forged: keep it for audit verify to report
                if not info.get(RESEALED) and not _follows(session, anchored, state):
                    return
                if state.pin != anchored.pin and not info.get(PIN_CHANGED):
                    state = TrailState(state.head_id, state.head_hash, state.events, anchored.pin)
                if write(self.root, state):
                    self._last = state
        except OSError:
            log.exception("could not update the audit anchor")


@contextlib.contextmanager
def _anchor_lock(root: Path) -> Iterator[None]:
    """Serializes read-check-write of the anchor between processes (the app and the CLI)."""
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AnchorProblem:
    first_bad_id: int
    reason: str


def check(root: Path, session: Session) -> AnchorProblem | None:
    """Compare the database with the anchor (see the module docstring). None when they agree
    or when there is nothing to check against (no key, never anchored, empty trail)."""
    key = _mac_key(root)
    if key is None:
        return None
    state = current_state(session)
    after = max(state.head_id, 0) + 1
    try:
        doc = read(root)
    except ValueError as exc:
        return AnchorProblem(after, str(exc))
    if doc is None:
        if _marked(session):
            return AnchorProblem(
                after,
                f"the audit anchor file {ANCHOR_FILE} is missing, so removed events "
                "cannot be ruled out",
            )
        return None
    given = doc.pop("mac", None)
    if not isinstance(given, str) or not hmac.compare_digest(given, _mac(key, doc)):
        return AnchorProblem(after, "the audit anchor was changed (its MAC does not verify)")
    try:
        anchored = TrailState(
            int(doc["headId"]), str(doc["headHash"]), int(doc["events"]), str(doc["pin"])
        )
    except (KeyError, TypeError, ValueError):
        return AnchorProblem(after, "the audit anchor is incomplete")
    if state.events < anchored.events or state.head_id < anchored.head_id:
        first = min(state.events, max(state.head_id, 0)) + 1
        return AnchorProblem(
            first,
            f"the trail was truncated: it ends at event {max(state.head_id, 0)} "
            f"({state.events} events) but event {anchored.head_id} "
            f"({anchored.events} events) was recorded outside the database",
        )
    if anchored.head_id > 0:
        event = session.get(AuditEvent, anchored.head_id)
        if event is None or event.hash != anchored.head_hash:
            return AnchorProblem(
                anchored.head_id,
                "it does not match the head recorded outside the database "
                "(the end of the trail was replaced)",
            )
    if state.pin != anchored.pin:
        return AnchorProblem(
            after,
            "the parental PIN's stored state (PIN, wrong tries or lockout) was changed "
            "outside famtune",
        )
    return None


def remove(root: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(root / ANCHOR_FILE)
