"""Recognizers of people's names: the family's own members (a deny list built from the profile),
names after a title or a relation word, common given names, and actors of human verbs found
by spaCy."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from presidio_analyzer import (
    LocalRecognizer,
    PatternRecognizer,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NlpArtifacts

from engine.privacy.patterns import (
    RegexRecognizer,
)
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
