"""Presidio recognizers made of regular expressions: street addresses (US, UK, EU), national ids,
IBANs, passports, GPS positions, dates of birth, schools, opponents' teams and a phone
fallback, each with the context words that raise its score."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from presidio_analyzer import (
    LocalRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts


class RegexRecognizer(LocalRecognizer):
    """Reports the named group ``pii`` of each match (the whole match when there is none).

    The patterns carry their own flags; ``keep`` may veto a matched span's text.
    """

    def __init__(
        self, entity: str, patterns: Sequence[re.Pattern[str]], *, name: str, score: float = 0.85
    ) -> None:
        self.patterns = tuple(patterns)
        self.score = score
        super().__init__(supported_entities=[entity], supported_language="en", name=name)

    def load(self) -> None:
        """Nothing to load: the patterns are compiled at construction."""

    def keep(self, span_text: str) -> bool:
        return bool(span_text.strip())

    def spans(self, text: str) -> Iterable[tuple[int, int]]:
        for pattern in self.patterns:
            for match in pattern.finditer(text):
                group = "pii" if "pii" in pattern.groupindex and match.group("pii") else 0
                yield match.span(group)

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if entities and entity not in entities:
            return []
        found: dict[tuple[int, int], None] = {}
        for start, end in self.spans(text):
            if end > start and self.keep(text[start:end]):
                found[(start, end)] = None
        return [RecognizerResult(entity, start, end, self.score) for start, end in found]


_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Court|Ct|Boulevard|Blvd|Way|Place|Pl|"
    "Terrace|Ter|Close|Crescent|Cres|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Grove|"
    "Gardens|Gdns|Row|Mews|Walk|Trail|Trl|Rise|Hill|Park|View|Green|Plaza|Alley|Loop|Pike"
)


_NOT_STREET_WORD = (
    r"(?!(?:the|a|an|of|on|in|at|to|and|or|for|with|from|by|my|our|your|his|her|their|its|"
    r"this|that|these|those|minutes?|mins?|hours?|hrs?|days?|weeks?|years?|km|miles?|metres?|"
    r"meters?|pieces?|points?|goals?|times?|pages?|chapters?|books?|kids?|children|people|"
    r"cups?|laps?)\b)"
)


_STREET_WORD = _NOT_STREET_WORD + r"[A-Za-z][A-Za-z'’.-]*"


_UNIT = r"(?-i:Apt|Apartment|Unit|Suite|Ste|Flat)\.?\s*#?\s*\d+[A-Za-z]?\b"


_UK_POSTCODE = r"(?-i:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b"


_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|"
    "NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)


_US_ZIP = rf"(?-i:{_US_STATES})\s+\d{{5}}(?:-\d{{4}})?\b"


_CITY = r"(?-i:[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})"


# ", Springfield, IL 62704" / ", Bristol BS1 4DJ" / " M14 5TQ": a town only with a code after it.
_TAIL = rf"(?:,?\s+(?:{_CITY},?\s+)?(?:{_US_ZIP}|{_UK_POSTCODE}))?"


_HOUSE = r"(?<![\w:.,/-])\d{1,5}[A-Za-z]?(?:-\d{1,5})?"


_DIRECTION = r"(?:\s+(?-i:N|S|E|W|NE|NW|SE|SW)\b\.?)?"


_ADDRESS_PATTERNS = [
    # [Flat 3, ]88 Victoria Road[ NW][, Apt 4B][, Springfield, IL 62704]
    re.compile(
        rf"(?:{_UNIT},?\s+)?{_HOUSE}\s+(?:{_STREET_WORD}\s+){{1,3}}(?:{_STREET_TYPES})\b\.?"
        rf"{_DIRECTION}(?:,?\s+{_UNIT})?{_TAIL}",
        re.IGNORECASE,
    ),
    re.compile(rf"\bP\.?\s?O\.?\s+Box\s+\d+{_TAIL}", re.IGNORECASE),
    re.compile(rf"\b{_UNIT}"),
    re.compile(rf"\b{_UK_POSTCODE}"),
    re.compile(rf"\b{_US_ZIP}"),
    re.compile(
        r"\b(?:zip|postal|post)\s*code\s*(?:is\s*)?:?\s*(?P<pii>\d{5}(?:-\d{4})?|"
        + _UK_POSTCODE
        + ")",
        re.IGNORECASE,
    ),
    # A named street without a number, after a preposition: "lives on Cedar Avenue".
    re.compile(
        r"\b(?i:on|at|in|near|off|along|down|up|to|from)\s+(?P<pii>(?:[A-Z][a-z'’]+\s+){1,3}"
        r"(?:Street|Avenue|Road|Lane|Drive|Boulevard|Terrace|Close|Crescent|Court|Place|Grove|"
        r"Way|Gardens|Mews|Parkway)\b)"
    ),
]


# European formats: "Hauptstraße 12, 10115 Berlin", "Keizersgracht 123, 1015 CJ Amsterdam",
# "Via Roma 10", "Calle de Alcalá 45", "12 rue de la Paix, 75002 Paris".
_EU_UPPER = r"[A-ZÀ-ÖØ-Þ]"


_EU_WORD = rf"{_EU_UPPER}[\w'’.-]*"


_EU_PARTICLE = (
    r"(?:(?i:de|del|de la|de los|de las|des|du|da|do|dos|das|della|delle|dei|di|la|le|les|"
    r"van|von|der|den|am|an|im|zum|zur|d['’]|l['’])\s*)"
)


_EU_NUMBER = r"(?:n[º°o]\.?\s*)?\d{1,4}(?:\s?[a-zA-Z](?!\w)|\s?(?:bis|ter)\b)?(?:-\d{1,4})?"


_EU_TAIL = (
    r"(?:,?\s+(?:D-|F-|I-|E-|NL-|A-|CH-)?\d{4,5}(?:\s?[A-Z]{2}(?!\w))?\s+"
    rf"{_EU_WORD}(?:[\s-]{_EU_WORD})?)?"
)


_EU_SUFFIX = (
    r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|"
    r"straat|laan|gracht|plein|kade|singel|dreef|vej|gade|gatan|vägen|veien|gata)"
)


_EU_STREET_TYPE = (
    r"(?i:via|viale|vicolo|piazza|piazzale|corso|largo|calle|carrer|avenida|avda\.?|plaza|"
    r"paseo|camino|rua|travessa|rue|avenue|av\.|boulevard|bd|bld|place|chemin|allée|allee|"
    r"quai|impasse|route|cours)"
)


_EU_ADDRESS_PATTERNS = [
    # Hauptstraße 12 / Keizersgracht 123 / Am Markt 5 (suffix streets, number after)
    re.compile(
        rf"(?<![\w-]){_EU_UPPER}[\w'’-]*{_EU_SUFFIX}\s+{_EU_NUMBER}{_EU_TAIL}(?!\w)",
        re.IGNORECASE,
    ),
    # Via Roma 10 / Calle de Alcalá, 45 / Rua Augusta 120 (type first, number after)
    re.compile(
        rf"(?<![\w-]){_EU_STREET_TYPE}\s+{_EU_PARTICLE}*{_EU_WORD}(?:\s+{_EU_PARTICLE}*{_EU_WORD}){{0,3}}"
        rf",?\s+{_EU_NUMBER}{_EU_TAIL}(?!\w)"
    ),
    # 12 rue de la Paix, 75002 Paris (number first, French style)
    re.compile(
        rf"(?<![\w:.,/-])\d{{1,4}}(?:\s?(?:bis|ter)\b)?,?\s+{_EU_STREET_TYPE}\s+{_EU_PARTICLE}*"
        rf"{_EU_WORD}(?:\s+{_EU_PARTICLE}*{_EU_WORD}){{0,3}}{_EU_TAIL}"
    ),
]


def address_recognizer() -> RegexRecognizer:
    return RegexRecognizer(
        "ADDRESS", [*_ADDRESS_PATTERNS, *_EU_ADDRESS_PATTERNS], name="famtune-address", score=0.85
    )


# Any 3-2-4 number is treated as a social security number, valid or not: in a family's log
# a sample or "invalid" SSN is still somebody's attempt at writing one down.
_SSN_PATTERNS = [
    re.compile(r"(?<![\w-])\d{3}([- .])\d{2}\1\d{4}(?![\w-])"),
    re.compile(
        r"(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|ss\s*#))\s*(?:is\s+|:\s*|#\s*)?"
        r"(?P<pii>\d{3}[- .]?\d{2}[- .]?\d{4})(?!\w)"
    ),
]


# ISO 13616 shape: country code, two check digits, 11-30 letters or digits (groups of four
# may be separated by spaces). The checksum is not required: a mistyped IBAN is personal too.
_IBAN_PATTERNS = [
    re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![\w])"),
    re.compile(
        r"(?i:\biban\b)\s*(?:is\s+|:\s*|#\s*)?(?P<pii>[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|"
        r"(?:[ ][A-Z0-9]{4}){2,7}(?:[ ][A-Z0-9]{1,4})?))(?!\w)"
    ),
]


# Passport numbers have no common shape; they are recognised by the word before them.
_PASSPORT_PATTERNS = [
    re.compile(
        r"(?i:\bpassport(?:\s+(?:number|no\.?|num|#|id))?)\s*(?:is\s+|:\s*|#\s*|=\s*)?"
        r"(?P<pii>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{5,11})(?!\w)"
    ),
]


_LAT = r"[-+−]?(?:[0-8]?\d(?:\.\d+)?|90(?:\.0+)?)"


_LON = r"[-+−]?(?:1[0-7]\d(?:\.\d+)?|0?\d{1,2}(?:\.\d+)?|180(?:\.0+)?)"


_DMS = r"\d{1,3}\s?°\s?(?:\d{1,2}\s?['’′]\s?)?(?:\d{1,2}(?:\.\d+)?\s?(?:\"|''|″)\s?)?"


_GPS_PATTERNS = [
    # 40.7128, -74.0060 (at least three decimals each, or degree signs / hemispheres)
    re.compile(
        r"(?<![\w.])[-+−]?\d{1,2}\.\d{3,}\s*°?\s*[NSns]?\s*[,;/ ]\s*"
        r"[-+−]?\d{1,3}\.\d{3,}\s*°?\s*[EWew]?(?![\w.])"
    ),
    re.compile(
        rf"(?<![\w.]){_LAT}\s*°\s*[NSns]\b\s*[,;/ ]?\s*{_LON}\s*°\s*[EWew]\b"
    ),
    # 40°42'46"N 74°00'21"W
    re.compile(rf"(?<![\w.]){_DMS}[NSns]\s*[,;/ ]?\s*{_DMS}[EWew]\b"),
    # lat 40.71 lon -74.00 / coordinates: 51.50, -0.12
    re.compile(
        r"(?i:\b(?:lat(?:itude)?|coordinates?|gps|coords?|location)\s*[:=]?\s*)"
        r"(?P<pii>[-+−]?\d{1,2}\.\d+\s*°?\s*[NSns]?\s*(?:,|;|/|\s)\s*(?i:lon(?:g(?:itude)?)?\s*[:=]?\s*)?"
        r"[-+−]?\d{1,3}\.\d+\s*°?\s*[EWew]?)(?![\w.])"
    ),
]


def ssn_recognizer() -> RegexRecognizer:
    return RegexRecognizer("US_SSN", _SSN_PATTERNS, name="famtune-ssn", score=0.9)


def iban_recognizer() -> RegexRecognizer:
    return RegexRecognizer("IBAN_CODE", _IBAN_PATTERNS, name="famtune-iban", score=0.9)


def passport_recognizer() -> RegexRecognizer:
    return RegexRecognizer("PASSPORT", _PASSPORT_PATTERNS, name="famtune-passport", score=0.9)


def gps_recognizer() -> RegexRecognizer:
    return RegexRecognizer("GPS_COORDINATES", _GPS_PATTERNS, name="famtune-gps", score=0.85)


MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)


DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"


YEAR = r"(?:19|20)\d{2}\b"


NUMERIC_DATE = r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2})\b"


DATE = (
    rf"(?:{NUMERIC_DATE}|{DAY}(?:\s+of)?\s+{MONTH}(?:,?\s+{YEAR})?|"
    rf"{MONTH}\s+(?:the\s+)?{DAY}(?:,?\s+{YEAR})?|{MONTH}\s+{YEAR}|{YEAR})"
)


_DOB_TRIGGER = (
    r"\b(?:born(?:\s+on|\s+in)?|d\.?o\.?b\b\.?|date\s+of\s+birth|birth\s*date|"
    r"birthday(?:'s|’s|\s+is|\s+was|\s+falls)?(?:\s+(?:on|in))?)"
)


_DOB_PATTERNS = [
    re.compile(
        rf"{_DOB_TRIGGER}\s*(?:[:=-]\s*)?(?:is\s+)?(?:on\s+)?(?:the\s+)?(?P<pii>{DATE})",
        re.IGNORECASE,
    ),
]


def date_of_birth_recognizer() -> RegexRecognizer:
    return RegexRecognizer("DATE_OF_BIRTH", _DOB_PATTERNS, name="famtune-date-of-birth", score=0.9)


_FULL_DATE = re.compile(
    rf"{NUMERIC_DATE}|\b{DAY}(?:\s+of)?\s+{MONTH},?\s+{YEAR}|\b{MONTH}\s+(?:the\s+)?{DAY},?\s+{YEAR}",
    re.IGNORECASE,
)


def is_full_date(text: str) -> bool:
    """A day, month and year ("3 May 2016", "05/03/2016"): the only DATE_TIME kept as PII."""
    return _FULL_DATE.search(text) is not None


_SCHOOL_KIND = (
    r"Elementary|Primary|Middle|High|Junior|Senior|Infant|Infants|Nursery|Secondary|Grammar|"
    r"Montessori|Prep|Preparatory|Community|Charter|Catholic|Christian|Sunday|Public|State"
)


_SCHOOL_PATTERNS = [
    re.compile(
        rf"\b(?:(?:St\.?|Saint)\s+)?(?:(?!(?:{_SCHOOL_KIND}|The|A|An|My|Our|Their|His|Her|"
        rf"After|Before|At|In|To|From|Primary|School)\b)[A-Z][\w'’.-]*\s+){{1,3}}"
        rf"(?:(?:{_SCHOOL_KIND})\s+)?(?:School|Academy|Preschool|Pre-School|Kindergarten)\b"
    ),
]


def school_recognizer() -> RegexRecognizer:
    return RegexRecognizer("SCHOOL", _SCHOOL_PATTERNS, name="famtune-school", score=0.8)


# A capitalized name after "against", "versus" or "vs" names a team, a school or a town the
# children play ("the match against Oakdale"): where they live. spaCy's small English model
# misses such one-word places.
_OPPONENT_PATTERNS = [
    re.compile(
        r"\b(?:against|versus|vs\.?)\s+(?:the\s+)?"
        r"(?P<pii>(?-i:(?!(?:The|Mom|Mum|Dad|Grandma|Grandpa|Us|Them)\b)[A-Z][a-z]+"
        r"(?:\s+[A-Z][a-z]+){0,2}))",
        re.IGNORECASE,
    ),
]


def opponent_recognizer() -> RegexRecognizer:
    return RegexRecognizer("LOCATION", _OPPONENT_PATTERNS, name="famtune-opponent", score=0.6)


_PHONE_PATTERNS = [
    # North American: 555-123-4567, (555) 987-6543, +1 555 234 9876, 5551234567
    re.compile(r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{4}(?!\w)"),
    # UK: 07700 900123, 020 7946 0958, +44 20 7946 0958, +44 (0)161 496 0753
    re.compile(r"(?<![\w+])(?:\+44\s?(?:\(0\)\s?)?|\b0)\d(?:[\s-]?\d){8,9}(?!\w)"),
    # Anything else written in international form: +33 6 12 34 56 78
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\d){6,12}(?!\w)"),
]


def phone_fallback_recognizer() -> RegexRecognizer:
    return RegexRecognizer("PHONE_NUMBER", _PHONE_PATTERNS, name="famtune-phone", score=0.6)
