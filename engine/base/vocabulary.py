"""Kinds every floor shares, defined once: content ratings (in order, mildest first) and
privacy levels."""

from __future__ import annotations

from typing import Literal

ContentRating = Literal["G", "PG", "PG-13", "R"]
RATINGS: tuple[ContentRating, ...] = ("G", "PG", "PG-13", "R")
"""Mildest first: a rating's index is how strong it is."""
PrivacyLevel = Literal["standard", "strict"]
