"""Identifiers that name things on disk and in the database: families, members, versions.

A family id becomes a directory name (``models/<family>/``, ``training/<family>/``), so every
id is checked against one pattern wherever it comes in: a letter or digit first, then
letters, digits, ``_``, ``.`` or ``-``, at most 64 characters. Such an id cannot hold a
``/``, cannot be ``.`` or ``..`` and cannot be absolute.
"""

from __future__ import annotations

import re

from engine.base.errors import ValidationFailed

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ID = re.compile(ID_PATTERN)


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, field: str = "familyId") -> str:
    """``value`` if it is a well-formed id, else ValidationFailed naming ``field``."""
    if not is_valid_id(value):
        shown = repr(value)[:80]
        raise ValidationFailed(
            field,
            f"{shown} is not a valid id (1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit)",
        )
    assert isinstance(value, str)
    return value
