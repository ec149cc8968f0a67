"""The audit trail in plain words for the parental screen: what each event's details mean
("Wrong tries: 3, wait 1 s", "Content limit PG → PG-13", "Picks well 71%"), never raw JSON,
long floats or hashes. Presentation only."""

from __future__ import annotations

import re
from typing import Any

from famtune_gui.fmt import words

EVENT_WORDS = {
    "safety_block": "Idea blocked by the safety check",
    "settings_changed": "Parental settings changed",
    "profile_imported": "Family imported",
    "family_created": "Family created",
    "profile_updated": "Family profile changed",
    "family_deleted": "Family deleted",
    "pin_set": "PIN set",
    "pin_changed": "PIN changed",
    "pin_failed": "Wrong PIN",
    "pin_lockout": "PIN locked",
    "pin_recovered": "New PIN with the recovery code",
    "pin_recovery_failed": "Wrong recovery code",
    "pin_reset": "PIN cleared by the device's owner",
    "model_created": "Family model trained",
    "model_activated": "Family model in use",
    "model_rejected": "Family model not used",
    "model_rolled_back": "Family model switched back",
    "model_deleted": "Family model deleted",
    "data_exported": "Data exported",
    "data_erased": "Data erased",
    "kiosk_exit": "Left kiosk mode",
    "backup_created": "Backup made",
    "data_restored": "Data restored",
}

_KEY_WORDS = {
    "failures": "wrong tries",
    "retryAfterS": "wait",
    "lockedForS": "locked for",
    "members": "members",
    "version": "version",
    "versions": "versions",
    "reason": "",
    "itemId": "idea",
    "codes": "why",
    "performanceScore": "picks well",
    "baselineScore": "general ideas pick well",
    "safetyScore": "safety",
    "interactions": "taps",
    "modelVersions": "model versions",
    "eventsVerified": "events checked",
    "wasSet": "a PIN was set",
    "from": "from",
    "to": "to",
    "via": "",
}
_CHANGE_WORDS = {
    "maxContentRating": "content limit",
    "blockedTopics": "blocked topics",
    "timeRestrictions": "time limits",
    "memberSafetyLevels": "safety levels",
    "privacyLevel": "privacy",
}
_HIDDEN = re.compile(r"(sha256|hash|path|dir|file)", re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-f]{16,}$")
MAX_TEXT = 160


def event_words(event_type: str) -> str:
    return EVENT_WORDS.get(event_type, words(event_type))


def _key(key: str) -> str:
    if key in _KEY_WORDS:
        return _KEY_WORDS[key]
    return re.sub(r"(?<!^)(?=[A-Z])", " ", key).lower()


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key.endswith("Score") and 0.0 <= value <= 1.0:
            return f"{value * 100:.0f}%"
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and key.endswith("S"):
        return "1 hour" if value == 3600 else f"{value} s"
    if value == "recoveryCode":
        return "with the recovery code"
    if isinstance(value, list):
        shown = [_value(key, v) for v in value[:4] if not isinstance(v, dict | list)]
        more = f" and {len(value) - 4} more" if len(value) > 4 else ""
        return (", ".join(shown) + more) if shown else f"{len(value)}"
    text = str(value)
    return "…" if _HEX.match(text) else text


def _changes(changes: dict[str, Any]) -> list[str]:
    out = []
    for key, change in changes.items():
        what = _CHANGE_WORDS.get(key, _key(key))
        if isinstance(change, dict) and "added" in change:
            added = ", ".join(words(t).lower() for t in change.get("added") or [])
            removed = ", ".join(words(t).lower() for t in change.get("removed") or [])
            parts = [f"+ {added}"] if added else []
            parts += [f"- {removed}"] if removed else []
            out.append(f"{what}: {'; '.join(parts)}")
        elif isinstance(change, dict) and "from" in change and not isinstance(change["from"], list):
            out.append(f"{what} {change['from']} → {change['to']}")
        else:
            out.append(f"{what} changed")
    return out


def details_words(details: dict[str, Any]) -> str:
    """One line a parent can read; nested values become a few words."""
    parts: list[str] = []
    for key, value in details.items():
        if _HIDDEN.search(key) or value in (None, "", [], {}):
            continue
        if key == "changes" and isinstance(value, dict):
            parts.extend(_changes(value))
            continue
        if isinstance(value, dict):
            continue
        label, shown = _key(key), _value(key, value)
        parts.append(f"{label}: {shown}" if label else shown)
    text = ", ".join(parts)
    text = text[:1].upper() + text[1:]
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
