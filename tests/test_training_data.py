"""The family dataset builder: sessions and the split are time-ordered, the hold-out is the
latest, chosen items are among the candidates, no names or personal data reach an example,
families never see each other's data, the hash is stable, and the data thresholds."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.base.config import FineTuningConfig
from engine.db.tables import ModelVersion
from engine.domain import families
from engine.domain.catalog import Catalog
from engine.domain.home import Famtune
from engine.domain.interactions import InteractionLog
from engine.personalize.dataset import FamilyDataset, build_dataset, enough_data
from engine.ranker.sessions import sessions_of
from engine.safety import SafetyValidator
from engine.schema.profiles import FamilyProfile, parse_profile
from engine.sim import DEFAULT_START, FamilySimulator, synthetic_profile

SMITH = "smith-family"
NOTE = "Emma loved it, call John at 555-123-4567"
ACTIVITY = "Emma's piano lesson with John"
SECRETS = re.compile(r"\b(john|emma|smith|555|loved it|piano lesson)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Unscrubbed:
    text: str


class _NoFilter:
    """A privacy filter that misses everything: the dataset must still leak nothing."""

    def __call__(self, profile: FamilyProfile, level: str) -> _NoFilter:
        return self

    def scrub(self, text: str) -> _Unscrubbed:
        return _Unscrubbed(text)


def _add_family(ft: Famtune, profile: FamilyProfile) -> None:
    with ft.db.write() as session:
        families.save_profile(session, profile=profile)


def _simulate(
    ft: Famtune,
    profile: FamilyProfile,
    n: int,
    seed: int,
    *,
    start: datetime = DEFAULT_START,
    change: Callable[[int, dict[str, Any]], None] | None = None,
) -> int:
    records = FamilySimulator(profile, Catalog(ft).items(), seed).simulate(n, start=start)
    for i, record in enumerate(records):
        if change is not None:
            change(i, record)
    learner = InteractionLog(ft, privacy=_NoFilter())
    return learner.record_many(profile.family_id, records)


@pytest.fixture
def smith(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> FamilyProfile:
    doc = copy.deepcopy(smith_profile)
    doc["familyName"] = "Smith"
    doc["members"][0]["displayName"] = "John"
    doc["members"][1]["displayName"] = "Emma"
    profile = parse_profile(doc)
    _add_family(engine_ctx, profile)
    return profile


@pytest.fixture
def ft(engine_ctx: Famtune, smith: FamilyProfile) -> Famtune:
    def personal(i: int, record: dict[str, Any]) -> None:
        if i % 7 == 0:
            record["note"] = NOTE
        if sum(map(ord, record["context"]["at"])) % 4 == 0:  # whole sessions
            record["context"]["currentActivity"] = ACTIVITY

    _simulate(engine_ctx, smith, 300, 1, change=personal)
    return engine_ctx


def _texts(ds: FamilyDataset) -> list[str]:
    out = [t for e in ds.examples for t in (e.prompt, e.response)]
    for case in ds.holdout:
        context = {k: v for k, v in case.context.items() if k != "familyMembers"}
        out.append(json.dumps(context))
    return out


def test_sessions_split_and_holdout_are_time_ordered(ft: Famtune, smith: FamilyProfile) -> None:
    ds = build_dataset(ft, SMITH, seed=1)
    assert ds.counts["interactions"] == 300 and ds.examples and ds.holdout
    history = InteractionLog(ft).get_interaction_history(SMITH)
    sessions = sessions_of(history, smith)
    assert [s.at for s in sessions] == sorted(s.at for s in sessions)
    assert sum(len(s.shown) for s in sessions) <= 300 and len(sessions) == ds.counts["sessions"]
    # Every record of a session shares its context, and the session starts at its "at".
    for s in sessions:
        assert s.at == datetime.fromisoformat(s.context["at"].replace("Z", "+00:00"))
    example_times = [e.at for e in ds.examples]
    holdout_times = [h.at for h in ds.holdout]
    assert example_times == sorted(example_times) and holdout_times == sorted(holdout_times)
    assert max(example_times) < min(holdout_times)  # never shuffled across the split
    positive = [s for s in sessions if s.positives]
    assert len(positive) == ds.counts["positiveSessions"]
    assert len(ds.holdout) == round(0.2 * len(positive)) and ds.counts["skipped"] == 0
    assert holdout_times == [s.at.isoformat() for s in positive[-len(ds.holdout) :]]
    assert len(ds.examples) + len(ds.holdout) + ds.counts["skipped"] == len(positive)


def test_chosen_items_are_candidates_and_responses_teach_the_choice(ft: Famtune) -> None:
    ds = build_dataset(ft, SMITH, seed=1)
    positions = set()
    for e in ds.examples:
        assert len(e.candidates) == ds.n_candidates == 15 and len(set(e.candidates)) == 15
        assert set(e.chosen) <= set(e.candidates) and 1 <= len(e.chosen) <= 3
        answer = json.loads(e.response)["recommendations"]
        assert [a["id"] for a in answer] == list(e.chosen)
        assert all(0 < len(a["reason"]) <= 60 for a in answer)
        lines = [line.split(":")[0] for line in e.prompt.splitlines() if ": " in line]
        assert [i for i in lines if i in e.candidates] == list(e.candidates)
        assert not set(e.dismissed) & set(e.chosen)
        positions.add(e.candidates.index(e.chosen[0]))
    assert len(positions) >= 4  # the answer is not always in the same place
    for case in ds.holdout:
        assert case.chosen in case.candidates and case.chosen == case.positives[0]
        assert len(case.candidates) == 15 and not set(case.dismissed) & set(case.positives)
    assert sum(len(c.dismissed) for c in ds.holdout) > 0


def test_candidates_use_only_the_history_before_each_session(
    ft: Famtune, smith: FamilyProfile
) -> None:
    before = build_dataset(ft, SMITH, holdout_fraction=0.0, seed=1)
    _simulate(ft, smith, 60, 9, start=DEFAULT_START + timedelta(weeks=8))
    after = build_dataset(ft, SMITH, holdout_fraction=0.0, seed=1)
    assert len(after.examples) > len(before.examples)
    assert after.examples[: len(before.examples)] == before.examples


def test_examples_hold_no_names_or_personal_data(ft: Famtune, smith: FamilyProfile) -> None:
    history = InteractionLog(ft).get_interaction_history(SMITH)
    assert any(row.note == NOTE for row in history)  # the stand-in filter let them through
    assert any(row.context.get("currentActivity") == ACTIVITY for row in history)
    ds = build_dataset(ft, SMITH, seed=1)
    for text in _texts(ds):
        assert not SECRETS.search(text), text
        assert "dad-john" not in text and "child-emma" not in text
    validator = SafetyValidator()
    reasons = {p["reason"] for e in ds.examples for p in json.loads(e.response)["recommendations"]}
    assert len(reasons) > 3
    for reason in reasons:  # the generated-text check, for the whole family
        probe = {"id": "probe", "title": "probe", "contentRating": "G", "reason": reason}
        verdict = validator.check(smith, probe)
        assert verdict.allowed, (reason, verdict.reasons)
    assert validator.check(smith, {**probe, "reason": "Fun for Emma."}).allowed is False


def test_families_never_share_data(ft: Famtune) -> None:
    other = synthetic_profile("jones-family", "sporty-competitive", seed=4)
    _add_family(ft, other)
    _simulate(ft, other, 250, 4)
    smith_ds = build_dataset(ft, SMITH, seed=1)
    jones_ds = build_dataset(ft, "jones-family", seed=1)
    assert jones_ds.examples and smith_ds.dataset_hash != jones_ds.dataset_hash
    assert not set(smith_ds.pairs()) & set(jones_ds.pairs())
    assert jones_ds.counts["interactions"] == 250 and smith_ds.counts["interactions"] == 300
    assert all("child 8" not in e.prompt for e in jones_ds.examples)  # no Smith in Jones
    _simulate(ft, other, 80, 5, start=DEFAULT_START + timedelta(weeks=6))
    again = build_dataset(ft, SMITH, seed=1)
    assert again.dataset_hash == smith_ds.dataset_hash and again.counts == smith_ds.counts


def test_dataset_hash_is_stable_and_follows_the_data(ft: Famtune, smith: FamilyProfile) -> None:
    first = build_dataset(ft, SMITH, seed=1)
    assert build_dataset(ft, SMITH, seed=1).dataset_hash == first.dataset_hash
    assert re.fullmatch(r"[0-9a-f]{64}", first.dataset_hash)
    assert build_dataset(ft, SMITH, seed=2).dataset_hash != first.dataset_hash  # positions
    context = {
        "timeOfDay": "afternoon",
        "dayOfWeek": "saturday",
        "familyMembers": ["dad-john"],
        "environmentalFactors": ["home", "weekend"],
        "at": "2025-03-01T15:00:00Z",
    }
    InteractionLog(ft).record_interaction(
        SMITH, "dad-john", "origami-animals", "accepted", context=context
    )
    changed = build_dataset(ft, SMITH, seed=1)
    assert changed.dataset_hash != first.dataset_hash
    assert changed.holdout[-1].chosen == "origami-animals"


def test_enough_data_thresholds(engine_ctx: Famtune, smith: FamilyProfile) -> None:
    ft = engine_ctx
    ft.use_config(FineTuningConfig(min_interactions_for_training=50, retraining_threshold=20))
    assert enough_data(ft, SMITH) == (
        False,
        "0 interactions so far; the first family model needs 50.",
    )
    _simulate(ft, smith, 23, 2)
    assert enough_data(ft, SMITH) == (
        False,
        "23 interactions so far; the first family model needs 50.",
    )
    _simulate(ft, smith, 27, 3, start=DEFAULT_START + timedelta(weeks=4))
    ready, reason = enough_data(ft, SMITH)
    assert ready, reason
    assert reason == "50 interactions so far; enough for the first family model (it needs 50)."
    with ft.db.write() as session:
        session.add(
            ModelVersion(
                family_id=SMITH,
                version=1,
                path="/nowhere",
                base_sha256="0" * 64,
                dataset_hash="0" * 64,
                created_at=datetime.now(timezone.utc) - timedelta(hours=1),
            )
        )
    assert enough_data(ft, SMITH) == (
        False,
        "0 new interactions since the last model; an update needs 20.",
    )
    learner = InteractionLog(ft)
    context = {"timeOfDay": "morning", "dayOfWeek": "sunday", "familyMembers": ["dad-john"]}
    for _ in range(19):
        learner.record_interaction(SMITH, "dad-john", "origami-animals", "shown", context=context)
    assert enough_data(ft, SMITH) == (
        False,
        "19 new interactions since the last model; an update needs 20.",
    )
    learner.record_interaction(SMITH, "dad-john", "origami-animals", "shown", context=context)
    ready, reason = enough_data(ft, SMITH)
    assert ready and reason == (
        "20 new interactions since the last model; enough for an update (it needs 20)."
    )
