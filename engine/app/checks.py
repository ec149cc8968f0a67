"""Checks a parent can run by hand: would this item be shown to these members at this time
(the safety validator), and what would the privacy filter keep of this text.

The safety check audits a block (``safety_block``) the way a recommendation would; the
privacy check stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.app.families import load_profile
from engine.base.vocabulary import PrivacyLevel
from engine.domain import audit
from engine.domain.home import Famtune
from engine.safety import SafetyItem, SafetyValidator, SafetyVerdict, parse_item
from engine.schema.profiles import load_json_text

if TYPE_CHECKING:
    from engine.privacy import ScrubResult

__all__ = [
    "MAX_ITEM_BYTES",
    "SafetyCheck",
    "Scrubbed",
    "check_item",
    "read_item",
    "scrub_text",
]

MAX_ITEM_BYTES = 64 * 1024


@dataclass(frozen=True)
class SafetyCheck:
    """The verdict on one item, and whether the block was written to the audit trail."""

    item: SafetyItem
    verdict: SafetyVerdict
    audited: bool


@dataclass(frozen=True)
class Scrubbed:
    """What the privacy filter kept of a text, at the level it ran at."""

    level: PrivacyLevel
    result: ScrubResult


def read_item(raw: bytes) -> SafetyItem:
    """An item document, decoded and validated (ValidationFailed names the field)."""
    return parse_item(load_json_text(raw, "item"))


def check_item(
    ft: Famtune,
    *,
    family_id: str,
    item: SafetyItem,
    members: Sequence[str] = (),
    at: datetime | None = None,
) -> SafetyCheck:
    """Judge ``item`` for ``members`` of the family (default: everyone) at ``at`` (default:
    now) under the configured rating cap; a block is audited."""
    validator = SafetyValidator(rating_cap=ft.config.max_content_rating_cap)
    profile = load_profile(ft, family_id)
    verdict = validator.check(profile, item, members=members, at=at)
    if not verdict.allowed:
        with ft.db.write() as session:
            audit.record_event(
                session,
                event_type="safety_block",
                family_id=profile.family_id,
                details={"itemId": item.id, "codes": verdict.codes},
            )
    return SafetyCheck(item, verdict, audited=not verdict.allowed)


def scrub_text(ft: Famtune, *, family_id: str, text: str, level: str | None = None) -> Scrubbed:
    """The text with personal data replaced by typed placeholders; the family's names are
    always removed. ``level``: "standard" or "strict" (default: the configuration's);
    anything but an explicit "standard" keeps no free text (fail closed)."""
    from engine.privacy import PrivacyFilter

    profile = load_profile(ft, family_id)
    wanted: Any = level or getattr(ft.config, "privacy_level", "standard")
    chosen: PrivacyLevel = "standard" if wanted == "standard" else "strict"
    return Scrubbed(chosen, PrivacyFilter(profile, level=chosen).scrub(text))
