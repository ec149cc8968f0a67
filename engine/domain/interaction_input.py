"""One interaction as it arrives (a tap, a CLI argument, a line of an import file), validated
at the boundary with the field named; nothing here touches the database."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from engine.base.errors import ValidationFailed
from engine.schema.context import RequestContext
from engine.schema.profiles import Identifier, validation_failed

ITEM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"
MAX_NOTE_CHARS = 1000
MAX_IMPORT_BYTES = 32 * 1024 * 1024
MAX_LINE_CHARS = 16 * 1024
Outcome = Literal["shown", "accepted", "dismissed", "completed", "rated"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
ItemId = Annotated[str, StringConstraints(pattern=ITEM_PATTERN, min_length=1, max_length=80)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE_CHARS)]


class InteractionInput(BaseModel):
    """One interaction as it arrives (a JSONL line, the CLI, the GUI), camelCase."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    member: Identifier
    item_id: ItemId = Field(alias="itemId")
    outcome: Outcome
    rating: Annotated[int, Field(strict=True)] | None = None
    note: Note | None = None
    context: RequestContext
    at: datetime | None = None


class RecordInvalid(ValidationFailed):
    """One record of a batch is bad: ``label`` says which (``"line 17"``), ``index`` is 0-based."""

    def __init__(self, label: str, index: int, field: str, message: str) -> None:
        super().__init__(field, message)
        self.label = label
        self.index = index
        self.args = (f"{label}: {self.args[0]}",)


def _field_of(exc: ValidationError) -> ValidationFailed:
    err = validation_failed(exc, InteractionInput)
    return ValidationFailed("" if err.field == InteractionInput.__name__ else err.field, err.detail)


def parse_interaction(data: Any) -> InteractionInput:
    """Validate one decoded JSON object, or raise ValidationFailed naming the field."""
    if isinstance(data, InteractionInput):
        return data
    if not isinstance(data, Mapping):
        raise ValidationFailed("", "an interaction must be a JSON object")
    try:
        record = InteractionInput.model_validate(dict(data))
    except ValidationError as exc:
        raise _field_of(exc) from None
    _check_rating(record)
    return record


def parse_interaction_lines(data: bytes | str) -> tuple[list[InteractionInput], list[str]]:
    """JSONL: one interaction a line, blank lines skipped. Returns the records and their labels
    (``"line N"``). The first bad line raises RecordInvalid naming the line and the field."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed("", f"the file is too large (limit {MAX_IMPORT_BYTES} bytes)")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed("", "the file is not UTF-8 text") from None
    records: list[InteractionInput] = []
    labels: list[str] = []
    for number, line in enumerate(data.split("\n"), start=1):
        if not line.strip():
            continue
        label = f"line {number}"
        if len(line) > MAX_LINE_CHARS:
            raise RecordInvalid(
                label, len(records), "", f"the line is too long (limit {MAX_LINE_CHARS} characters)"
            )
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordInvalid(label, len(records), "", f"not valid JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:  # nesting, or a number of 4300+ digits
            why = "nested too deeply" if isinstance(exc, RecursionError) else "a number is too long"
            raise RecordInvalid(label, len(records), "", f"not valid JSON: {why}") from None
        try:
            records.append(parse_interaction(obj))
        except ValidationFailed as exc:
            raise RecordInvalid(label, len(records), exc.field, exc.detail) from None
        labels.append(label)
    return records, labels


def _check_rating(record: InteractionInput) -> None:
    if record.outcome == "rated":
        if record.rating is None:
            raise ValidationFailed("rating", "a 'rated' interaction needs a rating from 1 to 5")
        if not 1 <= record.rating <= 5:
            raise ValidationFailed("rating", f"must be from 1 to 5, not {record.rating}")
    elif record.rating is not None:
        raise ValidationFailed(
            "rating", f"only 'rated' interactions take a rating, not {record.outcome!r}"
        )
