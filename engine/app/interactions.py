"""Interaction actions: read a context document, record one interaction, import a JSONL file
of them (all or nothing), list a family's interactions.

A context document is decoded and validated once, by :func:`read_context`; the actions and
the recommendation service take the :class:`RequestContext` it returns as it is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from engine.domain.interaction_input import (
    MAX_IMPORT_BYTES,
    OUTCOMES,
    InteractionInput,
    parse_interaction_lines,
)
from engine.domain.interactions import InteractionLog, InteractionView
from engine.schema.context import RequestContext, parse_context
from engine.schema.profiles import load_json_text

__all__ = [
    "MAX_CONTEXT_BYTES",
    "MAX_IMPORT_BYTES",
    "OUTCOMES",
    "InteractionFile",
    "InteractionView",
    "InteractionsImported",
    "RequestContext",
    "add_interaction",
    "import_interactions",
    "list_interactions",
    "read_context",
    "read_interaction_file",
]

MAX_CONTEXT_BYTES = 64 * 1024


@dataclass(frozen=True)
class InteractionFile:
    """The interactions of a JSONL file, each checked, with the line each came from."""

    records: list[InteractionInput]
    labels: list[str]


@dataclass(frozen=True)
class InteractionsImported:
    family_id: str
    count: int
    seconds: float
    """How long storing them took (rounded to milliseconds), not counting reading the file."""


def read_context(raw: bytes) -> RequestContext:
    """A context document, decoded and validated; ValidationFailed names the field as
    ``context.field``."""
    return parse_context(load_json_text(raw, "context", MAX_CONTEXT_BYTES), path="context")


def add_interaction(
    log: InteractionLog,
    *,
    family_id: str,
    member_id: str,
    item_id: str,
    outcome: str,
    context: RequestContext,
    rating: int | None = None,
    note: str | None = None,
) -> InteractionView:
    """Record one interaction (the note and the context are scrubbed before they are
    stored); returns it as stored."""
    return log.record_interaction(
        family_id, member_id, item_id, outcome, rating=rating, context=context, note=note
    )


def read_interaction_file(raw: bytes) -> InteractionFile:
    """JSONL, one interaction a line; the first bad line raises RecordInvalid naming it."""
    records, labels = parse_interaction_lines(raw)
    return InteractionFile(records, labels)


def import_interactions(
    log: InteractionLog, *, family_id: str, interactions: InteractionFile
) -> InteractionsImported:
    """Store every interaction of the file in one transaction, all or nothing."""
    started = time.perf_counter()
    count = log.record_many(family_id, interactions.records, labels=interactions.labels)
    return InteractionsImported(family_id, count, round(time.perf_counter() - started, 3))


def list_interactions(
    log: InteractionLog,
    *,
    family_id: str,
    member_id: str | None = None,
    limit: int | None = None,
) -> Sequence[InteractionView]:
    """The family's interactions, decrypted, oldest first; ``limit`` keeps the newest N."""
    return log.get_interaction_history(family_id, member_id=member_id, limit=limit)
