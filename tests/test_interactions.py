"""The interaction log: the request context, recording (scrubbed, encrypted, validated), the
strict privacy level, counts for retraining, bulk import and the ``interactions`` commands."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from engine.base.errors import NotFound, ValidationFailed
from engine.db.tables import CustomActivity, Family, Interaction, ModelVersion, utcnow
from engine.domain import families
from engine.domain.home import Famtune
from engine.domain.interaction_input import InteractionInput, RecordInvalid, parse_interaction_lines
from engine.domain.interactions import InteractionLog, activity_word
from engine.schema.context import (
    DAYS,
    TIMES_OF_DAY,
    RequestContext,
    context_from_clock,
    parse_context,
    time_of_day_for,
)
from engine.schema.profiles import FamilyProfile, parse_profile
from tests.conftest import CliRun

ITEMS = ["nature-walk", "drawing-club", "story-time", "science-kit", "pancake-party"]
CTX: dict[str, Any] = {
    "timeOfDay": "morning", "dayOfWeek": "saturday", "currentActivity": "breakfast",
    "familyMembers": ["dad-john", "child-emma"], "environmentalFactors": ["home", "weekend"],
}  # fmt: skip
NOTE = "Emma loved it, call John at 555-123-4567"
SECRETS = ("Emma", "John", "555-123-4567", "loved it", "pancakes", "Rose")


@pytest.fixture(autouse=True)
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small activity catalog in place of the shipped one."""
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps(
            {"version": 1, "activities": [{"id": i, "title": i.replace("-", " ")} for i in ITEMS]}
        )
    )
    monkeypatch.setattr("engine.domain.interactions.catalog_path", lambda: path)
    return path


def _add_smith(ft: Famtune, doc: dict[str, Any]) -> None:
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(doc))


@pytest.fixture
def ft(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> Famtune:
    _add_smith(engine_ctx, smith_profile)
    return engine_ctx


@dataclass(frozen=True)
class _Scrubbed:
    text: str


class CountingFilter:
    """A stand-in filter that replaces two names and counts what it was asked."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    def __call__(self, profile: FamilyProfile, level: str) -> CountingFilter:
        assert level == "standard"
        return self

    def scrub(self, text: str) -> _Scrubbed:
        self.calls.append(text)
        return _Scrubbed(text.replace("Emma", "<PERSON>").replace("Rose", "<PERSON>"))


def _no_filter(profile: FamilyProfile, level: str) -> CountingFilter:
    raise AssertionError("the privacy filter must not be called at the strict level")


# -- the request context ------------------------------------------------------------------------


def test_context_accepts_the_seed_shape() -> None:
    ctx = parse_context(CTX)
    assert ctx.time_of_day == "morning" and ctx.day_of_week == "saturday"
    assert ctx.current_activity == "breakfast"
    assert ctx.family_members == ["dad-john", "child-emma"]
    assert ctx.to_json() == CTX
    assert ctx.is_weekend and ctx.day_index == 6


@pytest.mark.parametrize("value", TIMES_OF_DAY)
def test_context_time_of_day_values(value: str) -> None:
    assert parse_context({**CTX, "timeOfDay": value}).time_of_day == value


@pytest.mark.parametrize(("field", "value"), [
    ("timeOfDay", "noon"), ("timeOfDay", 8), ("timeOfDay", None), ("dayOfWeek", "funday"),
    ("dayOfWeek", 3), ("currentActivity", "x" * 201), ("currentActivity", 5),
    ("familyMembers", ["bad id"]), ("familyMembers", ["a"] * 2), ("familyMembers", "dad-john"),
    ("familyMembers", [f"m{i}" for i in range(17)]), ("environmentalFactors", ["x" * 41]),
    ("environmentalFactors", [f"f{i}" for i in range(21)]), ("environmentalFactors", [""]),
    ("at", "yesterday"), ("surprise", 1),
])  # fmt: skip
def test_context_refuses_bad_fields(field: str, value: Any) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_context({**CTX, field: value}, path="context")
    assert info.value.field.startswith(f"context.{field}")


def test_context_required_fields_and_shape() -> None:
    for field in ("timeOfDay", "dayOfWeek"):
        doc = {k: v for k, v in CTX.items() if k != field}
        with pytest.raises(ValidationFailed, match=f"^{field}: Field required"):
            parse_context(doc)
    with pytest.raises(ValidationFailed, match="JSON object"):
        parse_context(["morning"])
    minimal = parse_context({"timeOfDay": "night", "dayOfWeek": "monday"})
    assert minimal.family_members == [] and minimal.current_activity is None


def test_context_day_is_case_insensitive_and_activity_optional() -> None:
    ctx = parse_context(
        {**CTX, "dayOfWeek": " SunDay ", "timeOfDay": "Early Morning", "currentActivity": "   "}
    )
    assert ctx.day_of_week == "sunday" and ctx.time_of_day == "early_morning"
    assert ctx.current_activity is None and ctx.day_index == 0
    assert parse_context({**CTX, "currentActivity": "x" * 200}).current_activity == "x" * 200


def test_context_factors_normalized_when_known() -> None:
    ctx = parse_context(
        {**CTX, "environmentalFactors": ["Sick Day", "HOME", "home", "Grandma Rose visiting"]}
    )
    assert ctx.environmental_factors == ["sick_day", "home", "Grandma Rose visiting"]
    bucket = ctx.bucket()
    assert bucket.key() == "morning|saturday|weekend|home,sick_day"
    assert tuple(bucket) == ("morning", "saturday", True, ("home", "sick_day"))
    assert parse_context({**CTX, "environmentalFactors": ["home", "sick_day"]}).bucket() == bucket


def test_context_at_fills_missing_time_fields() -> None:
    ctx = parse_context({"at": "2025-06-09T19:30:00+02:00"})  # a Monday evening
    assert (ctx.time_of_day, ctx.day_of_week) == ("evening", "monday")
    assert ctx.at == datetime(2025, 6, 9, 19, 30, tzinfo=timezone(timedelta(hours=2)))
    given_ = parse_context({"at": "2025-06-09T19:30:00Z", "timeOfDay": "night"})
    assert given_.time_of_day == "night" and given_.day_of_week == "monday"


def test_time_of_day_boundaries() -> None:
    expected = {
        0: "night",
        4: "night",
        5: "early_morning",
        8: "morning",
        11: "midday",
        14: "afternoon",
        17: "evening",
        20: "evening",
        21: "night",
        23: "night",
    }
    assert {h: time_of_day_for(h) for h in expected} == expected


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_context_from_clock_round_trips(at: datetime) -> None:
    ctx = context_from_clock(at)
    assert ctx.day_of_week == DAYS[(at.weekday() + 1) % 7]
    assert ("weekend" in ctx.environmental_factors) == ctx.is_weekend
    assert parse_context(ctx.to_json()) == ctx
    assert isinstance(ctx, RequestContext)


# -- recording -----------------------------------------------------------------------------------


def test_record_and_read_back_scrubbed(ft: Famtune) -> None:
    learner = InteractionLog(ft)
    view = learner.record_interaction(
        "smith-family",
        "child-emma",
        "nature-walk",
        "accepted",
        note=NOTE,
        context={
            **CTX,
            "currentActivity": "making pancakes with Emma",
            "environmentalFactors": ["home", "Grandma Rose visiting"],
        },
    )
    history = learner.get_interaction_history("smith-family")
    assert history == [view]
    got = history[0]
    assert (got.member_id, got.item_id, got.outcome, got.rating) == (
        "child-emma",
        "nature-walk",
        "accepted",
        None,
    )
    assert got.created_at.tzinfo is not None
    assert got.note is not None and got.note
    for secret in ("Emma", "John", "555-123-4567"):
        assert secret not in got.note
        assert secret not in json.dumps(got.context)
    assert got.context["timeOfDay"] == "morning"
    assert got.context["environmentalFactors"][0] == "home"
    assert "Rose" not in got.context["environmentalFactors"][1]
    doc = got.to_json()
    assert doc["memberId"] == "child-emma" and doc["itemId"] == "nature-walk"
    assert doc["context"]["familyMembers"] == ["dad-john", "child-emma"]


def test_nothing_readable_reaches_the_database_file(ft: Famtune, home: Path) -> None:
    learner = InteractionLog(ft)
    for outcome in ("accepted", "completed"):
        learner.record_interaction(
            "smith-family",
            "child-emma",
            "nature-walk",
            outcome,
            note=NOTE,
            context={**CTX, "currentActivity": "pancakes"},
        )
    learner.record_many(
        "smith-family",
        [
            {
                "member": "dad-john",
                "itemId": "story-time",
                "outcome": "shown",
                "note": NOTE,
                "context": CTX,
            }
        ],
    )
    ft.close()
    raw = b"".join(p.read_bytes() for p in home.glob("famtune.db*") if p.is_file())
    assert b"nature-walk" in raw  # the clear columns are there...
    for secret in SECRETS:  # ...the note and the free text are not
        assert secret.encode() not in raw, secret


def test_strict_config_stores_no_free_text(home: Path, smith_profile: dict[str, Any]) -> None:
    ft = Famtune(home, profile="child-safe")
    try:
        assert ft.config.privacy_level == "strict"
        _add_smith(ft, smith_profile)
        learner = InteractionLog(ft, privacy=_no_filter)
        view = learner.record_interaction(
            "smith-family",
            "child-emma",
            "nature-walk",
            "accepted",
            note=NOTE,
            context={
                **CTX,
                "currentActivity": "Making pancakes for Breakfast with Emma",
                "environmentalFactors": ["home", "Grandma Rose visiting", "Rainy"],
            },
        )
        assert view.note is None
        assert view.context["currentActivity"] == "breakfast"
        assert view.context["environmentalFactors"] == ["home", "rainy"]
        other = learner.record_interaction(
            "smith-family",
            "dad-john",
            "story-time",
            "shown",
            context={**CTX, "currentActivity": "talking to Rose"},
        )
        assert "currentActivity" not in other.context
    finally:
        ft.close()


def test_strict_family_level_overrides_standard_config(ft: Famtune) -> None:
    assert ft.config.privacy_level == "standard"
    with ft.db.write() as session:
        family = session.get(Family, "smith-family")
        assert family is not None
        family.privacy_level = "strict"
        session.add(family)
    learner = InteractionLog(ft, privacy=_no_filter)
    count = learner.record_many(
        "smith-family",
        [
            {
                "member": "child-emma",
                "itemId": "nature-walk",
                "outcome": "completed",
                "note": NOTE,
                "context": {**CTX, "currentActivity": "doing homework with John"},
            }
        ],
    )
    assert count == 1
    [view] = learner.get_interaction_history("smith-family")
    assert view.note is None and view.context["currentActivity"] == "homework"


def test_activity_vocabulary() -> None:
    assert activity_word("Eating supper at Grandma's") == "dinner"
    assert activity_word("screen time!") == "tv"
    assert activity_word("Emma and Rose") is None


def test_standard_level_scrubs_each_distinct_text_once(ft: Famtune) -> None:
    fake = CountingFilter()
    learner = InteractionLog(ft, privacy=fake)
    records = [
        {
            "member": "child-emma",
            "itemId": "drawing-club",
            "outcome": "accepted",
            "note": "Emma drew a cat",
            "context": {
                **CTX,
                "currentActivity": "Playing with Rose",
                "environmentalFactors": ["home", "Rose over"],
            },
        }
    ] * 50
    assert learner.record_many("smith-family", records) == 50
    assert sorted(fake.calls) == ["Emma drew a cat", "Playing with Rose", "Rose over"]
    view = learner.get_interaction_history("smith-family", limit=1)[0]
    assert view.note == "<PERSON> drew a cat"
    assert view.context["currentActivity"] == "Playing with <PERSON>"
    assert view.context["environmentalFactors"] == ["home", "<PERSON> over"]
    fake.calls.clear()
    learner.record_interaction("smith-family", "dad-john", "story-time", "shown", context=CTX)
    assert fake.calls == []  # known words and tags are not free text


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("outcome", "rating", "ok"), [
    ("rated", None, False), ("rated", 0, False), ("rated", 6, False), ("rated", 1, True),
    ("rated", 5, True), ("accepted", 3, False), ("completed", None, True),
])  # fmt: skip
def test_rated_needs_a_rating_from_1_to_5(
    ft: Famtune, outcome: str, rating: int | None, ok: bool
) -> None:
    learner = InteractionLog(ft, privacy=CountingFilter())
    if ok:
        view = learner.record_interaction(
            "smith-family", "dad-john", "nature-walk", outcome, rating=rating, context=CTX
        )
        assert view.rating == rating
    else:
        with pytest.raises(ValidationFailed) as info:
            learner.record_interaction(
                "smith-family", "dad-john", "nature-walk", outcome, rating=rating, context=CTX
            )
        assert info.value.field == "rating"
        assert learner.count_since("smith-family", None) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"member_id": "grandma-rose"}, "member"),
    ({"outcome": "loved"}, "outcome"),
    ({"item_id": "no such item!"}, "itemId"),
    ({"item_id": "x" * 81}, "itemId"),
    ({"item_id": "unknown-item"}, "itemId"),
    ({"context": {**CTX, "familyMembers": ["dad-john", "grandma-rose"]}},
     "context.familyMembers[1]"),
    ({"context": {**CTX, "timeOfDay": "teatime"}}, "context.timeOfDay"),
    ({"note": "n" * 1001}, "note"),
    ({"at": utcnow() + timedelta(days=1)}, "at"),
])  # fmt: skip
def test_bad_interactions_are_refused(ft: Famtune, change: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "member_id": "child-emma",
        "item_id": "nature-walk",
        "outcome": "accepted",
        "context": CTX,
        **change,
    }
    learner = InteractionLog(ft, privacy=CountingFilter())
    with pytest.raises(ValidationFailed) as info:
        learner.record_interaction("smith-family", **args)
    assert info.value.field == field
    assert learner.count_since("smith-family", None) == 0


def test_unknown_family_is_not_found(ft: Famtune) -> None:
    learner = InteractionLog(ft, privacy=CountingFilter())
    with pytest.raises(NotFound):
        learner.record_interaction("nobody", "child-emma", "nature-walk", "shown", context=CTX)
    for call in (
        lambda: learner.get_interaction_history("nobody"),
        lambda: learner.count_since("nobody", None),
        lambda: learner.interactions_since_last_model("nobody"),
    ):
        with pytest.raises(NotFound):
            call()


def test_custom_activities_and_no_catalog(
    ft: Famtune, catalog: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = InteractionLog(ft, privacy=CountingFilter())
    with ft.db.write() as session:
        session.add(CustomActivity(id="backyard-camp", data={"id": "backyard-camp"}))
    learner.record_interaction("smith-family", "dad-john", "backyard-camp", "shown", context=CTX)
    monkeypatch.setattr(
        "engine.domain.interactions.catalog_path", lambda: catalog.with_name("none")
    )
    learner.record_interaction("smith-family", "dad-john", "anything-goes", "shown", context=CTX)
    assert learner.count_since("smith-family", None) == 2


# -- history and counts -------------------------------------------------------------------------


def test_history_order_limit_member_and_counts(ft: Famtune) -> None:
    learner = InteractionLog(ft, privacy=CountingFilter())
    t0 = utcnow() - timedelta(days=3)
    times = [t0 + timedelta(hours=h) for h in (0, 5, 10, 20)]
    members = ["dad-john", "child-emma", "dad-john", "child-emma"]
    for at, member in zip(reversed(times), reversed(members), strict=True):  # stored newest first
        learner.record_interaction(
            "smith-family", member, "story-time", "shown", context=CTX, at=at
        )
    history = learner.get_interaction_history("smith-family")
    assert [v.created_at for v in history] == times
    assert [
        v.created_at for v in learner.get_interaction_history("smith-family", limit=2)
    ] == times[2:]
    emma = learner.get_interaction_history("smith-family", member_id="child-emma")
    assert [v.created_at for v in emma] == [times[1], times[3]]
    with pytest.raises(ValidationFailed):
        learner.get_interaction_history("smith-family", limit=0)

    assert learner.count_since("smith-family", None) == 4
    assert learner.count_since("smith-family", times[0]) == 3
    assert learner.count_since("smith-family", times[3]) == 0
    assert learner.interactions_since_last_model("smith-family") == 4
    with ft.db.write() as session:
        session.add(
            ModelVersion(
                family_id="smith-family",
                version=1,
                path="m/1",
                base_sha256="0" * 64,
                dataset_hash="1" * 64,
                created_at=times[1] + timedelta(minutes=1),
            )
        )
    assert learner.interactions_since_last_model("smith-family") == 2
    with ft.db.write() as session:
        session.add(
            ModelVersion(
                family_id="smith-family",
                version=2,
                path="m/2",
                base_sha256="0" * 64,
                dataset_hash="2" * 64,
                created_at=times[3] + timedelta(minutes=1),
            )
        )
    assert learner.interactions_since_last_model("smith-family") == 0
    learner.record_interaction("smith-family", "dad-john", "story-time", "accepted", context=CTX)
    assert learner.interactions_since_last_model("smith-family") == 1


def test_record_many_is_all_or_nothing(ft: Famtune) -> None:
    learner = InteractionLog(ft, privacy=CountingFilter())
    good = {"member": "child-emma", "itemId": "nature-walk", "outcome": "accepted", "context": CTX}
    batch = [good] * 3 + [{**good, "member": "grandma-rose"}] + [good]
    with pytest.raises(RecordInvalid) as info:
        learner.record_many("smith-family", batch)
    assert (info.value.index, info.value.field) == (3, "member")
    assert str(info.value).startswith("record 4: member:")
    with pytest.raises(RecordInvalid, match=r"^record 2: outcome:"):
        learner.record_many("smith-family", [good, {**good, "outcome": "meh"}])
    with pytest.raises(NotFound):
        learner.record_many("nobody", [good])
    assert learner.count_since("smith-family", None) == 0
    assert learner.record_many("smith-family", []) == 0
    assert learner.record_many("smith-family", [InteractionInput.model_validate(good)]) == 1
    with ft.db.read() as session:
        assert len(session.exec(select(Interaction)).all()) == 1


def test_parse_interaction_lines_skips_blanks_and_names_lines() -> None:
    line = json.dumps(
        {"member": "dad-john", "itemId": "story-time", "outcome": "shown", "context": CTX}
    )
    records, labels = parse_interaction_lines(f"\n{line}\n   \n{line}\n".encode())
    assert len(records) == 2 and labels == ["line 2", "line 4"]
    with pytest.raises(RecordInvalid, match=r"^line 3: not valid JSON"):
        parse_interaction_lines(f"{line}\n\n{line[:-5]}\n")
    with pytest.raises(RecordInvalid, match=r"^line 1: rating: a 'rated'"):
        parse_interaction_lines(line.replace('"shown"', '"rated"'))
    with pytest.raises(ValidationFailed, match="UTF-8"):
        parse_interaction_lines(b"\xff\xfe")


# -- the command line ----------------------------------------------------------------------------


def _smith_cli(cli: CliRun, tmp_path: Path, profile: dict[str, Any]) -> None:
    path = tmp_path / "smith.json"
    path.write_text(json.dumps(profile))
    cli.json("family", "import", str(path))


def _count_rows(home: Path) -> tuple[int, int]:
    conn = sqlite3.connect(home / "famtune.db")
    try:
        interactions = conn.execute("SELECT count(*) FROM interaction").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        return int(interactions), int(events)
    finally:
        conn.close()


def test_cli_add_and_list(cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]) -> None:
    _smith_cli(cli, tmp_path, smith_profile)
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps(CTX))
    base = ("interactions", "add", "--family", "smith-family", "--context", str(ctx))
    added = cli.json(
        *base,
        "--member",
        "child-emma",
        "--item",
        "nature-walk",
        "--outcome",
        "rated",
        "--rating",
        "5",
        "--note",
        NOTE,
    )
    assert added["rating"] == 5 and added["outcome"] == "rated"
    assert "555-123-4567" not in added["note"] and "Emma" not in added["note"]
    cli.json(*base, "--member", "dad-john", "--item", "story-time", "--outcome", "shown")
    listed = cli.json("interactions", "list", "--family", "smith-family")["interactions"]
    assert [i["itemId"] for i in listed] == ["nature-walk", "story-time"]
    only = cli.json(
        "interactions", "list", "--family", "smith-family", "--member", "dad-john", "--limit", "5"
    )
    assert [i["memberId"] for i in only["interactions"]] == ["dad-john"]
    code, out, _ = cli("interactions", "list", "--family", "smith-family")
    assert code == 0 and "nature-walk" in out and "(5/5)" in out

    before = _count_rows(cli.home)
    ctx.write_text(json.dumps({**CTX, "timeOfDay": "teatime"}))
    code, _, err = cli(*base, "--member", "dad-john", "--item", "story-time", "--outcome", "shown")
    assert code == 1 and "context.timeOfDay: Input should be" in err
    ctx.write_text(json.dumps(CTX))
    code, _, err = cli(*base, "--member", "dad-john", "--item", "story-time", "--outcome", "rated")
    assert code == 1 and "rating" in err
    code, _, err = cli(*base, "--member", "nobody", "--item", "story-time", "--outcome", "shown")
    assert code == 1 and "member: 'nobody'" in err
    code, _, err = cli("interactions", "list", "--family", "nobody")
    assert code == 1 and "no family 'nobody'" in err
    assert _count_rows(cli.home) == before


def _lines(n: int) -> list[str]:
    notes = [None, "so much fun", "Emma loved it", "too long for John", "again tomorrow"]
    outcomes = ["shown", "accepted", "dismissed", "completed", "rated"]
    lines = []
    for i in range(n):
        outcome = outcomes[i % 5]
        doc: dict[str, Any] = {
            "member": ("dad-john", "child-emma")[i % 2], "itemId": ITEMS[i % len(ITEMS)],
            "outcome": outcome,
            "context": {**CTX, "timeOfDay": TIMES_OF_DAY[i % 6], "dayOfWeek": DAYS[i % 7],
                        "currentActivity": ("breakfast", "after school", "rainy afternoon")[i % 3]},
            "at": (datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i)).isoformat(),
        }  # fmt: skip
        if outcome == "rated":
            doc["rating"] = 1 + i % 5
        if notes[i % 5]:
            doc["note"] = notes[i % 5]
        lines.append(json.dumps(doc))
    return lines


def test_cli_import_2000_lines(
    cli: CliRun,
    tmp_path: Path,
    smith_profile: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _smith_cli(cli, tmp_path, smith_profile)
    path = tmp_path / "history.jsonl"
    lines = _lines(2000)
    path.write_text("\n".join(lines[:1000]) + "\n\n" + "\n".join(lines[1000:]) + "\n")
    started = time.perf_counter()
    result = cli.json("interactions", "import", "--family", "smith-family", str(path))
    elapsed = time.perf_counter() - started
    assert result["imported"] == 2000
    listed = cli.json("interactions", "list", "--family", "smith-family")["interactions"]
    assert len(listed) == 2000
    assert listed[0]["createdAt"].startswith("2025-01-01T00:00:00")
    assert all("Emma" not in (i["note"] or "") for i in listed)
    assert _count_rows(cli.home)[0] == 2000
    with capsys.disabled():  # the time is reported, not asserted
        print(
            f"\nimported 2,000 interactions in {elapsed:.2f} s "
            f"(engine reported {result['seconds']:.2f} s)"
        )


@pytest.mark.parametrize(("bad", "message"), [
    ({"context": {**CTX, "timeOfDay": "teatime"}},
     "line 17: context.timeOfDay: Input should be 'early_morning'"),
    ({"member": "grandma-rose"}, "line 17: member: 'grandma-rose' is not a member"),
    ({"itemId": "unknown-item"}, "line 17: itemId: unknown activity"),
    ({"rating": 4}, "line 17: rating:"),
    ({"surprise": True}, "line 17: surprise: Extra inputs are not permitted"),
])  # fmt: skip
def test_cli_import_bad_line_writes_nothing(
    cli: CliRun,
    tmp_path: Path,
    smith_profile: dict[str, Any],
    bad: dict[str, Any],
    message: str,
) -> None:
    _smith_cli(cli, tmp_path, smith_profile)
    before = _count_rows(cli.home)
    lines = _lines(30)
    doc = {**json.loads(lines[15]), "outcome": "accepted", **bad}
    if "rating" not in bad:
        doc.pop("rating", None)
    lines[15] = json.dumps(doc)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines[:10]) + "\n\n" + "\n".join(lines[10:]))  # blank line 11
    code, out, err = cli("interactions", "import", "--family", "smith-family", str(path))
    assert code == 1 and out == ""
    assert message in err, err
    assert err.count("\n") == 1
    assert _count_rows(cli.home) == before
