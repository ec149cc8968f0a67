"""The child-safety validator, rule by rule (unit tests: no database, no CLI)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.base.errors import NotFound, ValidationFailed
from engine.base.paths import resource_path
from engine.base.vocabulary import RATINGS
from engine.safety import (
    HARD_CODES,
    Lexicon,
    SafetyItem,
    SafetyValidator,
    age_cap,
    audience_limit,
    member_limit,
    parse_item,
    weekday_js,
    window_applies,
)
from engine.safety.windows import local_moment
from engine.schema.profiles import FamilyProfile, TimeRestriction, parse_profile

LEXICON = Lexicon.from_json(
    {
        "version": 1,
        "topics": {
            "violence": ["fight", "gun", "sword fight", "battle"],
            "scary_content": ["zombie", "ghost", "haunted house", "monster"],
            "gambling": ["casino", "poker", "bet"],
        },
    }
)
SATURDAY = datetime(2024, 6, 1)  # a Saturday (JS day 6)
SUNDAY = datetime(2024, 6, 2)  # JS day 0
MONDAY = datetime(2024, 6, 3)
NOON = SATURDAY.replace(hour=12)


def member(
    user_id: str,
    age: int,
    level: str = "moderate",
    *,
    avoided: tuple[str, ...] = (),
    display: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "userId": user_id,
        "age": age,
        "role": "child" if age < 18 else "parent",
        "safetyLevel": level,
        "preferences": {"avoidedTopics": list(avoided)},
    }
    if display:
        doc["displayName"] = display
    return doc


def profile(
    *members: dict[str, Any],
    max_rating: str = "R",
    blocked: tuple[str, ...] = (),
    windows: tuple[dict[str, Any], ...] = (),
    family_name: str | None = None,
) -> FamilyProfile:
    doc: dict[str, Any] = {
        "familyId": "test-family",
        "members": list(members),
        "safetySettings": {
            "maxContentRating": max_rating,
            "blockedTopics": list(blocked),
            "timeRestrictions": list(windows),
        },
    }
    if family_name:
        doc["familyName"] = family_name
    return parse_profile(doc)


def item(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "park-picnic",
        "title": "Picnic in the park",
        "description": "Pack sandwiches and watch the ducks.",
        "categories": ["outdoor"],
        "topics": ["nature"],
        "contentRating": "G",
        "minAge": 0,
    }
    doc.update(overrides)
    return doc


def window(start: str, end: str, days: list[int], content: list[str]) -> dict[str, Any]:
    return {"startTime": start, "endTime": end, "daysOfWeek": days, "restrictedContent": content}


@pytest.fixture
def validator() -> SafetyValidator:
    return SafetyValidator(LEXICON)


@pytest.fixture
def smith() -> FamilyProfile:
    """The seed's family with display names: John 42 moderate, Emma 8 strict; max PG."""
    return profile(
        member("dad-john", 42, avoided=("violence",), display="John"),
        member("child-emma", 8, "strict", avoided=("scary_content",), display="Emma"),
        max_rating="PG",
        blocked=("violence", "adult_content"),
        windows=(window("21:00", "07:00", [0, 1, 2, 3, 4, 5, 6], ["entertainment"]),),
        family_name="Smith",
    )


def codes(verdict: Any) -> list[str]:
    return [r.code for r in verdict.reasons]


# -- ratings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "cap"),
    [
        (0, "G"),
        (6, "G"),
        (7, "PG"),
        (12, "PG"),
        (13, "PG-13"),
        (16, "PG-13"),
        (17, "R"),
        (120, "R"),
    ],
)
def test_age_cap_boundaries(age: int, cap: str) -> None:
    assert age_cap(age) == cap
    fam = profile(member("kid", age))
    assert member_limit(fam.members[0], "R") == cap


@pytest.mark.parametrize(
    ("age", "limit"),
    [(3, "G"), (6, "G"), (7, "G"), (12, "G"), (13, "PG"), (16, "PG"), (17, "PG-13"), (40, "PG-13")],
)
def test_strict_lowers_one_step_never_below_g(age: int, limit: str) -> None:
    fam = profile(member("kid", age, "strict"))
    assert member_limit(fam.members[0], "R") == limit


@pytest.mark.parametrize(("age", "cap"), [(5, "G"), (8, "PG"), (15, "PG-13"), (30, "R")])
def test_relaxed_and_moderate_keep_the_age_cap(age: int, cap: str) -> None:
    fam = profile(member("a", age, "relaxed"), member("b", age, "moderate"))
    assert [member_limit(m, "R") for m in fam.members] == [cap, cap]


def test_family_max_caps_every_member() -> None:
    fam = profile(member("dad", 42), member("teen", 15, "relaxed"), max_rating="PG")
    assert [member_limit(m, "PG") for m in fam.members] == ["PG", "PG"]
    assert member_limit(fam.members[0], "G") == "G"
    assert audience_limit(fam) == "PG"


def test_rating_above_limit_is_blocked_with_a_plain_message(
    validator: SafetyValidator,
) -> None:
    fam = profile(member("child-emma", 8, display="Emma"))
    verdict = validator.check(fam, item(contentRating="PG-13"), at=NOON)
    assert not verdict.allowed
    assert verdict.safety_score == 0.0
    assert verdict.to_json()["reasons"] == [
        {"code": "rating_above_limit", "message": "Rated PG-13, above Emma's limit of PG."}
    ]


def test_rating_ladder_is_ordered(validator: SafetyValidator) -> None:
    fam = profile(member("teen", 14))  # PG-13
    allowed = [validator.check(fam, item(contentRating=r), at=NOON).allowed for r in RATINGS]
    assert allowed == [True, True, True, False]


# -- audiences ----------------------------------------------------------------------------------


@pytest.fixture
def trio() -> FamilyProfile:
    return profile(
        member("dad-john", 42, avoided=("gambling",)),
        member("teen-liam", 14, avoided=("violence",)),
        member("child-emma", 8, "strict", avoided=("scary_content",)),
    )


def test_group_audience_takes_the_lowest_limit(trio: FamilyProfile) -> None:
    assert audience_limit(trio) == "G"
    assert audience_limit(trio, ["dad-john", "teen-liam"]) == "PG-13"
    assert audience_limit(trio, ["dad-john"]) == "R"


def test_group_min_age_uses_the_youngest(validator: SafetyValidator, trio: FamilyProfile) -> None:
    older = ["dad-john", "teen-liam"]
    assert validator.check(trio, item(minAge=12), members=older, at=NOON).allowed
    verdict = validator.check(trio, item(minAge=10), members=["dad-john", "child-emma"], at=NOON)
    assert codes(verdict) == ["below_min_age"]
    assert verdict.reasons[0].message == "For ages 10 and up; Emma is 8."


def test_group_avoided_topics_are_the_union(
    validator: SafetyValidator, trio: FamilyProfile
) -> None:
    pair = ["dad-john", "teen-liam"]
    for topic in ("gambling", "violence"):
        assert codes(validator.check(trio, item(topics=[topic]), members=pair, at=NOON)) == [
            "blocked_topic"
        ]
    assert validator.check(trio, item(topics=["scary_content"]), members=pair, at=NOON).allowed
    assert not validator.check(trio, item(topics=["scary_content"]), at=NOON).allowed


def test_family_blocked_topics_apply_to_every_audience(validator: SafetyValidator) -> None:
    fam = profile(member("dad", 40), blocked=("gambling",))
    verdict = validator.check(fam, item(topics=["gambling"]), members=["dad"], at=NOON)
    assert verdict.to_json()["reasons"] == [
        {"code": "blocked_topic", "message": "It is about gambling, which this family avoids."}
    ]


def test_named_members_then_context_members_then_everyone(
    validator: SafetyValidator, trio: FamilyProfile
) -> None:
    pg = item(contentRating="PG")
    assert not validator.check(trio, pg, at=NOON).allowed  # everyone: Emma is G
    assert validator.check(trio, pg, context_members=["dad-john"], at=NOON).allowed
    named = validator.check(trio, pg, members=["child-emma"], context_members=["dad-john"], at=NOON)
    assert not named.allowed  # the named member wins over the context
    assert validator.check(trio, pg, members=["teen-liam"], at=NOON).allowed


def test_unknown_member_is_an_error_naming_it(
    validator: SafetyValidator, trio: FamilyProfile
) -> None:
    with pytest.raises(NotFound, match="ghost-kid"):
        validator.check(trio, item(), members=["ghost-kid"], at=NOON)
    with pytest.raises(NotFound, match="nobody"):
        validator.check(trio, item(), context_members=["nobody"], at=NOON)
    with pytest.raises(NotFound, match="nobody"):
        audience_limit(trio, ["dad-john", "nobody"])


# -- topics and the lexicon ----------------------------------------------------------------------


def test_topic_tags_are_normalized(validator: SafetyValidator) -> None:
    fam = profile(member("kid", 9, avoided=("scary_content",)), blocked=("Adult-Content",))
    for tag in ("Scary Content", "scary-content", "SCARY_CONTENT", "adult content"):
        verdict = validator.check(fam, item(topics=[tag]), at=NOON)
        assert codes(verdict) == ["blocked_topic"], tag
    assert validator.check(fam, item(topics=["scary"]), at=NOON).allowed


@pytest.mark.parametrize(
    ("field", "text", "where"),
    [
        ("title", "Zombie Walk", "title"),
        ("description", "Dress up as a friendly zombie and dance.", "description"),
        ("description", "Build a HAUNTED\nHOUSE from boxes.", "description"),
    ],
)
def test_lexicon_terms_block_by_whole_word(
    validator: SafetyValidator, smith: FamilyProfile, field: str, text: str, where: str
) -> None:
    verdict = validator.check(smith, item(**{field: text}), members=["child-emma"], at=NOON)
    assert codes(verdict) == ["avoided_topic_term"]
    term = "zombie" if "ombie" in text else "haunted house"
    assert verdict.reasons[0].message == (
        f"The {where} mentions '{term}' (scary content), which this family avoids."
    )


def test_lexicon_term_in_generated_reason(validator: SafetyValidator, smith: FamilyProfile) -> None:
    doc = item(reason="A fun afternoon, no monster required!")
    verdict = validator.check(smith, doc, members=["child-emma"], at=NOON)
    assert codes(verdict) == ["unsafe_generated_text"]
    assert "'monster' (scary content)" in verdict.reasons[0].message


def test_lexicon_does_not_match_inside_words(
    validator: SafetyValidator, smith: FamilyProfile
) -> None:
    doc = item(
        title="Ghostwriter workshop",
        description="Write a story about a monstera plant, then go on a betting-free walk "
        "in the gunnery museum garden; a mini-fighter jet model.",
        reason="Great for curious ghostwriters.",
    )
    verdict = validator.check(smith, doc, at=NOON)
    assert verdict.allowed, verdict.reasons
    assert LEXICON.matches("scary_content", "Ghostwriter ghosts") == []
    assert LEXICON.matches("Scary Content", "A ghost's ZOMBIE, a ghost.") == ["ghost", "zombie"]
    assert LEXICON.matches("violence", "a sword  fight") == ["sword fight"]


def test_topic_without_lexicon_entry_matches_by_tag_only(
    validator: SafetyValidator, smith: FamilyProfile
) -> None:
    doc = item(description="No adult content here, just crayons.")
    assert validator.check(smith, doc, at=NOON).allowed
    assert not validator.check(smith, item(topics=["adult content"]), at=NOON).allowed
    assert "adult_content" not in LEXICON


def test_lexicon_file_is_validated(tmp_path: Any) -> None:
    bad = tmp_path / "lexicon.json"
    bad.write_text('{"version": 1, "topics": {"violence": "fight"}}')
    with pytest.raises(ValidationFailed, match=r"topics\.violence"):
        Lexicon.load(bad)
    with pytest.raises(ValidationFailed, match="version"):
        Lexicon.from_json({"version": 2, "topics": {}})


@pytest.mark.skipif(
    not resource_path("safety_lexicon.json").is_file(), reason="bundled lexicon not written yet"
)
def test_bundled_lexicon_loads_and_every_term_matches_itself() -> None:
    lexicon = Lexicon.load()
    assert lexicon.topics
    for topic in lexicon.topics:
        for term in lexicon.terms(topic):
            assert lexicon.matches(topic, f"Today: {term.upper()}!") == [term], (topic, term)


@pytest.mark.skipif(
    not resource_path("safety_lexicon.json").is_file(), reason="bundled lexicon not written yet"
)
def test_bundled_lexicon_whole_words(smith: FamilyProfile) -> None:
    validator = SafetyValidator()
    ghostwriter = item(title="Ghostwriter workshop", description="Write a story together.")
    assert validator.check(smith, ghostwriter, at=NOON).allowed
    tour = item(title="Ghost tour", description="Walk the old town at dusk.")
    assert codes(validator.check(smith, tour, at=NOON)) == ["avoided_topic_term"]
    zombie = item(description="Shuffle like a Zombie to the music.")
    verdict = validator.check(smith, zombie, members=["child-emma"], at=NOON)
    assert [r.message for r in verdict.reasons] == [
        "The description mentions 'zombie' (scary content), which this family avoids."
    ]


# -- time restrictions -------------------------------------------------------------------------


SATURDAY_NIGHT = TimeRestriction.model_validate(window("21:00", "07:00", [6], ["entertainment"]))
SUNDAY_DAY = TimeRestriction.model_validate(window("09:00", "17:00", [0], ["screen_time"]))


def test_weekday_js_counts_from_sunday() -> None:
    assert [weekday_js(SUNDAY + timedelta(days=n)) for n in range(7)] == [0, 1, 2, 3, 4, 5, 6]
    assert weekday_js(SATURDAY) == 6


@pytest.mark.parametrize(
    ("day", "hhmm", "applies"),
    [
        (6, "21:00", True),  # start is inclusive
        (6, "23:00", True),
        (6, "20:59", False),
        (0, "06:59", True),  # Sunday morning, via the previous-day clause
        (0, "07:00", False),  # end is exclusive
        (0, "21:30", False),  # Sunday is not in the days
        (5, "23:00", False),
        (6, "06:00", False),  # Saturday morning: Friday is not in the days
    ],
)
def test_window_crossing_midnight(day: int, hhmm: str, applies: bool) -> None:
    assert window_applies(SATURDAY_NIGHT, day, hhmm) is applies


@pytest.mark.parametrize(
    ("day", "hhmm", "applies"),
    [
        (0, "09:00", True),
        (0, "16:59", True),
        (0, "17:00", False),
        (0, "08:59", False),
        (1, "12:00", False),
        (6, "12:00", False),
    ],
)
def test_same_day_window_and_sunday_is_day_zero(day: int, hhmm: str, applies: bool) -> None:
    assert window_applies(SUNDAY_DAY, day, hhmm) is applies


def test_time_restriction_blocks_restricted_categories(validator: SafetyValidator) -> None:
    fam = profile(
        member("kid", 10),
        windows=(
            window("21:00", "07:00", [6], ["Entertainment"]),
            window("09:00", "17:00", [0], ["screen time"]),
        ),
    )
    show = item(categories=["entertainment"])
    saturday_late = validator.check(fam, show, at=SATURDAY.replace(hour=23))
    assert saturday_late.to_json()["reasons"] == [
        {"code": "time_restricted", "message": "Entertainment is paused from 21:00 to 07:00."}
    ]
    assert not validator.check(fam, show, at=SUNDAY.replace(hour=6, minute=59)).allowed
    assert validator.check(fam, show, at=SUNDAY.replace(hour=7)).allowed
    assert validator.check(fam, item(categories=["outdoor"]), at=SATURDAY.replace(hour=23)).allowed
    tablet = item(categories=["Screen-Time"])
    assert not validator.check(fam, tablet, at=SUNDAY.replace(hour=9)).allowed
    assert validator.check(fam, tablet, at=SUNDAY.replace(hour=17)).allowed
    assert validator.check(fam, tablet, at=MONDAY.replace(hour=10)).allowed


def test_aware_time_is_converted_to_local(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("no tzset on this platform")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        moment = local_moment(datetime(2024, 6, 2, 3, 30, tzinfo=timezone.utc))
        assert (moment, weekday_js(moment)) == (datetime(2024, 6, 1, 23, 30), 6)
        assert local_moment(datetime(2024, 6, 2, 3, 30)) == datetime(2024, 6, 2, 3, 30)
    finally:
        monkeypatch.undo()
        time.tzset()


# -- items --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contentRating": "NC-17"}, "contentRating"),
        ({"contentRating": None}, "contentRating"),
        ({"id": "x" * 81}, "id"),
        ({"title": "t" * 201}, "title"),
        ({"description": "d" * 2001}, "description"),
        ({"reason": "r" * 501}, "reason"),
        ({"categories": ["c"] * 21}, "categories"),
        ({"topics": ["ok", 7]}, "topics[1]"),
        ({"minAge": 121}, "minAge"),
        ({"minAge": -1}, "minAge"),
    ],
)
def test_bad_item_fields_are_named(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_item(item(**overrides))
    assert caught.value.field == field


def test_missing_rating_is_an_error_not_a_g() -> None:
    doc = item()
    del doc["contentRating"]
    with pytest.raises(ValidationFailed, match="contentRating"):
        parse_item(doc)


def test_unknown_family_rating_is_an_error(trio: FamilyProfile) -> None:
    with pytest.raises(ValidationFailed, match=r"maxContentRating.*'PG-15'"):
        member_limit(trio.members[0], "PG-15")


def test_item_accepts_catalog_keys_and_lowercase_rating() -> None:
    parsed = parse_item(
        item(
            contentRating="pg-13",
            setting="indoor",
            durationMinutes=30,
            energy="low",
            groupSize=[1, 4],
            bestTimes=["evening"],
            weather=["any"],
            cost="free",
            maxAge=99,
        )
    )
    assert isinstance(parsed, SafetyItem)
    assert parsed.content_rating == "PG-13"
    single = {k: v for k, v in item().items() if k != "categories"}
    assert parse_item({**single, "category": "Games"}).categories == ["Games"]


def test_check_many_names_the_bad_item(validator: SafetyValidator, trio: FamilyProfile) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validator.check_many(trio, [item(), item(minAge="old")], at=NOON)
    assert caught.value.field == "items[1].minAge"


# -- generated text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "needle"),
    [
        ("See www.funzone.com for tickets", "web address"),
        ("Details at https://example.org/fun", "web address"),
        ("Book at kids-club.net today", "web address"),
        ("Call 555-123-4567 to book", "phone number"),
        ("Ring +1 (555) 123-4567", "phone number"),
        ("Text 5551234567", "phone number"),
        ("Ask grandma at nana.smiles@example.com", "e-mail address"),
        ("Meet at 42 Maple Street at noon", "street address"),
        ("Emma will love the ducks", "family name (Emma)"),
        ("Perfect for john and the kids", "family name (john)"),
        ("A classic Smith family outing", "family name (Smith)"),
    ],
)
def test_generated_reason_with_pii_is_refused(
    validator: SafetyValidator, smith: FamilyProfile, reason: str, needle: str
) -> None:
    verdict = validator.check(smith, item(reason=reason), at=NOON)
    assert not verdict.allowed
    assert set(codes(verdict)) == {"unsafe_generated_text"}
    assert any(needle in r.message for r in verdict.reasons), verdict.reasons


def test_names_come_from_user_ids_without_role_words(validator: SafetyValidator) -> None:
    fam = profile(member("dad-john", 40), member("kid-2", 9), member("mom_sara", 38))
    for reason in ("John and Sara", "Fun with sara"):
        assert not validator.check(fam, item(reason=reason), at=NOON).allowed
    ok = item(reason="A dad, mom and kid afternoon: 2 hours, ages 6-10, 2024-2025 season.")
    assert validator.check(fam, ok, at=NOON).allowed


def test_names_that_are_everyday_words_count_only_capitalized(validator: SafetyValidator) -> None:
    """A member called Will or May: "will" and "may" in a reason are ordinary words; the
    capitalized name is still refused, and other names stay case-insensitive."""
    fam = profile(member("dad-will", 40), member("kid-may", 7), member("kid-emma", 9))
    ok = item(reason="This will be fun, and it may get a little messy.")
    assert validator.check(fam, ok, at=NOON).allowed
    for reason in ("Will would love this", "Fun for May and her dad", "fun for emma"):
        verdict = validator.check(fam, item(reason=reason), at=NOON)
        assert not verdict.allowed and codes(verdict) == ["unsafe_generated_text"], reason


# -- the verdict and its score -------------------------------------------------------------------


def test_score_is_one_without_concerns_and_lowered_by_soft_ones(
    validator: SafetyValidator,
) -> None:
    fam = profile(member("kid", 8, display="Mia"))  # limit PG
    clean = validator.check(fam, item(), at=NOON)
    assert clean.to_json() == {"allowed": True, "reasons": [], "safetyScore": 1.0}
    at_limit = validator.check(fam, item(contentRating="PG"), at=NOON)
    assert (at_limit.allowed, codes(at_limit), at_limit.safety_score) == (
        True,
        ["at_rating_limit"],
        0.75,
    )
    assert at_limit.reasons[0].message == "Rated PG, the highest rating Mia may see."
    young = validator.check(fam, item(minAge=8), at=NOON)
    assert (young.allowed, codes(young), young.safety_score) == (True, ["near_min_age"], 0.75)
    both = validator.check(fam, item(minAge=8, contentRating="PG"), at=NOON)
    assert both.allowed and both.safety_score == 0.5
    assert validator.check(fam, item(minAge=7), at=NOON).safety_score == 1.0


def test_every_reason_is_reported(validator: SafetyValidator, smith: FamilyProfile) -> None:
    doc = item(
        title="Zombie casino night",
        categories=["Entertainment"],
        topics=["violence"],
        contentRating="PG-13",
        minAge=10,
        reason="Emma can visit www.zombies.example.com",
    )
    verdict = validator.check(smith, doc, at=SATURDAY.replace(hour=22))
    assert set(codes(verdict)) >= {
        "rating_above_limit",
        "below_min_age",
        "blocked_topic",
        "avoided_topic_term",
        "time_restricted",
        "unsafe_generated_text",
    }
    assert verdict.safety_score == 0.0
    assert "Rated PG-13, above Emma's limit of G." in [r.message for r in verdict.reasons]


def test_check_many_matches_check_and_is_fast(
    validator: SafetyValidator, smith: FamilyProfile
) -> None:
    ratings = ["G", "PG", "PG-13", "R"]
    catalog = [
        item(
            id=f"item-{i}",
            title=f"Activity {i}" + (" with a zombie" if i % 7 == 0 else ""),
            description="Make paper boats and race them down the stream. " * 4,
            categories=["entertainment" if i % 5 == 0 else "outdoor"],
            topics=["nature", "violence" if i % 11 == 0 else "crafts"],
            contentRating=ratings[i % 4],
            minAge=i % 12,
            reason="A calm afternoon by the water.",
        )
        for i in range(250)
    ]
    at = SATURDAY.replace(hour=22)
    many = validator.check_many(smith, catalog, at=at)
    assert [v.to_json() for v in many] == [
        validator.check(smith, doc, at=at).to_json() for doc in catalog
    ]


# -- properties ----------------------------------------------------------------------------------

LEVELS = ("strict", "moderate", "relaxed")


def reference_limit(age: int, level: str, family_max: str) -> int:
    cap = 0 if age <= 6 else 1 if age <= 12 else 2 if age <= 16 else 3
    if level == "strict":
        cap = max(0, cap - 1)
    return min(cap, RATINGS.index(family_max))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FamilyProfile, dict[str, Any], list[str], int]:
    people = draw(
        st.lists(st.tuples(st.integers(0, 99), st.sampled_from(LEVELS)), min_size=1, max_size=5)
    )
    family_max = draw(st.sampled_from(RATINGS))
    fam = profile(
        *(member(f"m{i}", age, level) for i, (age, level) in enumerate(people)),
        max_rating=family_max,
        blocked=tuple(draw(st.lists(st.sampled_from(["violence", "gambling"]), max_size=2))),
    )
    chosen = draw(st.lists(st.integers(0, len(people) - 1), max_size=3))
    names = [f"m{i}" for i in chosen]
    audience = [people[i] for i in chosen] or people
    expected = min(reference_limit(age, level, family_max) for age, level in audience)
    doc = item(
        contentRating=draw(st.sampled_from(RATINGS)),
        minAge=draw(st.integers(0, 30)),
        topics=draw(st.lists(st.sampled_from(["violence", "nature", "Gambling"]), max_size=2)),
        title=draw(st.sampled_from(["Picnic", "Poker night", "Zombie run", "Kite day"])),
    )
    return fam, doc, names, expected


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_property_rating_above_limit_is_never_allowed(
    scenario: tuple[FamilyProfile, dict[str, Any], list[str], int],
) -> None:
    fam, doc, names, expected = scenario
    validator = SafetyValidator(LEXICON)
    assert RATINGS.index(audience_limit(fam, names)) == expected
    verdict = validator.check(fam, doc, members=names, at=NOON)
    if RATINGS.index(doc["contentRating"]) > expected:
        assert not verdict.allowed
        assert "rating_above_limit" in codes(verdict)
    if verdict.allowed:
        assert 0.0 < verdict.safety_score <= 1.0
        assert not HARD_CODES & set(codes(verdict))
    else:
        assert verdict.safety_score == 0.0
        assert HARD_CODES & set(codes(verdict))
