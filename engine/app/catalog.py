"""Catalog actions: list the activities, add custom ones from a file, remove a custom one.

A change to the catalog needs the parental PIN when one is set; the caller asks for it
between the check (:func:`read_activities`, :func:`check_removable`) and the change, so a
bad file or a wrong id fails before anyone is asked for a PIN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.base.errors import FamtuneError, NotFound
from engine.base.vocabulary import RATINGS
from engine.domain.catalog import (
    CATEGORIES,
    MAX_CATALOG_FILE_BYTES,
    Catalog,
    CatalogItem,
    activities_of,
    builtin_ids,
    parse_catalog_item,
)
from engine.domain.home import Famtune
from engine.schema.profiles import load_json_text

__all__ = [
    "CATEGORIES",
    "MAX_CATALOG_FILE_BYTES",
    "ActivitiesAdded",
    "ActivityRemoved",
    "CatalogItem",
    "add_activities",
    "check_removable",
    "list_activities",
    "read_activities",
    "remove_activity",
]


@dataclass(frozen=True)
class ActivitiesAdded:
    """The custom activities stored (added or replaced), in the order given."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class ActivityRemoved:
    item_id: str


def list_activities(
    ft: Famtune, *, category: str | None = None, rating: str | None = None
) -> list[CatalogItem]:
    """Built-in then custom activities; only those in ``category``, only those rated
    ``rating`` or lower (G < PG < PG-13 < R)."""
    items = Catalog(ft).items()
    if category:
        items = [i for i in items if category in i.categories]
    if rating:
        limit = RATINGS.index(rating)
        items = [i for i in items if i.rating_rank <= limit]
    return items


def read_activities(raw: bytes) -> list[Any]:
    """The activities of a file (an object, a list, or ``{"activities": [...]}``), each one
    checked: ValidationFailed names the first bad field as ``activities[i].field``."""
    activities = activities_of(load_json_text(raw, "activity file", MAX_CATALOG_FILE_BYTES))
    for i, data in enumerate(activities):
        parse_catalog_item(data, where=f"activities[{i}]", source="custom")
    return activities


def add_activities(ft: Famtune, *, activities: Sequence[Any]) -> ActivitiesAdded:
    """Store the activities as custom ones, all or nothing (a built-in id is refused)."""
    return ActivitiesAdded(tuple(Catalog(ft).add_custom(activities)))


def check_removable(ft: Famtune, *, item_id: str) -> None:
    """FamtuneError for a built-in activity, NotFound for an id that is not a custom one."""
    if item_id in builtin_ids():
        raise FamtuneError(f"{item_id!r} is a built-in activity and cannot be removed")
    if not any(i.id == item_id and i.source == "custom" for i in Catalog(ft).items()):
        raise NotFound(f"no custom activity {item_id!r}")


def remove_activity(ft: Famtune, *, item_id: str) -> ActivityRemoved:
    Catalog(ft).remove_custom(item_id)
    return ActivityRemoved(item_id)
