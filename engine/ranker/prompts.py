"""The pointwise scorer's prompt: who and when once (the prefix, shared by every candidate
in llama.cpp's KV cache), then one short suffix per candidate, answered " Yes" or " No".

People are roles and ages; the moment is the day, weekday or weekend, the part of the day,
an activity word and known factors; the item is its title and topics. Nothing else: no
names, no free text, nothing a scrubbed log could not say. The same text is used in training
(:mod:`engine.ranker.training`) and serving (:mod:`engine.ranker.family_ranker`), so the
scorer reads exactly what it learned on.
"""

from __future__ import annotations

from engine.domain.catalog import CatalogItem
from engine.ranker.moment import Moment

YES = " Yes"
NO = " No"
QUESTION = "Will they enjoy this activity now? Answer Yes or No."


def who(moment: Moment) -> str:
    """'parent 41, child 8' (roles and ages, oldest first)."""
    people = sorted(moment.members, key=lambda m: -m.age)
    return ", ".join(f"{m.role} {m.age}" for m in people) or "the family"


def prefix(moment: Moment) -> str:
    """The part every candidate of one request shares."""
    when = [moment.day.capitalize(), moment.part.replace("_", " "), moment.daytype]
    if moment.activity:
        when.append(moment.activity.replace("_", " "))
    when += [f.replace("_", " ") for f in moment.factors if f != "home"]
    return f"Family: {who(moment)}.\nWhen: {', '.join(when)}.\n{QUESTION}\n"


def suffix(item: CatalogItem) -> str:
    """One candidate, ending where the answer token comes."""
    topics = ", ".join(t.replace("_", " ") for t in item.topics[:3]) or item.category
    return f"Activity: {item.title} ({topics}).\nAnswer:"


def pointwise(moment: Moment, item: CatalogItem) -> str:
    return prefix(moment) + suffix(item)
