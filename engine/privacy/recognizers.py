"""Recognizers famtune adds to Presidio for family text.

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

This module imports Presidio; ``engine.privacy.filter`` imports it lazily.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import tldextract
from presidio_analyzer import (
    EntityRecognizer,
    LocalRecognizer,
    PatternRecognizer,
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
from engine.schema.profiles import FamilyProfile

FAMILY_MEMBER = "FAMILY_MEMBER"


def _words(text: str) -> list[str]:
    return text.split()


# Words that appear in userIds and family ids but are roles, not names.
ROLE_WORDS = frozenset(
    _words(
        """
admin and aunt auntie baby babysitter big boy brother caregiver carer child children cousin
dad dada daddy daughter fam family father girl grampa gramps gran grandad granddad
grandfather grandma grandmother grandpa grandparent granny guardian guest home house
household jr junior kid kids lil little ma mama me member mom mommy mother mum mummy my nan
nana nanna nanny of other pa papa parent parents pop senior sibling sister sitter son sr
teen teenager the toddler uncle user
"""
    )
)

_ID_SPLIT = re.compile(r"[-_.\s]+|\d+|(?<=[a-z])(?=[A-Z])")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _name_parts(text: str) -> list[str]:
    return [w for w in _ID_SPLIT.split(text) if w and w.lower() not in ROLE_WORDS]


def member_name_terms(profile: FamilyProfile) -> list[str]:
    """Every string that names someone in ``profile``, longest first, without duplicates.

    Display names give the whole name and each word of it; userIds and the family id give
    their parts minus role words; the family name also gives its plural ("the Garcias").
    """
    terms: list[str] = []
    for member in profile.members:
        if member.display_name:
            words = _NAME_WORD.findall(member.display_name)
            terms.append(" ".join(words))
            terms.extend(words)
            terms.extend(p for w in words for p in w.split("-"))
        terms.extend(_name_parts(member.user_id))
    surnames = _name_parts(profile.family_id)
    if profile.family_name:
        words = _NAME_WORD.findall(profile.family_name)
        surnames.extend(w for w in words if w.lower() not in ROLE_WORDS)
    for surname in surnames:
        terms.extend((surname, surname + "s", surname + "es"))
    seen: set[str] = set()
    unique: list[str] = []
    for term in terms:
        key = term.casefold()
        if len(key) >= 2 and key not in seen and key not in ROLE_WORDS:
            seen.add(key)
            unique.append(term)
    return sorted(unique, key=lambda t: (-len(t), t.casefold()))


def family_deny_list_recognizer(terms: Sequence[str]) -> PatternRecognizer | None:
    """A deny-list recognizer of ``terms`` (case-insensitive, whole words), None if empty."""
    if not terms:
        return None
    return PatternRecognizer(
        supported_entity=FAMILY_MEMBER,
        name="famtune-family-deny-list",
        deny_list=list(terms),
        deny_list_score=1.0,
    )


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


# -- addresses ----------------------------------------------------------------------------

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


# -- identity numbers, bank accounts, coordinates -----------------------------------------

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


# -- dates of birth -----------------------------------------------------------------------

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


# -- schools ------------------------------------------------------------------------------

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


# -- names after a title or relation ------------------------------------------------------

_TITLES = (
    r"Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Coach|Aunt|Auntie|Uncle|Grandma|Grandpa|Granny|Grandad|"
    r"Granddad|Nana|Nanna|Pastor|Rev|Officer|Nurse"
)
_RELATIONS = (
    r"friends?|best\s+friend|cousin|sister|brother|aunt|auntie|uncle|son|daughter|niece|"
    r"nephew|neighbou?rs?|teacher|coach|tutor|babysitter|sitter|nanny|classmate|buddy|"
    r"boyfriend|girlfriend|husband|wife|partner|mom|mum|dad|grandma|grandpa|granny|doctor"
)
# Smith, McDonald, O'Brien, Smith-Jones
_NAME = r"[A-Z](?:[a-z]+(?:[A-Z][a-z]+)?|['’][A-Z][a-z]+)(?:-[A-Z][a-z]+)?"
NOT_NAMES = frozenset(
    _words(
        """
and april ask august but call christmas dad dear december dr drop e-mail easter email
february friday grandma grandpa halloween he hello hi i it january july june lego march may
message minecraft miss mom monday mr mrs ms mum mx november october or pick please prof
remind ring saturday send september she so sunday tell text thanks the then they thursday
today tomorrow tonight tuesday we wednesday yesterday you
"""
    )
)
_TITLED_PATTERNS = [
    re.compile(rf"\b(?:{_TITLES})\b\.?,?\s+(?P<pii>{_NAME}(?:\s+{_NAME})?)"),
    re.compile(rf"\b(?i:{_RELATIONS}),?\s+(?:the\s+)?(?P<pii>{_NAME}(?:\s+{_NAME})?)"),
]


class TitledPersonRecognizer(RegexRecognizer):
    """A capitalised name right after a title or a relation word: "her friend Olivia"."""

    def __init__(self) -> None:
        super().__init__("PERSON", _TITLED_PATTERNS, name="famtune-titled-person", score=0.75)

    def spans(self, text: str) -> Iterable[tuple[int, int]]:
        for start, end in super().spans(text):
            words = text[start:end].split()
            if words[0].lower() in NOT_NAMES:
                continue
            if len(words) > 1 and words[1].lower() in NOT_NAMES:
                end = start + len(words[0])
            yield start, end


# -- common given names --------------------------------------------------------------------

# Frequent given names in English-speaking countries across three generations. spaCy's small
# pipeline misses many names at the start of a sentence or without context ("Jack and Ella
# built a castle"); this list catches the common ones. A name matches when written
# Capitalised; in lower or upper case only when it is not also an English word or a place.
GIVEN_NAMES = frozenset(
    _words("""
aaliyah aaron abby abigail ada adam addison adrian aiden aisha alan albert alex alexa alexander
alexandra alexis alfie alice alicia alison allison alyssa amanda amber amelia amir amy andre
andrea andrew angela anna annabelle anne annie anthony antonio archie aria ariana arlo arthur
arya asher ashley aubrey audrey austin ava avery barbara beatrice bella ben benjamin bethany
betty beverly blake bradley brandon brenda brian brianna brittany brooke bryan caleb cameron
camila carl carla carlos carmen carol caroline carter catherine charles charlie charlotte chelsea
chloe chris christina christine christopher cindy claire clara cody colin connor cooper courtney
craig cynthia daisy daniel danielle david deborah debra declan denise dennis derek diana diane
dominic donald donna dorothy dylan easton edward eleanor elena eli elijah elizabeth ella ellie
elliot eloise emily emilia emma eric erica erin ethan eva evan evelyn ezra fatima felix finn
finley fiona florence francesca freddie freya gabriel gabriella gary gavin george georgia gianna
gloria grace graham gregory gwen hailey haley hannah harley harper harriet harry harvey hayden
heather heidi helen henry hudson hugo ian imogen isaac isabel isabella isabelle isla isaiah ivan
jack jackson jacob jade jake james jamie jane janet jasmine jason jasper javier jayden jeffrey
jenna jennifer jeremy jesse jessica jill joan joanna joe joel john johnny jonah jonathan jordan
jose joseph joshua josiah joyce juan judith julia julian julie justin kai kaitlyn karen kate
katherine kathleen kathryn katie kayla keith kelly kenneth kevin kimberly kyle laura lauren layla
leah leo leon leonardo levi liam lila lily lincoln linda lisa logan lola lorenzo louis louise
luca lucas lucy luke luna lydia madeline madison maisie maria mariah marie marissa martha martin
mary mason matilda matthew maya megan melissa mia michael michelle miguel mila mohammed molly
muhammad nancy naomi natalie nathan nathaniel nicholas nicole noah nora nova oliver olivia oscar
owen paige pamela patricia patrick paul paula peter phoebe piper poppy rachel raymond rebecca
reuben richard riley robert robin roger ronald rory rosie ruby russell ruth ryan sadie samantha
samuel sandra sara sarah savannah scarlett scott sean sebastian serena sharon shirley sienna simon
sofia sophia sophie stella stephanie stephen steven susan sydney teresa theo theodore thomas
tiffany timothy tobias toby tommy tyler valentina vanessa victoria vincent violet virginia walter
wendy william willow wyatt xavier zachary zara zoe zoey
""")
)
_WORD_NAMES = frozenset(
    _words("""
ada amber aria austin avery bella blake brooke carol carter cooper daisy dominic felix finn
florence georgia grace harley harper heather hudson jack jade jasmine jasper jordan kai lincoln
logan luna mason nova paige piper poppy riley robin ruby savannah sydney victoria violet virginia
willow
""")
)
_GIVEN_NAME = re.compile(
    r"\b(?P<pii>(?P<first>"
    + "|".join(sorted(GIVEN_NAMES, key=len, reverse=True))
    + rf")(?:\s+(?P<last>(?-i:{_NAME})))?)\b",
    re.IGNORECASE,
)


class GivenNameRecognizer(RegexRecognizer):
    """Common given names (and a capitalised word after one, taken as the surname)."""

    def __init__(self) -> None:
        super().__init__("PERSON", [_GIVEN_NAME], name="famtune-given-name", score=0.7)

    def spans(self, text: str) -> Iterable[tuple[int, int]]:
        for match in _GIVEN_NAME.finditer(text):
            first = match.group("first")
            titled = first[0].isupper() and (first[1:].islower() or len(first) == 1)
            if not titled and first.lower() in _WORD_NAMES:
                continue
            last = match.group("last")
            if titled and last and last[0].isupper() and last.lower() not in NOT_NAMES:
                yield match.start("first"), match.end("last")
            else:
                yield match.span("first")


# -- names doing something ----------------------------------------------------------------

_HUMAN_VERBS = frozenset(
    _words("""
arrive ask bake bring build call climb come cook cry dance decide draw drive drop eat email
enjoy fall feel finish fix forget give go hate help host invite join laugh learn leave like
love make meet message miss need organise organize paint pay pick play practice practise
promise read remember ride run say score send share sign sing sit sleep smile spend start stay
swim take teach tell text think try visit volunteer wake walk want watch win wish write
""")
)
_OTHER_ENTITY_TYPES = frozenset(
    _words(
        """
CARDINAL DATE EVENT FAC GPE LANGUAGE LAW LOC MONEY NORP ORDINAL PERCENT PRODUCT QUANTITY
TIME WORK_OF_ART
"""
    )
)


class ActorNameRecognizer(LocalRecognizer):
    """A proper noun that does what people do: "Bjorn fixed the tap", "Ingrid and Yusuf
    built a snowman", "if Priyanka can come". spaCy's small pipeline tags such rare names
    as ORG or nothing; the part-of-speech tags and lemmas it already computed are enough."""

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["PERSON"], supported_language="en", name="famtune-actor-name"
        )
        self._words: frozenset[str] | None = None

    def load(self) -> None:
        """Nothing to load: it reads the pipeline's tags."""

    def _english_words(self, nlp_artifacts: NlpArtifacts) -> frozenset[str]:
        """Dictionary words known to the pipeline's lemmatizer ("homework", "lego"), which a
        capital letter at the start of a sentence turns into proper nouns."""
        if self._words is None:
            words: set[str] = set()
            try:
                vocab = nlp_artifacts.tokens.vocab
                nlp = next(n for n in nlp_artifacts.nlp_engine.nlp.values() if n.vocab is vocab)
                index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
                for forms in index.values():
                    words.update(forms)
            except (AttributeError, KeyError, TypeError, StopIteration):
                pass
            self._words = frozenset(words)
        return self._words

    @staticmethod
    def _is_name(token: Any, words: frozenset[str]) -> bool:
        text = str(token.text)
        return (
            token.tag_ == "NNP"
            and text.isalpha()
            and len(text) > 1
            and text.istitle()
            and text.lower() not in NOT_NAMES
            and text.lower() not in words
            and token.ent_type_ not in _OTHER_ENTITY_TYPES
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if nlp_artifacts is None or (entities and "PERSON" not in entities):
            return []
        doc = nlp_artifacts.tokens
        words = self._english_words(nlp_artifacts)
        results: list[RecognizerResult] = []
        i = 0
        while i < len(doc):
            names = []
            j = i
            while j < len(doc) and self._is_name(doc[j], words):
                names.append(doc[j])
                j += 1
                joined = j + 1 < len(doc) and doc[j].lower_ in ("and", "&")
                if joined and self._is_name(doc[j + 1], words):
                    j += 1
            if names and j < len(doc):
                verb = doc[j]
                if verb.tag_ == "MD" or (
                    verb.tag_ in ("VBD", "VBZ", "VBP") and verb.lemma_.lower() in _HUMAN_VERBS
                ):
                    results.extend(
                        RecognizerResult("PERSON", t.idx, t.idx + len(t.text), 0.6) for t in names
                    )
            i = max(j, i + 1)
        return results


# -- phone numbers python-phonenumbers refuses ---------------------------------------------

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
