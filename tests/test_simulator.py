"""The family simulator: determinism, realistic sessions, hidden tastes that drift slowly,
reactions that follow the tastes, safety of what it shows, hit@k evaluation, and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.base.vocabulary import RATINGS
from engine.domain.catalog import CATEGORIES, CatalogItem, load_builtin_catalog
from engine.domain.home import Famtune
from engine.domain.interaction_input import parse_interaction, parse_interaction_lines
from engine.domain.interactions import InteractionLog
from engine.safety import SafetyValidator, audience_limit
from engine.schema.context import time_of_day_for
from engine.schema.profiles import FamilyProfile, parse_profile
from engine.sim import (
    ARCHETYPES,
    DEFAULT_START,
    FamilySimulator,
    HoldoutCase,
    evaluate,
    synthetic_profile,
)
from tests.conftest import CliRun

START = datetime(2025, 3, 3, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def catalog() -> list[CatalogItem]:
    return load_builtin_catalog()


@pytest.fixture
def smith(smith_profile: dict[str, Any]) -> FamilyProfile:
    return parse_profile(smith_profile)


@pytest.fixture
def sim(smith: FamilyProfile, catalog: list[CatalogItem]) -> FamilySimulator:
    return FamilySimulator(smith, catalog, seed=7)


def _at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["at"])


# -- determinism and the shape of the history ----------------------------------------------------


def test_deterministic_for_a_seed(smith: FamilyProfile, catalog: list[CatalogItem]) -> None:
    a = FamilySimulator(smith, catalog, seed=3).simulate(400, start=START)
    b = FamilySimulator(smith, catalog, seed=3).simulate(400, start=START)
    c = FamilySimulator(smith, catalog, seed=4).simulate(400, start=START)
    assert a == b
    assert a != c
    again = FamilySimulator(smith, catalog, seed=3)
    assert again.simulate(400, start=START) == again.simulate(400, start=START)
    h1 = FamilySimulator(smith, catalog, seed=3).holdout(30, START, seed=1)
    h2 = FamilySimulator(smith, catalog, seed=3).holdout(30, START, seed=1)
    assert h1 == h2


def test_records_are_valid_interactions_over_weeks(sim: FamilySimulator) -> None:
    records = sim.simulate(1500, start=START)
    assert len(records) == 1500
    for record in records:
        parse_interaction(record)  # the JSONL shape `interactions import` reads
        ctx = record["context"]
        at = datetime.fromisoformat(ctx["at"])
        assert ctx["timeOfDay"] == time_of_day_for(at.hour)
        assert ctx["familyMembers"] and record["member"] in ctx["familyMembers"]
        assert at <= _at(record)
    times = [_at(r) for r in records]
    assert times == sorted(times) and times[0] >= START
    assert times[-1] - times[0] > timedelta(weeks=4)
    sessions = {r["context"]["at"] for r in records}
    per_day = Counter(s[:10] for s in sessions)
    assert max(per_day.values()) <= 5
    assert 1.0 <= len(sessions) / len(per_day) <= 3.5  # a few sessions a day
    hours = Counter(datetime.fromisoformat(s).hour for s in sessions)
    assert not set(hours) & {0, 1, 2, 3, 4, 5, 23}  # nobody taps the screen at 3 a.m.
    factors = Counter(f for r in records for f in r["context"]["environmentalFactors"])
    assert {"home", "weekend", "rain", "sunny"} <= set(factors)
    outcomes = Counter(r["outcome"] for r in records)
    assert set(outcomes) == {"shown", "accepted", "dismissed", "completed", "rated"}
    assert outcomes["accepted"] >= outcomes["completed"] >= outcomes["rated"] > 0
    assert all(1 <= r["rating"] <= 5 for r in records if r["outcome"] == "rated")
    assert all("rating" not in r for r in records if r["outcome"] != "rated")


def test_children_are_not_up_at_night(sim: FamilySimulator) -> None:
    records = sim.simulate(1500, start=START)
    night = [r for r in records if r["context"]["timeOfDay"] == "night"]
    assert night
    assert all("child-emma" not in r["context"]["familyMembers"] for r in night)


# -- hidden tastes ------------------------------------------------------------------------------


def test_tastes_drift_but_slowly(sim: FamilySimulator) -> None:
    cat0, top0 = sim.tastes.at_week(0)
    cat1, top1 = sim.tastes.at_week(1)
    _, top52 = sim.tastes.at_week(52)
    assert not np.array_equal(cat0, cat1)
    assert np.abs(cat1 - cat0).max() < 0.4
    week = np.corrcoef(top0.ravel(), top1.ravel())[0, 1]
    year = np.corrcoef(top0.ravel(), top52.ravel())[0, 1]
    assert week > 0.97
    assert 0.4 < year < week
    assert sim.week_of(DEFAULT_START + timedelta(days=15)) == 2
    first = sim.affinity("child-emma", sim.features.ids[0])
    later = sim.affinity("child-emma", sim.features.ids[0], week=30)
    assert first != later


def test_profile_biases_tastes_but_does_not_tell_everything(
    smith: FamilyProfile, catalog: list[CatalogItem]
) -> None:
    stated_better = 0
    secret_loves = 0
    for seed in range(20):
        tastes = FamilySimulator(smith, catalog, seed=seed).tastes
        topics = tastes.features.topics
        _, top = tastes.at_week(0)
        emma = tastes.members.index("child-emma")
        stated_better += top[emma, topics.index("animals")] > np.median(top[emma])
        cat, _ = tastes.at_week(0)
        best = CATEGORIES[int(np.argmax(cat[emma]))]
        secret_loves += best not in ("creative", "music", "outdoor")  # what she says she likes
    assert stated_better >= 17
    assert secret_loves >= 3


def test_archetypes_differ(catalog: list[CatalogItem]) -> None:
    def mean_affinity(archetype: str, category: str) -> float:
        values = []
        for seed in range(5):
            profile = synthetic_profile(f"fam-{seed}", archetype, seed)  # type: ignore[arg-type]
            sim = FamilySimulator(profile, catalog, seed, archetype=archetype)  # type: ignore[arg-type]
            cat, _ = sim.tastes.at_week(0)
            values.append(float(cat[:, CATEGORIES.index(category)].mean()))
        return float(np.mean(values))

    assert mean_affinity("outdoorsy", "outdoor") > mean_affinity("bookish-artsy", "outdoor") + 0.8
    assert mean_affinity("stem-builders", "stem") > mean_affinity("sporty-competitive", "stem")
    assert mean_affinity("sporty-competitive", "physical") > mean_affinity(
        "bookish-artsy", "physical"
    )
    with pytest.raises(ValueError, match="archetype"):
        synthetic_profile("x", "pirates", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("archetype", ARCHETYPES)
def test_synthetic_profiles_are_valid_and_anonymous(archetype: str) -> None:
    profile = synthetic_profile("synthetic-family", archetype, 5)  # type: ignore[arg-type]
    assert profile == synthetic_profile("synthetic-family", archetype, 5)  # type: ignore[arg-type]
    assert parse_profile(profile.to_json()) == profile
    ids = [m.user_id for m in profile.members]
    assert all(i.startswith(("parent-", "kid-")) for i in ids)
    assert any(i.startswith("kid-") for i in ids) and any(i.startswith("parent-") for i in ids)
    assert all(m.display_name is None for m in profile.members) and profile.family_name is None


# -- reactions ------------------------------------------------------------------------------------


def test_reactions_follow_hidden_affinity(sim: FamilySimulator) -> None:
    pool = sorted(sim.safe_pool(["dad-john"]), key=lambda i: sim.affinity("dad-john", i))
    low, high = pool[:15], pool[-15:]
    ctx = {
        "timeOfDay": "afternoon",
        "dayOfWeek": "saturday",
        "familyMembers": ["dad-john"],
        "environmentalFactors": ["home", "weekend"],
        "at": "2025-01-11T15:00:00+00:00",
    }
    rng = np.random.default_rng(0)

    def accept_rate(items: list[str]) -> float:
        accepted = 0
        for item in items:
            for _ in range(40):
                records = sim.react(ctx, ["dad-john"], [item], rng)
                accepted += any(r["outcome"] == "accepted" for r in records)
        return accepted / (40 * len(items))

    high_rate, low_rate = accept_rate(high), accept_rate(low)
    assert high_rate > 0.4
    assert high_rate > 5 * low_rate


def test_ratings_and_dismissals_follow_affinity(sim: FamilySimulator) -> None:
    records = sim.simulate(4000, start=START)
    rated = [(sim.affinity(r["member"], r["itemId"]), r["rating"])
             for r in records if r["outcome"] == "rated"]  # fmt: skip
    assert len(rated) > 50
    assert np.corrcoef(np.array(rated).T)[0, 1] > 0.15
    dismissed = [sim.affinity(r["member"], r["itemId"]) for r in records
                 if r["outcome"] == "dismissed"]  # fmt: skip
    accepted = [sim.affinity(r["member"], r["itemId"]) for r in records
                if r["outcome"] == "accepted"]  # fmt: skip
    assert np.mean(accepted) > np.mean(dismissed) + 0.3


# -- safety of what is shown ----------------------------------------------------------------------


def _assert_safe(profile: FamilyProfile, records: list[dict[str, Any]],
                 by_id: dict[str, CatalogItem]) -> None:  # fmt: skip
    validator = SafetyValidator()
    ages = {m.user_id: m.age for m in profile.members}
    for record in records:
        item = by_id[record["itemId"]]
        audience = record["context"]["familyMembers"]
        limit = audience_limit(profile, audience)
        assert item.rating_rank <= RATINGS.index(limit), record
        assert item.rating_rank <= RATINGS.index(profile.safety_settings.max_content_rating)
        assert item.min_age <= min(ages[m] for m in audience), record
        verdict = validator.check(profile, item.to_json(), members=audience,
                                  at=datetime.fromisoformat(record["context"]["at"]))  # fmt: skip
        assert verdict.allowed, (record, verdict.codes)


def test_default_recommender_never_shows_unsafe_items(
    smith: FamilyProfile, catalog: list[CatalogItem]
) -> None:
    by_id = {i.id: i for i in catalog}
    records = FamilySimulator(smith, catalog, seed=1).simulate(2000, start=START)
    with_child = [r for r in records if "child-emma" in r["context"]["familyMembers"]]
    assert len(with_child) > 500
    _assert_safe(smith, records, by_id)
    # Emma is 8 and strict: only G, and nothing for older children.
    assert {by_id[r["itemId"]].content_rating for r in with_child} == {"G"}
    for archetype in ("sporty-competitive", "random"):
        profile = synthetic_profile("synthetic", archetype, 2)
        sim = FamilySimulator(profile, catalog, seed=2, archetype=archetype)
        _assert_safe(profile, sim.simulate(600, start=START), by_id)


def test_unsafe_rankings_are_filtered(smith: FamilyProfile, catalog: list[CatalogItem]) -> None:
    by_id = {i.id: i for i in catalog}
    worst_first = [i.id for i in sorted(catalog, key=lambda i: (-i.rating_rank, -i.min_age))]
    calls: list[tuple[dict[str, Any], list[str]]] = []

    def reckless(context: dict[str, Any], audience: list[str]) -> list[str]:
        calls.append((context, audience))
        return ["no-such-activity", *worst_first]

    sim = FamilySimulator(smith, catalog, seed=5)
    records = sim.simulate(300, reckless, start=START)
    assert len(records) == 300 and calls
    _assert_safe(smith, records, by_id)
    assert all(set(ctx) >= {"timeOfDay", "dayOfWeek", "familyMembers"} for ctx, _ in calls)


# -- evaluation -----------------------------------------------------------------------------------


def test_hit_at_3_oracle_random_and_taste_ranker(sim: FamilySimulator) -> None:
    cases = sim.holdout(400, START + timedelta(weeks=10), seed=1)
    assert len(cases) == 400
    assert all(isinstance(c, HoldoutCase) and c.choice in c.candidates for c in cases)
    assert all(len(c.candidates) == 12 for c in cases)
    by_context = {json.dumps(c.context, sort_keys=True): c for c in cases}

    def oracle(context: dict[str, Any], audience: list[str]) -> list[str]:
        case = by_context[json.dumps(context, sort_keys=True)]
        return [sim.hidden_choice(context, audience, case.candidates)]

    rng = np.random.default_rng(3)

    def random_ranker(context: dict[str, Any], audience: list[str]) -> list[str]:
        return [str(i) for i in rng.permutation(sim.features.ids)]

    def taste_ranker(context: dict[str, Any], audience: list[str]) -> list[str]:
        case = by_context[json.dumps(context, sort_keys=True)]
        utility = sim.expected_utility(context, audience, case.candidates)
        return [c for _, c in sorted(zip(utility, case.candidates, strict=True), reverse=True)]

    assert evaluate(oracle, cases) == 1.0
    chance = 3 / 12
    assert abs(evaluate(random_ranker, cases) - chance) < 0.08
    assert abs(evaluate(lambda c, a: [], cases) - chance) < 0.08  # unranked: chance
    assert evaluate(taste_ranker, cases) > chance + 0.25
    assert evaluate(oracle, cases, k=1) == 1.0
    assert evaluate(oracle, []) == 0.0


def test_hidden_choice_and_score_ranking(sim: FamilySimulator) -> None:
    case = sim.holdout(1, START, seed=9)[0]
    choice = sim.hidden_choice(case.context, case.audience, case.candidates)
    assert choice == case.choice
    assert sim.hidden_choice(case.context, case.audience, case.candidates) == choice
    others = [c for c in case.candidates if c != choice]

    def score(ranked: list[str], k: int = 3) -> float:
        return sim.score_ranking(ranked, case.context, case.audience, k, case.candidates)

    assert score([choice, *others]) == 1.0
    assert score([*others, choice]) == 0.0
    assert score([*others[:2], choice]) == 1.0
    assert score([*others[:2], choice], k=2) == 0.0
    whole = sim.hidden_choice(case.context, case.audience, sim.safe_pool(case.audience))
    assert sim.score_ranking([whole], case.context, case.audience) == 1.0
    with pytest.raises(ValueError):
        sim.hidden_choice(case.context, case.audience, ["no-such-activity"])
    with pytest.raises(ValueError):
        sim.hidden_choice(case.context, ["stranger"], case.candidates)


# -- the CLI --------------------------------------------------------------------------------------


def _import_smith(cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]) -> None:
    path = tmp_path / "smith.json"
    path.write_text(json.dumps(smith_profile))
    cli.json("family", "import", str(path))


def test_cli_simulate_stores_interactions(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], engine_ctx: Famtune
) -> None:
    _import_smith(cli, tmp_path, smith_profile)
    result = cli.json("simulate", "--family", "smith-family", "--interactions", "120",
                      "--seed", "4", "--start", "2026-02-02T00:00:00+00:00")  # fmt: skip
    assert result["familyId"] == "smith-family" and result["interactions"] == 120
    counts = [result[k] for k in ("accepted", "dismissed", "completed", "rated", "shown")]
    assert sum(counts) == 120 and result["accepted"] > 0
    assert result["from"].startswith("2026-02-02") and result["to"] > result["from"]
    history = InteractionLog(engine_ctx).get_interaction_history("smith-family")
    assert len(history) == 120
    assert Counter(v.outcome for v in history)["accepted"] == result["accepted"]
    again = cli.json("simulate", "--family", "smith-family", "--interactions", "120",
                     "--seed", "4", "--start", "2026-02-02T00:00:00+00:00", "--out",
                     str(tmp_path / "same.jsonl"))  # fmt: skip
    assert {k: v for k, v in again.items() if k != "out"} == result


def test_cli_simulate_out_writes_importable_jsonl(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], engine_ctx: Famtune
) -> None:
    _import_smith(cli, tmp_path, smith_profile)
    out = tmp_path / "history.jsonl"
    result = cli.json("simulate", "--family", "smith-family", "--interactions", "80",
                      "--seed", "1", "--archetype", "outdoorsy", "--out", str(out))  # fmt: skip
    assert result["interactions"] == 80 and result["out"] == str(out)
    records, _ = parse_interaction_lines(out.read_bytes())
    assert len(records) == 80
    now = datetime.now(timezone.utc)
    assert all(r.at is not None and now - timedelta(weeks=8) < r.at <= now for r in records)
    engine = InteractionLog(engine_ctx)
    assert engine.get_interaction_history("smith-family") == []  # --out stores nothing
    imported = cli.json("interactions", "import", "--family", "smith-family", str(out))
    assert imported["imported"] == 80
    assert len(engine.get_interaction_history("smith-family")) == 80


def test_cli_simulate_refusals(cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]) -> None:
    code, out, err = cli("simulate", "--family", "nobody", "--interactions", "5", "--seed", "1")
    assert code == 1 and out == "" and "no family 'nobody'" in err
    _import_smith(cli, tmp_path, smith_profile)
    future = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    code, _, err = cli("simulate", "--family", "smith-family", "--interactions", "5",
                       "--seed", "1", "--start", future)  # fmt: skip
    assert code == 1 and "future" in err
    with pytest.raises(SystemExit):
        cli("simulate", "--family", "smith-family", "--interactions", "0", "--seed", "1")
    with pytest.raises(SystemExit):
        cli("simulate", "--family", "smith-family", "--interactions", "5", "--seed", "1",
            "--archetype", "pirates")  # fmt: skip


def test_app_recommender_shows_general_picks_and_explores() -> None:
    """What `simulate` shows: the general engine's best three for the moment plus two other
    safe ideas, the same for the same seed and moment."""
    from engine.general.ranking import GeneralEngine
    from engine.schema.context import parse_context
    from engine.sim.recommenders import app_recommender

    profile = synthetic_profile("fam-x", "outdoorsy", seed=3)
    items = load_builtin_catalog()
    shows = app_recommender(profile, items, seed=7)
    members = [m.user_id for m in profile.members]
    context = {
        "timeOfDay": "afternoon",
        "dayOfWeek": "saturday",
        "environmentalFactors": ["weekend"],
        "at": "2026-11-28T15:00:00+00:00",
    }
    shown = shows(context, members)
    ranked = [
        s.item.id
        for s in GeneralEngine().rank(profile, parse_context(context), items, members=members)
    ]
    assert len(shown) == 5 and len(set(shown)) == 5
    assert shown[:3] == ranked[:3]
    assert set(shown[3:]) <= set(ranked[3:])
    assert shows(context, members) == shown


def test_moment_tastes_depend_on_the_day_the_hour_and_who_is_there(
    smith: FamilyProfile, catalog: list[CatalogItem]
) -> None:
    """With ``moment_tastes`` a member loves or dislikes a topic only on weekdays or weekends
    at some parts of the day, pairs love something only together, and one declared interest
    is in truth disliked; without it the tastes are as before."""
    from engine.sim.tastes import Situation

    plain = FamilySimulator(smith, catalog, 5)
    moody = FamilySimulator(smith, catalog, 5, moment_tastes=True)
    assert plain.tastes.rules == [] and moody.tastes.rules
    rule = next(r for r in moody.tastes.rules if len(r.members) == 1 and r.weekend is not None)
    part = sorted(rule.parts)[0]
    other = next(t for t in ("morning", "afternoon", "evening", "night", "early_morning",
                             "midday") if t not in rule.parts)  # fmt: skip
    f = moody.features
    topic_items = np.flatnonzero(f.top[:, rule.topic] > 0)
    assert len(topic_items)

    def bonus(weekend: bool, tod: str, members: tuple[int, ...] = rule.members) -> float:
        situation = Situation(tod, weekend, "", frozenset())
        row = list(members).index(rule.members[0])
        return float(moody.tastes.moment_bonus(members, situation)[row, topic_items].mean())

    assert bonus(rule.weekend, part) != 0.0  # type: ignore[arg-type]
    assert bonus(not rule.weekend, part) == bonus(rule.weekend, other) == 0.0  # type: ignore[arg-type]
    pair = next(r for r in moody.tastes.rules if len(r.members) == 2)
    alone = moody.tastes.moment_bonus(pair.members[:1], Situation("morning", True, "", frozenset()))
    together = moody.tastes.moment_bonus(pair.members, Situation("morning", True, "", frozenset()))
    cols = np.flatnonzero(f.top[:, pair.topic] > 0)
    assert together[0, cols].sum() > alone[0, cols].sum()
