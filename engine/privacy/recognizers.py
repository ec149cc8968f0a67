"""Recognizers famtune adds to Presidio for family text, and the list the filter loads
(:func:`standard_recognizers`). Names are in :mod:`engine.privacy.names`, the regular
expressions in :mod:`engine.privacy.patterns`; this module holds Presidio's own recognizers
made quick and offline, and the local spaCy engine. Altogether:

- the family deny-list: member display names, the name parts of userIds ("dad-john" -> "john")
  and the family name, matched in any letter case;
- street addresses, unit numbers, PO boxes and postcodes/ZIP codes next to them;
- dates of birth, recognised by their context ("born on", "DOB", "birthday is");
- school names ("Lincoln Elementary School", "Westbrook Academy");
- names introduced by a title or a relation ("Mrs. Patterson", "her friend Olivia");
- phone numbers that python-phonenumbers refuses as unassigned (555 numbers, drama ranges);
- e-mail addresses validated against tldextract's bundled suffix list, never the network;
- European street addresses ("Hauptstraße 12, 10115 Berlin", "12 rue de la Paix");
- anything shaped like a US social security number (3-2-4, valid or not), IBANs, passport
  numbers after the word "passport", and GPS coordinates (decimal or degrees).

These modules import Presidio; ``engine.privacy.filter`` imports them lazily.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import tldextract
from presidio_analyzer import (
    EntityRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
)

from engine.base.errors import FamtuneError
from engine.privacy.names import ActorNameRecognizer, GivenNameRecognizer, TitledPersonRecognizer
from engine.privacy.patterns import (
    address_recognizer,
    date_of_birth_recognizer,
    gps_recognizer,
    iban_recognizer,
    opponent_recognizer,
    passport_recognizer,
    phone_fallback_recognizer,
    school_recognizer,
    ssn_recognizer,
)

# -- addresses ----------------------------------------------------------------------------


# -- identity numbers, bank accounts, coordinates -----------------------------------------


# -- dates of birth -----------------------------------------------------------------------


# -- schools ------------------------------------------------------------------------------


# -- names after a title or relation ------------------------------------------------------


# -- common given names --------------------------------------------------------------------


# -- names doing something ----------------------------------------------------------------


# -- phone numbers python-phonenumbers refuses ---------------------------------------------


# -- Presidio's recognizers, skipped when they cannot match ---------------------------------

# Presidio's e-mail and URL patterns take milliseconds per sentence even when there is
# nothing to find; these checks are necessary conditions for a match and cost microseconds.
_URL_HINT = re.compile(r"[a-z0-9-]\.[a-z]{2}", re.IGNORECASE)


def _digits(text: str, at_least: int) -> bool:
    return sum(ch.isdigit() for ch in text) >= at_least


# tldextract's default extractor downloads the public-suffix list on first use. This one
# uses only the snapshot bundled with the package: no URLs to fetch, no cache directory.
OFFLINE_TLD_EXTRACT = tldextract.TLDExtract(
    cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True
)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating the domain against the bundled suffix list."""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        if "@" not in text:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)

    def validate_result(self, pattern_text: str) -> bool:
        # A known suffix is enough: "head@westbrook.sch.uk" has no registrable domain
        # because "*.sch.uk" is itself a public suffix.
        parts = OFFLINE_TLD_EXTRACT(pattern_text)
        return bool(parts.fqdn or parts.suffix)


class QuickUrlRecognizer(UrlRecognizer):
    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        if not _URL_HINT.search(text):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


class QuickPhoneRecognizer(PhoneRecognizer):
    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if not _digits(text, 5):
            return []
        return super().analyze(text, entities, cast(NlpArtifacts, nlp_artifacts))


class QuickCreditCardRecognizer(CreditCardRecognizer):
    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        if not _digits(text, 12):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


class QuickDateRecognizer(DateRecognizer):
    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        if not _digits(text, 3):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


class QuickIpRecognizer(IpRecognizer):
    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        if not (_digits(text, 4) or ":" in text):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)


# -- the spaCy engine, local only -----------------------------------------------------------


class LocalSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine that never downloads a model and never probes for a GPU.

    Presidio's engine runs ``spacy.cli.download`` when the model is missing and imports
    torch to look for CUDA; on the appliance a missing model is an installation error and
    a small spaCy pipeline runs on the CPU.
    """

    def load(self) -> None:
        super().load()
        # Presidio reads tokens, lemmas and entities, never the dependency parse; the parser
        # is about 40% of the small pipeline's time. (NER and the lemmatizer do not use it.)
        loaded: dict[str, Any] = self.nlp or {}
        for nlp in loaded.values():
            if "parser" in nlp.pipe_names:
                nlp.disable_pipe("parser")

    def _enable_gpu(self) -> None:
        """The CPU is enough for a small pipeline; do not import torch to ask."""

    @staticmethod
    def _download_spacy_model_if_needed(model_name: str) -> None:
        import spacy

        if not (spacy.util.is_package(model_name) or Path(model_name).is_dir()):
            raise FamtuneError(
                f"the spaCy pipeline {model_name!r} is not installed; install its package "
                "(famtune never downloads models at run time)"
            )


def standard_recognizers() -> list[EntityRecognizer]:
    """Everything the shared analyzer runs; the family deny-list is added per call."""
    return [
        SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "DATE_TIME"]),
        QuickPhoneRecognizer(),
        phone_fallback_recognizer(),
        OfflineEmailRecognizer(),
        QuickCreditCardRecognizer(),
        QuickUrlRecognizer(),
        QuickIpRecognizer(),
        QuickDateRecognizer(),
        address_recognizer(),
        ssn_recognizer(),
        iban_recognizer(),
        passport_recognizer(),
        gps_recognizer(),
        date_of_birth_recognizer(),
        school_recognizer(),
        opponent_recognizer(),
        TitledPersonRecognizer(),
        GivenNameRecognizer(),
        ActorNameRecognizer(),
    ]
