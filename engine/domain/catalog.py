"""The activity catalog: the built-in activities shipped in ``resources/catalog.json`` plus
the custom activities a parent added (the ``custom_activity`` table).

Every item is validated at the boundary by ``CatalogItem`` (camelCase, strict, bounded), the
same model for built-in and custom items. Custom ids never shadow a built-in id; adding a custom
item whose id is already custom replaces it. ``version_token()`` changes whenever the custom
activities change, so that callers can cache whatever they derive from ``items()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import func
from sqlmodel import col, select

from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from engine.base.paths import resource_path
from engine.base.vocabulary import RATINGS, ContentRating
from engine.db.tables import CustomActivity, utcnow
from engine.domain.audit import record_event
from engine.schema.profiles import normalize_topic, validation_failed

if TYPE_CHECKING:
    from engine.domain.home import Famtune

Category = Literal[
    "educational", "entertainment", "creative", "outdoor", "stem", "physical", "social",
    "cooking", "music", "reading", "games", "relaxation", "life_skills",
]  # fmt: skip
Setting = Literal["indoor", "outdoor", "either"]
Energy = Literal["low", "medium", "high"]
BestTime = Literal["morning", "afternoon", "evening", "night"]
Weather = Literal["any", "dry", "sunny", "rain", "snow"]
Cost = Literal["free", "low", "medium", "high"]
Source = Literal["builtin", "custom"]

CATEGORIES: tuple[Category, ...] = get_args(Category)
ENERGIES: tuple[Energy, ...] = get_args(Energy)
BEST_TIMES: tuple[BestTime, ...] = get_args(BestTime)
WEATHERS: tuple[Weather, ...] = get_args(Weather)

ITEM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,79}$"
TOPIC_PATTERN = r"^[a-z0-9][a-z0-9_]{0,39}$"
MAX_TITLE = 60
MAX_DESCRIPTION = 600
MAX_TOPICS = 12
MAX_CUSTOM_PER_ADD = 500
MAX_CUSTOM_TOTAL = 5000
MAX_CATALOG_FILE_BYTES = 8 * 1024 * 1024

ItemId = Annotated[str, StringConstraints(pattern=ITEM_ID_PATTERN, min_length=2, max_length=80)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION)
]
Topic = Annotated[str, StringConstraints(pattern=TOPIC_PATTERN, min_length=1, max_length=40)]

# The part of the day a request's timeOfDay falls in, in the catalog's coarser ``bestTimes``.
_BEST_TIME_OF: dict[str, BestTime] = {
    "early_morning": "morning", "morning": "morning", "midday": "afternoon",
    "afternoon": "afternoon", "evening": "evening", "night": "night",
}  # fmt: skip


def best_time_for(time_of_day: str) -> BestTime:
    """A context's ``timeOfDay`` (early_morning ... night) as a catalog ``bestTimes`` value."""
    return _BEST_TIME_OF.get(time_of_day, "afternoon")


def _unique(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, strict=True, frozen=True, str_max_length=2000
    )


class GroupSize(_Strict):
    min: int = Field(ge=1, le=1000)
    max: int = Field(ge=1, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> GroupSize:
        if self.max < self.min:
            raise ValueError("max must be at least min")
        return self


class CatalogItem(_Strict):
    """One activity, in the catalog file's camelCase shape (plus an optional ``source``)."""

    id: ItemId
    title: Title
    description: Description
    categories: Annotated[list[Category], Field(min_length=1, max_length=len(CATEGORIES))]
    topics: Annotated[list[Topic], Field(max_length=MAX_TOPICS)] = Field(default_factory=list)
    content_rating: ContentRating = Field(alias="contentRating")
    min_age: int = Field(alias="minAge", ge=0, le=120)
    max_age: int | None = Field(None, alias="maxAge", ge=0, le=120)
    setting: Setting
    # Whether doing the activity means looking at a screen (TV, film, video game, tablet,
    # app, computer, video call): a time limit on "screens" pauses it. Reviewed per item in
    # the catalog file, where only ``true`` is written; absent means no screen.
    screen: bool = False
    duration_minutes: int = Field(alias="durationMinutes", ge=1, le=24 * 60)
    energy: Energy
    group_size: GroupSize = Field(alias="groupSize")
    best_times: Annotated[list[BestTime], Field(min_length=1, max_length=len(BEST_TIMES))] = Field(
        alias="bestTimes"
    )
    weather: Annotated[list[Weather], Field(min_length=1, max_length=len(WEATHERS))]
    cost: Cost
    source: Source | None = None

    @field_validator("topics", mode="before")
    @classmethod
    def _normalize_topics(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [normalize_topic(t) if isinstance(t, str) else t for t in value]
        return value

    @field_validator("categories", "topics", "best_times", "weather")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        return _unique(value, "values")

    @model_validator(mode="after")
    def _age_range(self) -> CatalogItem:
        if self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("maxAge: must be at least minAge")
        return self

    @property
    def category(self) -> Category:
        """The primary (first) category."""
        return self.categories[0]

    @property
    def rating_rank(self) -> int:
        """0 for G ... 3 for R."""
        return RATINGS.index(self.content_rating)

    def to_json(self) -> dict[str, Any]:
        """The camelCase document; optional fields that are not set are left out (``screen``
        only appears when true, as in the catalog file)."""
        doc = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        if not self.screen:
            del doc["screen"]
        return doc


def _item_error(exc: ValidationError, where: str) -> ValidationFailed:
    """``activities[3].contentRating: ...`` from pydantic's first error."""
    err = validation_failed(exc, CatalogItem)
    field, detail = err.field, err.detail
    if field == CatalogItem.__name__:  # a cross-field check: "maxAge: must be ..."
        name, sep, rest = detail.partition(": ")
        field, detail = (name, rest) if sep and name.isidentifier() else ("", detail)
    full = ".".join(p for p in (where, field) if p).replace(".[", "[")
    return ValidationFailed(full, detail)


def parse_catalog_item(data: Any, *, where: str = "", source: Source | None = None) -> CatalogItem:
    """Validate one decoded JSON object as a catalog item, or raise ValidationFailed whose
    field is prefixed with ``where`` (e.g. ``activities[3].contentRating``)."""
    if isinstance(data, CatalogItem):
        return data if source is None else data.model_copy(update={"source": source})
    if not isinstance(data, Mapping):
        raise ValidationFailed(where, "an activity must be a JSON object")
    doc = dict(data)
    if source is not None:
        doc["source"] = source
    try:
        return CatalogItem.model_validate(doc)
    except ValidationError as exc:
        raise _item_error(exc, where) from None


def activities_of(document: Any) -> list[Any]:
    """The activities of a decoded file: one item object, a list, or ``{"activities": [...]}``."""
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        if "activities" in document:
            activities = document["activities"]
            if not isinstance(activities, list):
                raise ValidationFailed("activities", "must be a list of activities")
            return activities
        return [document]
    raise ValidationFailed("", 'expected an activity object, a list, or {"activities": [...]}')


@lru_cache(maxsize=1)
def _builtin() -> tuple[CatalogItem, ...]:
    path = resource_path("catalog.json")
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise FamtuneError(f"the activity catalog {path} cannot be read: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != 1:
        raise FamtuneError(f"the activity catalog {path} is not a version 1 catalog")
    items: list[CatalogItem] = []
    seen: set[str] = set()
    for i, data in enumerate(activities_of(document)):
        try:
            item = parse_catalog_item(data, where=f"activities[{i}]", source="builtin")
        except ValidationFailed as exc:
            raise FamtuneError(f"the activity catalog {path} is invalid: {exc}") from None
        if item.id in seen:
            raise FamtuneError(f"the activity catalog {path} repeats the id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return tuple(items)


def load_builtin_catalog() -> list[CatalogItem]:
    """The shipped activities (validated once per process, then cached)."""
    return list(_builtin())


@lru_cache(maxsize=1)
def builtin_ids() -> frozenset[str]:
    return frozenset(item.id for item in _builtin())


class Catalog:
    """The built-in and custom activities of one data directory."""

    def __init__(self, ft: Famtune) -> None:
        self.ft = ft
        self._cache: tuple[str, tuple[CatalogItem, ...]] | None = None

    # -- reading ------------------------------------------------------------------------------

    def version_token(self) -> str:
        """Changes whenever a custom activity is added, replaced or removed (cheap: one query)."""
        with self.ft.db.read() as session:
            count, newest = session.exec(
                select(func.count(col(CustomActivity.id)), func.max(CustomActivity.created_at))
            ).one()
        stamp = newest.isoformat() if newest is not None else "-"
        return f"builtin:{len(_builtin())}|custom:{count}|{stamp}"

    def custom_items(self) -> list[CatalogItem]:
        """The custom activities, ordered by id."""
        with self.ft.db.read() as session:
            rows = session.exec(select(CustomActivity).order_by(col(CustomActivity.id))).all()
        builtin = builtin_ids()
        items: list[CatalogItem] = []
        for row in rows:
            if row.id in builtin:  # never shadow a built-in activity, whatever is stored
                continue
            try:
                items.append(parse_catalog_item(row.data, source="custom"))
            except ValidationFailed as exc:
                self.ft.log_event("warning", "catalog", f"custom activity {row.id}: {exc}")
        return items

    def items(self) -> list[CatalogItem]:
        """Built-in activities (file order), then custom ones (by id). Cached per token."""
        token = self.version_token()
        if self._cache is None or self._cache[0] != token:
            self._cache = (token, (*_builtin(), *self.custom_items()))
        return list(self._cache[1])

    def get(self, item_id: str) -> CatalogItem | None:
        """The activity with this id, or None."""
        return next((item for item in self.items() if item.id == item_id), None)

    def require(self, item_id: str) -> CatalogItem:
        """The activity with this id, or NotFound."""
        item = self.get(item_id)
        if item is None:
            raise NotFound(f"no activity {item_id!r} in the catalog")
        return item

    # -- custom activities --------------------------------------------------------------------

    def add_custom(self, items: Sequence[Mapping[str, Any] | CatalogItem]) -> list[str]:
        """Validate every item, then store them all in one transaction (all or nothing).

        An id that is already custom is replaced; a built-in id is refused. Errors name the
        field as ``activities[i].field``. Returns the ids, in the order given.
        """
        if len(items) > MAX_CUSTOM_PER_ADD:
            raise ValidationFailed(
                "activities",
                f"too many activities at once ({len(items)}, limit {MAX_CUSTOM_PER_ADD})",
            )
        if not items:
            raise ValidationFailed("activities", "no activities to add")
        builtin = builtin_ids()
        parsed: list[CatalogItem] = []
        seen: set[str] = set()
        for i, data in enumerate(items):
            where = f"activities[{i}]"
            item = parse_catalog_item(data, where=where, source="custom")
            if item.id in builtin:
                raise ValidationFailed(
                    f"{where}.id", f"{item.id!r} is a built-in activity and cannot be replaced"
                )
            if item.id in seen:
                raise ValidationFailed(f"{where}.id", f"{item.id!r} appears twice")
            seen.add(item.id)
            parsed.append(item)
        with self.ft.db.write() as session:
            existing = set(session.exec(select(CustomActivity.id)).all())
            total = len(existing | seen)
            if total > MAX_CUSTOM_TOTAL:
                raise ValidationFailed(
                    "activities", f"too many custom activities ({total}, limit {MAX_CUSTOM_TOTAL})"
                )
            now = utcnow()
            for item in parsed:
                row = session.get(CustomActivity, item.id)
                if row is None:
                    row = CustomActivity(id=item.id, data=item.to_json(), created_at=now)
                else:
                    row.data = item.to_json()
                    row.created_at = now
                session.add(row)
            record_event(
                session,
                event_type="catalog_changed",
                actor="parent",
                details={
                    "added": [i.id for i in parsed if i.id not in existing],
                    "replaced": [i.id for i in parsed if i.id in existing],
                },
            )
        self._cache = None
        return [item.id for item in parsed]

    def remove_custom(self, item_id: str) -> None:
        """Delete a custom activity; NotFound when there is none, an error for a built-in."""
        if item_id in builtin_ids():
            raise FamtuneError(f"{item_id!r} is a built-in activity and cannot be removed")
        with self.ft.db.write() as session:
            row = session.get(CustomActivity, item_id)
            if row is None:
                raise NotFound(f"no custom activity {item_id!r}")
            session.delete(row)
            record_event(
                session,
                event_type="catalog_changed",
                actor="parent",
                details={"removed": [item_id]},
            )
        self._cache = None
