"""Child-safety validation of catalog items and generated suggestions (no Qt, no Presidio)."""

from engine.safety.items import SafetyItem, parse_item
from engine.safety.lexicon import Lexicon, default_lexicon
from engine.safety.validator import (
    HARD_CODES,
    SOFT_CODES,
    Audience,
    Reason,
    SafetyValidator,
    SafetyVerdict,
    age_cap,
    audience_limit,
    build_audience,
    member_limit,
    member_name,
    select_members,
)
from engine.safety.windows import local_moment, weekday_js, window_applies

__all__ = [
    "HARD_CODES",
    "SOFT_CODES",
    "Audience",
    "Lexicon",
    "Reason",
    "SafetyItem",
    "SafetyValidator",
    "SafetyVerdict",
    "age_cap",
    "audience_limit",
    "build_audience",
    "default_lexicon",
    "local_moment",
    "member_limit",
    "member_name",
    "parse_item",
    "select_members",
    "weekday_js",
    "window_applies",
]
