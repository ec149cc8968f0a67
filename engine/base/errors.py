"""Errors the engine raises on purpose, each with a message a person can read."""

from __future__ import annotations


class FamtuneError(Exception):
    """Base of every error famtune raises deliberately; the message is for people."""


class ValidationFailed(FamtuneError):
    """Input that does not fit its schema. ``field`` is the dotted path of the first bad field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}" if field else message)


class NotFound(FamtuneError):
    """A family, member, model version or other named thing that does not exist."""


class ModelFileError(FamtuneError):
    """A model or adapter file that is missing, truncated, corrupt or of the wrong kind."""


class ConfigError(FamtuneError):
    """A configuration value or profile name that cannot be used."""


class JobCancelled(FamtuneError):
    """A long piece of work stopped because someone asked it to (Cancel)."""
