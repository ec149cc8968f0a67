"""The recommendation prompt, its JSON schema, and training examples in exactly that format.

The base model is not chat-tuned, so the prompt is a plain completion: a fixed header, the
audience (ages, roles, interests; never names), the candidate activities as
``id: title (category)`` lines, then the moment (time, day, activity, factors) and the
instruction. The parts that change least come first, so consecutive requests of a family
share a long prefix that the service reuses from its KV cache.

The answer is the JSON that :func:`recommendation_schema` allows, written the way
``json.dumps`` writes it (``", "`` and ``": "`` separators, non-ASCII kept), which is also
what grammar-constrained decoding produces. The fine-tuning engineer trains on
:func:`build_training_example`: tokenize the prompt (with BOS) and the response separately,
concatenate, append EOS, and compute the loss on the response tokens only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

REASON_MAX_CHARS = 120
DEFAULT_STYLE = "friendly"
HEADER = "Family activity picks."
MAX_INTERESTS = 5
MAX_FACTORS = 6
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SPACES = re.compile(r"\s+")


if TYPE_CHECKING:
    from engine.domain.catalog import CatalogItem
    from engine.safety.validator import Audience


def _clean(value: Any, limit: int) -> str:
    """One line of plain text: control characters and runs of spaces collapsed, cut."""
    text = _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()
    return text[:limit].rstrip()


def _tag(value: Any, limit: int = 30) -> str:
    return _clean(str(value).replace("_", " "), limit)


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", []):
            return value
    return None


def _context_lines(context: Mapping[str, Any]) -> list[str]:
    when = " ".join(
        _tag(part)
        for part in (
            _first(context, "dayOfWeek", "day_of_week", "day"),
            _first(context, "timeOfDay", "time_of_day"),
        )
        if part
    )
    lines = [f"When: {when}"] if when else []
    activity = _first(context, "currentActivity", "current_activity", "activity")
    if activity:
        lines.append(f"Doing: {_clean(activity, 60)}")
    factors = _first(context, "environmentalFactors", "environmental_factors", "factors") or []
    tags = list(dict.fromkeys(t for t in (_tag(f) for f in factors) if t))[:MAX_FACTORS]
    if tags:
        lines.append(f"Factors: {', '.join(tags)}")
    return lines


def _member(member: Mapping[str, Any]) -> str:
    role = _tag(member.get("role") or "member", 20)
    age = member.get("age")
    head = role
    if isinstance(age, (int, float)) and not isinstance(age, bool) and 0 <= age < 130:
        head = f"{role} {int(age)}"
    prefs = member.get("preferences")
    raw = member.get("interests")
    if raw is None and isinstance(prefs, Mapping):
        raw = prefs.get("interests")
    interests = [t for t in (_tag(i) for i in (raw or [])) if t][:MAX_INTERESTS]
    return f"{head} ({', '.join(interests)})" if interests else head


def _candidate(item: Mapping[str, Any]) -> tuple[str, str]:
    item_id = str(item.get("id", "")).strip()
    if not item_id or _SPACES.search(item_id) or _CONTROL.search(item_id):
        raise ValueError(f"candidate id {item_id!r} is empty or has spaces")
    title = _clean(item.get("title") or item_id, 60)
    categories = item.get("categories")
    category = categories[0] if isinstance(categories, list) and categories else None
    category = category or item.get("category")
    line = f"{item_id}: {title}" + (f" ({_tag(category, 20)})" if category else "")
    return item_id, line


def build_recommendation_prompt(
    context: Mapping[str, Any],
    audience: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    n: int,
    style: str = DEFAULT_STYLE,
) -> str:
    """The completion prompt. ``context`` is the scrubbed request context (camelCase as the
    engine keeps it, or snake_case); only time of day, day, activity and factors are used.
    ``audience`` items give ``age``, ``role`` and ``interests`` (or
    ``preferences.interests``); names and ids are ignored. ``candidates`` give ``id``,
    ``title`` and ``categories`` (or ``category``), in the order the caller ranks them."""
    if n < 1:
        raise ValueError("n must be at least 1")
    lines = [HEADER]
    if audience:
        lines.append("Who: " + "; ".join(_member(m) for m in audience))
    lines.append("Options:")
    seen: set[str] = set()
    for item in candidates:
        item_id, line = _candidate(item)
        if item_id not in seen:
            seen.add(item_id)
            lines.append(line)
    if not seen:
        raise ValueError("no candidates")
    lines.extend(_context_lines(context))
    count = min(n, len(seen))
    style_text = _clean(style, 30) or DEFAULT_STYLE
    lines.append(
        f"Recommend {count} of the options above, with a short {style_text} reason for each."
    )
    return "\n".join(lines) + "\n"


def recommendation_schema(candidate_ids: Sequence[str], n: int) -> dict[str, Any]:
    """``{"recommendations": [{"id": <one of candidate_ids>, "reason": <1-120 chars>}]}``
    with exactly ``min(n, number of distinct ids)`` items."""
    ids = list(dict.fromkeys(str(i) for i in candidate_ids))
    if not ids:
        raise ValueError("no candidate ids")
    if n < 1:
        raise ValueError("n must be at least 1")
    count = min(n, len(ids))
    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "enum": ids},
            "reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX_CHARS},
        },
        "required": ["id", "reason"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "recommendations": {
                "type": "array",
                "items": item,
                "minItems": count,
                "maxItems": count,
            }
        },
        "required": ["recommendations"],
        "additionalProperties": False,
    }


def response_text(chosen_ids: Sequence[str], reasons: Sequence[str]) -> str:
    """The exact JSON text the schema-constrained model is trained to produce."""
    if len(chosen_ids) != len(reasons):
        raise ValueError("chosen_ids and reasons differ in length")
    items = []
    for item_id, reason in zip(chosen_ids, reasons, strict=True):
        text = _clean(reason, REASON_MAX_CHARS) or "fits the moment"
        items.append({"id": str(item_id), "reason": text})
    return json.dumps({"recommendations": items}, ensure_ascii=False)


def build_training_example(
    context: Mapping[str, Any],
    audience: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    chosen_ids: Sequence[str],
    reasons: Sequence[str],
    *,
    style: str = DEFAULT_STYLE,
) -> tuple[str, str]:
    """(prompt, response JSON text) for one thing the family picked: the prompt is
    :func:`build_recommendation_prompt` with ``n = len(chosen_ids)``, the response is valid
    under :func:`recommendation_schema` for the same candidates and ``n``."""
    if not chosen_ids:
        raise ValueError("no chosen ids")
    if len(set(chosen_ids)) != len(chosen_ids):
        raise ValueError("chosen ids repeat")
    known = {_candidate(item)[0] for item in candidates}
    missing = [i for i in chosen_ids if i not in known]
    if missing:
        raise ValueError(f"chosen ids not among the candidates: {missing}")
    prompt = build_recommendation_prompt(context, audience, candidates, len(chosen_ids), style)
    return prompt, response_text(chosen_ids, reasons)


_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_REASON = re.compile(r'"reason"\s*:\s*"((?:[^"\\]|\\.)*)')


def _unescape(text: str) -> str:
    try:
        return str(json.loads(f'"{text}"'))
    except ValueError:
        return text


def parse_picks(text: str, parsed: Any = None) -> list[tuple[str, str]]:
    """(id, reason) pairs in the order written; from a cut-off answer too (an unfinished
    reason is kept as far as it goes, an id without a reason gets "")."""
    if isinstance(parsed, dict) and isinstance(parsed.get("recommendations"), list):
        return [(str(e.get("id", "")), str(e.get("reason", "")))
                for e in parsed["recommendations"] if isinstance(e, dict)]  # fmt: skip
    found = sorted([(m.start(), "id", _unescape(m.group(1))) for m in _ID.finditer(text)]
                   + [(m.start(), "reason", _unescape(m.group(1)))
                      for m in _REASON.finditer(text)])  # fmt: skip
    picks: list[tuple[str, str]] = []
    for _, kind, value in found:
        if kind == "id":
            picks.append((value, ""))
        elif picks:
            picks[-1] = (picks[-1][0], value)
    return picks


def audience_facts(audience: Audience) -> list[dict[str, Any]]:
    """What the prompt may say about the audience: no names, only ages, roles, interests."""
    return [
        {
            "age": m.age,
            "role": m.role,
            "interests": sorted({*m.preferences.interests, *m.preferences.preferred_topics}),
        }
        for m in audience.members
    ]


def candidate_facts(item: CatalogItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "category": item.category,
        "topics": list(item.topics),
    }
