"""Encryption at rest for interaction payloads: one Fernet key in a 0600 file per data dir."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from engine.base.errors import FamtuneError


def create_key_file(path: Path) -> bool:
    """Create the key file once with owner-only permissions. Returns True if it was created."""
    if path.exists():
        return False
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def load_key(path: Path) -> bytes:
    if not path.exists():
        raise FamtuneError(f"encryption key {path} is missing; run 'famtune-engine init'")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)  # repair permissions rather than serve a readable key
    return path.read_bytes().strip()


class Cipher:
    """Encrypts and decrypts JSON documents with the data directory's key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_file(cls, path: Path) -> Cipher:
        return cls(load_key(path))

    def encrypt_json(self, document: Any) -> bytes:
        raw = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        return self._fernet.encrypt(raw)

    def decrypt_json(self, token: bytes) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise FamtuneError("stored data cannot be decrypted with this key") from None
