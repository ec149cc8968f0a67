"""The item the safety validator judges: a catalog activity or a generated suggestion.

Items arrive as JSON in the seed's camelCase shape. Only the keys safety needs are read;
catalog keys such as ``setting`` or ``durationMinutes`` are accepted and ignored. Every
field is bounded so that a runaway generation or a hostile file is refused, not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.base.errors import ValidationFailed
from engine.base.vocabulary import ContentRating
from engine.schema.profiles import validation_failed

ItemTag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
ItemTags = Annotated[list[ItemTag], Field(max_length=20)]


class SafetyItem(BaseModel):
    """``{"id","title","description","categories","topics","contentRating","minAge","screen"?,
    "reason"?}``.

    ``contentRating`` is required: an item without a rating is an error, never a silent G.
    A lone ``category`` string (the recommender's output shape) counts as ``categories``.
    ``screen`` (the catalog's flag: the activity uses a screen) defaults to false; a time
    limit on "screens" pauses the items that have it.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    categories: ItemTags = Field(default_factory=list)
    topics: ItemTags = Field(default_factory=list)
    content_rating: ContentRating = Field(alias="contentRating")
    min_age: int = Field(0, ge=0, le=120, alias="minAge")
    screen: StrictBool = False
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _single_category(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "categories" not in data:
            category = data.get("category")
            if isinstance(category, str):
                return {**data, "categories": [category]}
        return data

    @field_validator("content_rating", mode="before")
    @classmethod
    def _rating_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def parse_item(data: Any, *, where: str = "") -> SafetyItem:
    """Validate a decoded JSON object as an item, or raise ValidationFailed naming the field.

    ``where`` prefixes the field path, e.g. ``items[3]`` when judging a list.
    """
    if isinstance(data, SafetyItem):
        return data
    if not isinstance(data, Mapping):
        raise ValidationFailed(where, "an item must be a JSON object")
    try:
        return SafetyItem.model_validate(data)
    except ValidationError as exc:
        failed = validation_failed(exc, SafetyItem)
        if not where:
            raise failed from None
        field = f"{where}.{failed.field}" if failed.field else where
        raise ValidationFailed(field, failed.detail) from None
