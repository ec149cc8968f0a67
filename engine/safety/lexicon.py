"""The safety lexicon: for each topic, the words and short phrases that reveal it in text.

``resources/safety_lexicon.json`` is ``{"version": 1, "topics": {"violence": [...], ...}}``.
Each topic gets one precompiled, case-insensitive, whole-word regex: "ghost" matches
"a Ghost story" and "ghost's" but not "ghostwriter"; a phrase's words may be separated by
any whitespace. A topic that is not in the lexicon is matched by its tag only.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from engine.base.errors import FamtuneError, ValidationFailed
from engine.base.paths import resource_path
from engine.schema.profiles import normalize_topic, validation_failed

LEXICON_FILE = "safety_lexicon.json"
MAX_LEXICON_BYTES = 2 * 1024 * 1024

Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class _LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=1)
    topics: Annotated[
        dict[str, Annotated[list[Term], Field(max_length=2000)]], Field(max_length=500)
    ]


_WORD = re.compile(r"\w+")


def normalize_term(term: str) -> str:
    """Lowercase with single spaces: how a term is stored and how a match is reported."""
    return " ".join(term.lower().split())


def words_of(text: str) -> frozenset[str]:
    """The case-folded words of ``text``: the cheap pre-filter for ``TermPattern.search``."""
    return frozenset(_WORD.findall(text.casefold()))


class TermPattern:
    """Whole-word, case-insensitive matcher for a set of terms (words or short phrases).

    A regex match of a term implies that the term's first word is a word of the text (the
    lookarounds make it a maximal run of word characters), so ``search`` skips the regex
    when none of the first words is among ``words_of(text)``.
    """

    def __init__(self, terms: Iterable[str], *, ignore_case: bool = True) -> None:
        terms = [t if ignore_case else " ".join(t.split()) for t in terms]
        normal = map(normalize_term, terms) if ignore_case else iter(terms)
        self.terms = tuple(dict.fromkeys(t for t in normal if t))
        firsts = [_WORD.search(t.casefold()) for t in self.terms]
        self.keys = frozenset(f.group(0) for f in firsts if f)
        self._always = any(f is None for f in firsts)
        # Longest first, so that a phrase wins over a word it starts with.
        ordered = sorted(self.terms, key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, t.split())) for t in ordered)
        flags = re.IGNORECASE if ignore_case else 0
        self.regex = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", flags)

    def find(self, text: str, words: frozenset[str] | None = None) -> re.Match[str] | None:
        """The first match in ``text``, or None. ``words`` (from ``words_of(text)``) lets a
        text that shares no word with the terms skip the regex."""
        if not text or not self.terms:
            return None
        if words is not None and not self._always and self.keys.isdisjoint(words):
            return None
        return self.regex.search(text)

    def search(self, text: str, words: frozenset[str] | None = None) -> str | None:
        """The first term found in ``text``, normalized, or None."""
        found = self.find(text, words)
        return normalize_term(found.group(0)) if found else None

    def findall(self, text: str) -> list[str]:
        if not text or not self.terms:
            return []
        return list(dict.fromkeys(normalize_term(m.group(0)) for m in self.regex.finditer(text)))


class Lexicon:
    """Topic -> terms, with one compiled whole-word regex per topic."""

    def __init__(self, topics: Mapping[str, Iterable[str]], *, version: int = 1) -> None:
        self.version = version
        merged: dict[str, list[str]] = {}
        for topic, words in topics.items():
            merged.setdefault(normalize_topic(topic), []).extend(words)
        self._matchers = {
            topic: matcher
            for topic, words in merged.items()
            if (matcher := TermPattern(words)).terms
        }

    @classmethod
    def from_json(cls, data: Any) -> Lexicon:
        """Validate a decoded lexicon document, or raise ValidationFailed naming the field."""
        if not isinstance(data, dict):
            raise ValidationFailed("", "the safety lexicon must be a JSON object")
        try:
            parsed = _LexiconFile.model_validate(data)
        except ValidationError as exc:
            raise validation_failed(exc, _LexiconFile) from None
        return cls(parsed.topics, version=parsed.version)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Lexicon:
        """Read the lexicon file (default: the bundled ``resources/safety_lexicon.json``)."""
        file = Path(path) if path is not None else resource_path(LEXICON_FILE)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise FamtuneError(f"cannot read the safety lexicon {file}: {exc.strerror}") from None
        if len(raw) > MAX_LEXICON_BYTES:
            raise ValidationFailed("", f"the safety lexicon {file} is too large")
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationFailed(
                "", f"the safety lexicon {file} is not valid JSON: {exc}"
            ) from None
        return cls.from_json(data)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._matchers)

    def __contains__(self, topic: object) -> bool:
        return isinstance(topic, str) and normalize_topic(topic) in self._matchers

    def terms(self, topic: str) -> tuple[str, ...]:
        matcher = self._matchers.get(normalize_topic(topic))
        return matcher.terms if matcher else ()

    def matcher(self, topic: str) -> TermPattern | None:
        """The topic's matcher; ``topic`` must already be normalized."""
        return self._matchers.get(topic)

    def pattern(self, topic: str) -> re.Pattern[str] | None:
        """The topic's compiled whole-word regex, or None when the topic has no terms."""
        matcher = self._matchers.get(normalize_topic(topic))
        return matcher.regex if matcher else None

    def matches(self, topic: str, text: str) -> list[str]:
        """Every distinct term of ``topic`` found in ``text`` as a whole word, in order."""
        matcher = self._matchers.get(normalize_topic(topic))
        return matcher.findall(text) if matcher else []


@functools.lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The bundled lexicon, loaded and compiled once per process."""
    return Lexicon.load()
