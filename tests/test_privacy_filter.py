"""The privacy filter: Presidio + the family deny-list, offline, with typed placeholders."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.base.errors import ValidationFailed
from engine.privacy import FEATURE_VOCABULARY, Entity, PrivacyFilter, ScrubResult, warm_up
from engine.schema.profiles import FamilyProfile, parse_profile

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def smith() -> PrivacyFilter:
    profile = parse_profile(json.loads((DATA / "smith-family.json").read_text()))
    return PrivacyFilter(profile)


@pytest.fixture(scope="module")
def garcia_profile() -> FamilyProfile:
    return parse_profile({
        "familyId": "garcia-home",
        "familyName": "Garcia",
        "members": [
            {"userId": "mum_maria", "displayName": "Maria Elena", "age": 39, "role": "parent"},
            {"userId": "kid2-sofia", "age": 7, "role": "child"},
            {"userId": "grandpaLuis", "age": 70, "role": "grandparent"},
        ],
    })  # fmt: skip


def types(result: ScrubResult) -> list[str]:
    return [e.type for e in result.entities]


def removed(result: ScrubResult, original: str, piece: str) -> bool:
    """``piece`` of ``original`` is gone from the output and inside a reported entity."""
    start = original.index(piece)
    end = start + len(piece)
    inside = all(
        original[i].isspace() or any(e.start <= i < e.end for e in result.entities)
        for i in range(start, end)
    )
    return inside and piece.lower() not in result.text.lower()


# -- family members and other people ----------------------------------------------------


@pytest.mark.parametrize(
    "text, name",
    [
        ("JOHN SAYS THE KIDS CAN WATCH ONE MORE EPISODE", "JOHN"),
        ("remind john to pick up the groceries", "john"),
        ("Emma loved the painting activity.", "Emma"),
        ("emma's drawing is on the fridge", "emma"),
        ("The Smiths went to the beach.", "Smiths"),
    ],
)
def test_member_names_are_removed_in_any_case(smith: PrivacyFilter, text: str, name: str) -> None:
    result = smith.scrub(text)
    assert removed(result, text, name), result
    assert "PERSON" in types(result)


def test_deny_list_comes_from_names_user_ids_and_family(garcia_profile: FamilyProfile) -> None:
    terms = {t.lower() for t in PrivacyFilter(garcia_profile).name_terms}
    assert {"maria elena", "maria", "elena", "sofia", "luis", "garcia", "garcias"} <= terms
    assert not terms & {"mum", "kid", "grandpa", "home"}
    result = PrivacyFilter(garcia_profile).scrub("GRANDPA LUIS and sofia met Maria Elena.")
    assert result.text == "GRANDPA <PERSON> and <PERSON> met <PERSON>."


def test_call_john(smith: PrivacyFilter) -> None:
    result = smith.scrub("Call John at 555-123-4567")
    assert result.to_json() == {
        "text": "Call <PERSON> at <PHONE_NUMBER>",
        "entities": [
            {"type": "PERSON", "start": 5, "end": 9},
            {"type": "PHONE_NUMBER", "start": 13, "end": 25},
        ],
    }


@pytest.mark.parametrize(
    "text, name",
    [
        ("Emma played with her friend Olivia at the park.", "Olivia"),
        ("Emma's teacher, Mrs. Patterson, sent a reading list.", "Patterson"),
        ("Sarah Johnson from next door brought a lasagna.", "Sarah Johnson"),
        ("Bjorn fixed our leaky tap.", "Bjorn"),
        ("tell jessica the sleepover is cancelled", "jessica"),
    ],
)
def test_other_peoples_names(smith: PrivacyFilter, text: str, name: str) -> None:
    result = smith.scrub(text)
    assert removed(result, text, name), result


# -- contact details, addresses, cards, birthdays ---------------------------------------


@pytest.mark.parametrize(
    "phone",
    ["555-123-4567", "(555) 987-6543", "+1 555 234 9876", "555.201.3344", "5551234567",
     "07700 900123", "+44 20 7946 0958", "0161 496 0753"],
)  # fmt: skip
def test_phone_numbers(smith: PrivacyFilter, phone: str) -> None:
    text = f"Her number is {phone} if the school calls."
    result = smith.scrub(text)
    assert result.text == "Her number is <PHONE_NUMBER> if the school calls."


@pytest.mark.parametrize(
    "email", ["john.smith@gmail.com", "ngozi.okafor@yahoo.co.uk", "head@westbrook.sch.uk"]
)
def test_email_addresses(email: str) -> None:
    text = f"Send the photos to {email} tonight."
    result = PrivacyFilter().scrub(text)
    assert result.text == "Send the photos to <EMAIL_ADDRESS> tonight."


@pytest.mark.parametrize(
    "address",
    ["42 Maple Street", "1600 Pennsylvania Ave NW", "Apt 4B", "17 Oak Lane, Springfield, IL 62704",
     "23 Church Road, Bristol BS1 4DJ", "Flat 3, 88 Victoria Road", "PO Box 4412"],
)  # fmt: skip
def test_street_addresses(address: str) -> None:
    text = f"Please deliver it to {address} tomorrow."
    result = PrivacyFilter().scrub(text)
    assert result.text == "Please deliver it to <ADDRESS> tomorrow."


@pytest.mark.parametrize(
    ("text", "place"),
    [("He scored twice in the match against Oakdale.", "Oakdale"),
     ("Saturday's game vs. Millbrook High went well", "Millbrook High"),
     ("We play against the Riverside Rovers next week", "Riverside Rovers")],
)  # fmt: skip
def test_teams_and_towns_after_against(text: str, place: str) -> None:
    result = PrivacyFilter().scrub(text)
    assert place not in result.text and "<" in result.text


@pytest.mark.parametrize("text", ["Lean it against the wall.", "We played against Dad at chess."])
def test_against_alone_removes_nothing(text: str) -> None:
    assert PrivacyFilter().scrub(text).text == text


@pytest.mark.parametrize(
    "card", ["4111 1111 1111 1111", "4111-1111-1111-1111", "5500 0000 0000 0004", "378282246310005"]
)
def test_card_numbers(card: str) -> None:
    result = PrivacyFilter().scrub(f"Pay with {card} please.")
    assert result.text == "Pay with <CREDIT_CARD> please."


@pytest.mark.parametrize(
    "text, date",
    [
        ("Emma was born on 3 May 2016 at the county hospital.", "3 May 2016"),
        ("DOB 05/03/2016 is needed for the form.", "05/03/2016"),
        ("Her birthday is March 5th, so we planned a picnic.", "March 5th"),
        ("date of birth: 2016-05-03", "2016-05-03"),
        ("His birthday's the 9th of October.", "9th of October"),
    ],
)
def test_dates_of_birth(smith: PrivacyFilter, text: str, date: str) -> None:
    result = smith.scrub(text)
    assert "DATE_OF_BIRTH" in types(result)
    assert removed(result, text, date)
    assert "<DATE_OF_BIRTH>" in result.text


def test_only_full_dates_are_kept_as_date_time() -> None:
    text = "On Saturday morning we booked dinner for our anniversary on June 12, 2010."
    result = PrivacyFilter().scrub(text)
    assert result.text == "On Saturday morning we booked dinner for our anniversary on <DATE_TIME>."


# -- what must survive --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "We baked banana bread after soccer practice on Saturday morning.",
        "The kids watched a nature documentary about penguins this evening.",
        "Dad made pancakes shaped like dinosaurs for breakfast.",
        "Mom and the kids planted sunflowers in the back garden.",
        "Swimming lessons are on Tuesday and Thursday at 5 pm.",
        "Tonight we did a jigsaw puzzle of a lighthouse with 300 pieces.",
        "Homework took 40 minutes tonight, mostly spelling and fractions.",
        "The family walked 5 km on the hiking trail this weekend.",
        "Grandma taught everyone a new card game after lunch.",
        "In July we want to go camping by the lake again.",
    ],
)
def test_sentences_without_personal_data_survive_unchanged(smith: PrivacyFilter, text: str) -> None:
    result = smith.scrub(text)
    assert result == ScrubResult(text, [])


def test_empty_and_blank_text(smith: PrivacyFilter) -> None:
    assert smith.scrub("").to_json() == {"text": "", "entities": []}
    assert smith.scrub("   ").text == "   "


# -- strict level ---------------------------------------------------------------------------


def test_strict_level_keeps_no_free_text(smith: PrivacyFilter) -> None:
    strict = PrivacyFilter(smith.profile, level="strict")
    text = "Emma loved the painting activity this morning; call John at 555-123-4567."
    result = strict.scrub(text)
    assert result.text == ""
    assert types(result) == ["PERSON", "PERSON", "PHONE_NUMBER"]
    assert strict.scrub("We baked bread.").text == ""
    features = strict.strict_features(text)
    assert features == ["loved", "painting", "activity", "morning"]
    assert set(features) <= FEATURE_VOCABULARY


def test_strict_features_drop_member_names_that_are_vocabulary_words() -> None:
    profile = parse_profile({
        "familyId": "lee", "members": [{"userId": "kid-art", "age": 9, "role": "child"}],
    })  # fmt: skip
    features = PrivacyFilter(profile, level="strict").strict_features("Art loved the art class")
    assert features == ["loved"]  # names match in any case, so the activity goes too


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="level"):
        PrivacyFilter(level="lenient")  # type: ignore[arg-type]


# -- offsets --------------------------------------------------------------------------------


def rebuild(text: str, entities: list[Entity]) -> str:
    out, pos = [], 0
    for e in entities:
        out += [text[pos : e.start], f"<{e.type}>"]
        pos = e.end
    return "".join([*out, text[pos:]])


def test_offsets_point_into_the_original_text(smith: PrivacyFilter) -> None:
    text = "JOHN emailed emma.s@school.org about 42 Maple Street; Emma was born on 3 May 2016."
    result = smith.scrub(text)
    pieces = [(e.type, text[e.start : e.end]) for e in result.entities]
    assert pieces == [
        ("PERSON", "JOHN"),
        ("EMAIL_ADDRESS", "emma.s@school.org"),
        ("ADDRESS", "42 Maple Street"),
        ("PERSON", "Emma"),
        ("DATE_OF_BIRTH", "3 May 2016"),
    ]
    assert result.text == rebuild(text, result.entities)


_PIECES = st.sampled_from([
    "John", "emma", "Olivia", "555-123-4567", "a.b@example.com", "42 Maple Street", "we",
    "baked", "bread", "on", "Saturday", "morning", "4111 1111 1111 1111", "born on 3 May 2016",
    ",", ".", "and", "the", "park", "Zoë", "👍", "\n",
])  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_PIECES, min_size=1, max_size=14))
def test_entities_are_ordered_disjoint_and_rebuild_the_output(
    smith: PrivacyFilter, pieces: list[str]
) -> None:
    text = " ".join(pieces)
    result = smith.scrub(text)
    for a, b in zip(result.entities, result.entities[1:], strict=False):
        assert a.end <= b.start
    assert all(0 <= e.start < e.end <= len(text) for e in result.entities)
    assert result.text == rebuild(text, result.entities)
    assert "john" not in result.text.lower() and "emma" not in result.text.lower()


# -- batches, threads, loading ----------------------------------------------------------------


def test_scrub_many_matches_scrub(smith: PrivacyFilter) -> None:
    texts = ["Call John at 555-123-4567", "", "We baked bread.", "emma lives at 42 Maple Street"]
    assert smith.scrub_many(texts) == [smith.scrub(t) for t in texts]


def test_one_shared_analyzer_across_threads(smith: PrivacyFilter) -> None:
    from engine.base import lean_imports
    from engine.privacy import filter as privacy_filter

    warm_up()
    engines = privacy_filter._engines(privacy_filter.DEFAULT_SPACY_MODEL)
    text = "Emma and Olivia called 555-123-4567 from 42 Maple Street."
    expected = smith.scrub(text)
    results: list[ScrubResult] = []

    def work() -> None:
        warm_up()
        results.extend(smith.scrub(text) for _ in range(5))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 20
    assert privacy_filter._engines(privacy_filter.DEFAULT_SPACY_MODEL) is engines
    assert not any(isinstance(f, lean_imports._ImportBlocker) for f in sys.meta_path)


def test_a_missing_spacy_model_is_an_error_not_a_download() -> None:
    from engine.base.errors import FamtuneError

    with pytest.raises(FamtuneError, match="not installed"):
        PrivacyFilter(spacy_model="en_core_web_does_not_exist").scrub("hello")


# -- no network --------------------------------------------------------------------------------


def _no_network(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError("network access is blocked in this test")


def test_works_with_sockets_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    result = PrivacyFilter().scrub("Mail lisa.m.brown@example.co.uk or see photos.example.com/x")
    assert types(result) == ["EMAIL_ADDRESS", "URL"]


def test_loads_from_scratch_with_sockets_blocked() -> None:
    """A fresh process: importing, loading spaCy and the suffix list never touch the network."""
    program = """
import json, socket
def blocked(*a, **k):
    raise OSError("network access is blocked in this test")
socket.socket.connect = socket.socket.connect_ex = blocked
socket.create_connection = socket.getaddrinfo = blocked
from engine.privacy import PrivacyFilter
result = PrivacyFilter().scrub("Mail head@westbrook.sch.uk or see https://example.org/a")
print(json.dumps(result.to_json()))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [e["type"] for e in document["entities"]] == ["EMAIL_ADDRESS", "URL"]
    assert document["text"] == "Mail <EMAIL_ADDRESS> or see <URL>"


# -- command line --------------------------------------------------------------------------------


def test_cli_privacy_scrub(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        cli.json("family", "import", str(DATA / "smith-family.json"))["familyId"] == "smith-family"
    )
    document = cli.json("privacy", "scrub", "--family", "smith-family", "Call John at 555-123-4567")
    assert document == {
        "text": "Call <PERSON> at <PHONE_NUMBER>",
        "entities": [
            {"type": "PERSON", "start": 5, "end": 9},
            {"type": "PHONE_NUMBER", "start": 13, "end": 25},
        ],
    }
    strict = cli.json(
        "privacy", "scrub", "--family", "smith-family", "--level", "strict", "hi emma"
    )
    assert strict == {"text": "", "entities": [{"type": "PERSON", "start": 3, "end": 7}]}

    stdin = io.TextIOWrapper(io.BytesIO(b"EMMA is at 42 Maple Street\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    piped = cli.json("privacy", "scrub", "--family", "smith-family", "-")
    assert piped["text"] == "<PERSON> is at <ADDRESS>\n"

    code, out, err = cli("privacy", "scrub", "--family", "no-such-family", "hello")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "no-such-family" in err
