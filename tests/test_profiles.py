"""Profile validation at the boundary: every malformed profile is refused with its field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.base.errors import ValidationFailed
from engine.schema.profiles import FamilyProfile, normalize_topic, parse_profile, parse_profile_text


def test_seed_profile_parses_and_round_trips(smith_profile: dict[str, Any]) -> None:
    profile = parse_profile(smith_profile)
    assert profile.family_id == "smith-family"
    assert [m.user_id for m in profile.members] == ["dad-john", "child-emma"]
    assert profile.safety_settings.time_restrictions[0].days_of_week == [0, 1, 2, 3, 4, 5, 6]
    assert profile.to_json() == smith_profile


def test_optional_display_and_family_names(smith_profile: dict[str, Any]) -> None:
    smith_profile["familyName"] = "Smith"
    smith_profile["members"][0]["displayName"] = "John"
    profile = parse_profile(smith_profile)
    assert profile.family_name == "Smith"
    assert profile.to_json() == smith_profile


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return out


_DELETE = object()

BAD_CASES = [
    ("members.0.age", -1, "members[0].age"),
    ("members.0.age", 121, "members[0].age"),
    ("members.1.age", "eight", "members[1].age"),
    ("members.0.role", "overlord", "members[0].role"),
    ("members.1.safetyLevel", "lax", "members[1].safetyLevel"),
    ("safetySettings.maxContentRating", "NC-17", "safetySettings.maxContentRating"),
    (
        "safetySettings.timeRestrictions.0.startTime",
        "25:00",
        "safetySettings.timeRestrictions[0].startTime",
    ),
    (
        "safetySettings.timeRestrictions.0.endTime",
        "7:00",
        "safetySettings.timeRestrictions[0].endTime",
    ),
    (
        "safetySettings.timeRestrictions.0.daysOfWeek",
        [0, 7],
        "safetySettings.timeRestrictions[0].daysOfWeek[1]",
    ),
    (
        "safetySettings.timeRestrictions.0.daysOfWeek",
        [],
        "safetySettings.timeRestrictions[0].daysOfWeek",
    ),
    ("familyId", "x" * 2_000_000, "familyId"),
    ("members.0.preferences.interests", ["a" * 500], "members[0].preferences.interests[0]"),
    ("members.0.displayName", "J" * 2_000_000, "members[0].displayName"),
    ("members.0.userId", _DELETE, "members[0].userId"),
    ("members", [], "members"),
    ("members.0.preferences.learningStyle", 3, "members[0].preferences.learningStyle"),
    ("safetySettings.blockedTopics", "violence", "safetySettings.blockedTopics"),
    ("members.0.unexpected", True, "members[0].unexpected"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_CASES)
def test_malformed_profiles_name_the_field(
    smith_profile: dict[str, Any], path: str, value: Any, field: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_profile(_mutate(smith_profile, path, value))
    assert err.value.field == field
    assert field in str(err.value)


def test_duplicate_members_refused(smith_profile: dict[str, Any]) -> None:
    smith_profile["members"].append(copy.deepcopy(smith_profile["members"][0]))
    with pytest.raises(ValidationFailed, match="duplicate member userId 'dad-john'"):
        parse_profile(smith_profile)


def test_truncated_json_refused(smith_profile: dict[str, Any]) -> None:
    text = json.dumps(smith_profile)
    with pytest.raises(ValidationFailed, match="not valid JSON"):
        parse_profile_text(text[: len(text) // 2])


def test_not_an_object_refused() -> None:
    with pytest.raises(ValidationFailed, match="must be a JSON object"):
        parse_profile_text("[1, 2, 3]")


def test_huge_document_refused_before_parsing() -> None:
    with pytest.raises(ValidationFailed, match="too large"):
        parse_profile_text(b" " * (1024 * 1024))


def test_normalize_topic() -> None:
    assert normalize_topic("Scary Content") == "scary_content"
    assert normalize_topic(" drugs-alcohol ") == "drugs_alcohol"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(data=st.data())
def test_any_mutation_validates_or_names_a_field(
    smith_profile: dict[str, Any], data: st.DataObject
) -> None:
    """Replace a random leaf or subtree with random JSON: either it is still a valid profile
    or the refusal is a ValidationFailed that names a field path, never another exception."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        paths.append(prefix)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*prefix, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*prefix, i))

    walk(smith_profile, ())
    path = data.draw(st.sampled_from(paths[1:]))
    doc = copy.deepcopy(smith_profile)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(json_values)
    try:
        profile = parse_profile(doc)
    except ValidationFailed as exc:
        assert exc.field or "JSON object" in str(exc)
    else:
        assert isinstance(profile, FamilyProfile)
        assert parse_profile(profile.to_json()) == profile
