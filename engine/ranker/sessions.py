"""Sessions: a family's scrubbed interaction records grouped by the moment they belong to.

Records that share the same scrubbed context (which carries ``at`` and the audience
``familyMembers``) form one session: the items shown and what happened to each. A context
without ``at`` joins the newest session with the same context if it is less than
``SESSION_GAP`` old. A session is *positive* when an item was completed, rated 4-5 or accepted
(a rating of 1-2 cancels an acceptance); the strongest picks come first: rated high, then
completed, then merely accepted.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from engine.base.errors import ValidationFailed
from engine.domain.interactions import InteractionView
from engine.schema.context import parse_context
from engine.schema.profiles import FamilyProfile

SESSION_GAP = timedelta(hours=3)


@dataclass
class Session:
    """Records of one moment: the context, who was there, what was shown and what happened."""

    at: datetime
    context: dict[str, Any]
    audience: tuple[str, ...]
    last: datetime
    shown: list[str] = field(default_factory=list)
    outcomes: dict[str, set[str]] = field(default_factory=dict)
    ratings: dict[str, int] = field(default_factory=dict)

    def add(self, row: InteractionView) -> None:
        if row.item_id not in self.outcomes:
            self.shown.append(row.item_id)
            self.outcomes[row.item_id] = set()
        self.outcomes[row.item_id].add(row.outcome)
        if row.outcome == "rated" and row.rating is not None:
            self.ratings[row.item_id] = row.rating
        self.last = max(self.last, row.created_at)

    def strength(self, item_id: str) -> float | None:
        """How strongly the family chose the item (None: not a positive)."""
        outcomes, rating = self.outcomes.get(item_id, set()), self.ratings.get(item_id)
        if rating is not None and rating <= 2:
            return None
        if rating is not None and rating >= 4:
            return 3.0 + rating / 10
        if "completed" in outcomes:
            return 2.0
        return 1.0 if "accepted" in outcomes else None

    @property
    def positives(self) -> list[str]:
        """Chosen items, strongest first (ties: the order they were shown)."""
        scored = [(s, -i, item) for i, item in enumerate(self.shown)
                  if (s := self.strength(item)) is not None]  # fmt: skip
        return [item for _, _, item in sorted(scored, reverse=True)]

    @property
    def dismissed(self) -> list[str]:
        chosen = set(self.positives)
        return [i for i in self.shown if "dismissed" in self.outcomes[i] and i not in chosen]


def aware(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.utcoffset() is None else at


def canonical(doc: Any) -> str:
    """Sorted, compact JSON: the key of a context and the input of dataset hashes."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sessions_of(history: Sequence[InteractionView], profile: FamilyProfile) -> list[Session]:
    """The family's sessions, oldest first (see the module docstring)."""
    known = [m.user_id for m in profile.members]
    open_: dict[str, Session] = {}
    sessions: list[Session] = []
    for row in history:
        context = dict(row.context)
        key = canonical(context)
        session = open_.get(key)
        stamped = context.get("at") is not None
        if session is None or (not stamped and row.created_at - session.last > SESSION_GAP):
            at = row.created_at
            if stamped:
                with contextlib.suppress(ValidationFailed):
                    at = min(at, aware(parse_context(context).at or at))
            present = [u for u in context.get("familyMembers") or [] if u in known]
            session = Session(at=at, context=context, audience=tuple(present or known), last=at)
            open_[key] = session
            sessions.append(session)
        session.add(row)
    return sorted(sessions, key=lambda s: s.at)
