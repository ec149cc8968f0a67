"""The general engine and the recommendation service: context-aware, deterministic, and
never unsafe for the audience."""

from __future__ import annotations

import copy
import itertools
import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.db.tables import ModelVersion
from engine.domain import families
from engine.domain.catalog import load_builtin_catalog
from engine.domain.home import Famtune
from engine.general.ranking import GeneralEngine, learn_taste
from engine.recommend.service import RecommendationService
from engine.safety import SafetyValidator
from engine.schema.context import parse_context
from engine.schema.profiles import FamilyProfile, parse_profile
from tests.conftest import CliRun

CATALOG = load_builtin_catalog()
TIMES = ("early_morning", "morning", "midday", "afternoon", "evening", "night")
DAYS = ("sunday", "tuesday", "friday", "saturday")
FACTORS = ([], ["rain"], ["home", "weekend"], ["sunny", "outdoors"], ["snow"], ["away"])


def _profile(doc: dict[str, Any], **changes: Any) -> FamilyProfile:
    doc = copy.deepcopy(doc)
    doc.update(changes)
    return parse_profile(doc)


def _contexts(members: list[str]) -> list[dict[str, Any]]:
    hours = {
        "early_morning": 6,
        "morning": 9,
        "midday": 12,
        "afternoon": 15,
        "evening": 19,
        "night": 22,
    }
    day_dates = {"sunday": 22, "tuesday": 24, "friday": 27, "saturday": 28}
    return [
        {
            "timeOfDay": t,
            "dayOfWeek": d,
            "familyMembers": members,
            "environmentalFactors": f,
            "at": f"2026-11-{day_dates[d]}T{hours[t]:02d}:30:00",
        }
        for t, d, f in itertools.product(TIMES, DAYS, FACTORS)
    ]


def _assert_all_safe(profile: FamilyProfile, members: list[str], n: int = 25) -> int:
    engine, validator = GeneralEngine(), SafetyValidator()
    shown = 0
    for raw in _contexts(members):
        ctx = parse_context(raw)
        ranked = engine.rank(profile, ctx, CATALOG, at=ctx.at)
        allowed = {
            item.id
            for item, verdict in zip(
                CATALOG,
                validator.check_many(
                    profile, [i.to_json() for i in CATALOG], context_members=members, at=ctx.at
                ),
                strict=True,
            )
            if verdict.allowed
        }
        # Exactly the items the validator allows are ranked: nothing unsafe, nothing lost.
        assert {s.item.id for s in ranked} == allowed
        for rec in engine.recommend(profile, ctx, CATALOG, n=n, at=ctx.at):
            verdict = validator.check(
                profile,
                {**next(i for i in CATALOG if i.id == rec.id).to_json(), "reason": rec.reason},
                context_members=members,
                at=ctx.at,
            )
            assert verdict.allowed, (rec.id, verdict.to_json())
            shown += 1
    return shown


def test_strict_four_year_old_sees_only_g_items_for_their_age(
    smith_profile: dict[str, Any],
) -> None:
    doc = copy.deepcopy(smith_profile)
    doc["members"][1].update(age=4, safetyLevel="strict")
    profile = _profile(doc, safetySettings={"maxContentRating": "R", "blockedTopics": []})
    assert _assert_all_safe(profile, ["child-emma"]) > 0
    engine = GeneralEngine()
    for raw in _contexts(["child-emma"])[:20]:
        ctx = parse_context(raw)
        for scored in engine.rank(profile, ctx, CATALOG, at=ctx.at):
            assert scored.item.content_rating == "G"
            assert scored.item.min_age <= 4


def test_school_night_window_blocks_its_categories(smith_profile: dict[str, Any]) -> None:
    window = {
        "startTime": "19:00",
        "endTime": "07:00",
        "daysOfWeek": [0, 1, 2, 3, 4],
        "restrictedContent": ["entertainment", "games"],
    }
    profile = _profile(
        smith_profile,
        safetySettings={
            "maxContentRating": "PG-13",
            "blockedTopics": [],
            "timeRestrictions": [window],
        },
    )
    _assert_all_safe(profile, [])
    engine = GeneralEngine()
    tuesday_night = parse_context(
        {"timeOfDay": "evening", "dayOfWeek": "tuesday", "at": "2026-11-24T20:00:00"}
    )
    cats = {c for s in engine.rank(profile, tuesday_night, CATALOG) for c in s.item.categories}
    assert not cats & {"entertainment", "games"}
    # Saturday evening is outside the window: the same categories come back.
    saturday = parse_context(
        {"timeOfDay": "evening", "dayOfWeek": "saturday", "at": "2026-11-28T20:00:00"}
    )
    cats = {c for s in engine.rank(profile, saturday, CATALOG) for c in s.item.categories}
    assert {"entertainment", "games"} <= cats


def test_blocked_topics_never_come_out(smith_profile: dict[str, Any]) -> None:
    profile = _profile(
        smith_profile,
        safetySettings={
            "maxContentRating": "R",
            "blockedTopics": ["animals", "scary_content", "gambling"],
        },
    )
    _assert_all_safe(profile, ["dad-john"])
    ctx = parse_context(
        {"timeOfDay": "evening", "dayOfWeek": "saturday", "familyMembers": ["dad-john"]}
    )
    for scored in GeneralEngine().rank(profile, ctx, CATALOG):
        assert not {"animals", "scary_content", "gambling"} & set(scored.item.topics)


def test_deterministic_and_context_aware(smith_profile: dict[str, Any]) -> None:
    profile = parse_profile(smith_profile)
    engine = GeneralEngine()
    rainy = parse_context(
        {
            "timeOfDay": "afternoon",
            "dayOfWeek": "saturday",
            "environmentalFactors": ["rain"],
            "at": "2026-11-28T15:00:00",
        }
    )
    first = engine.recommend(profile, rainy, CATALOG, n=10)
    assert first == GeneralEngine().recommend(profile, rainy, CATALOG, n=10)
    by_id = {i.id: i for i in CATALOG}
    for rec in first:
        item = by_id[rec.id]
        assert item.setting != "outdoor" or "rain" in item.weather
    sunny = parse_context(
        {
            "timeOfDay": "afternoon",
            "dayOfWeek": "saturday",
            "environmentalFactors": ["sunny", "outdoors"],
            "at": "2026-11-28T15:00:00",
        }
    )
    outdoors = [
        r
        for r in engine.recommend(profile, sunny, CATALOG, n=10)
        if by_id[r.id].setting != "indoor"
    ]
    assert len(outdoors) >= 5


def test_history_moves_liked_things_up(smith_profile: dict[str, Any]) -> None:
    profile = parse_profile(smith_profile)
    ctx = parse_context(
        {"timeOfDay": "afternoon", "dayOfWeek": "saturday", "at": "2026-11-28T15:00:00"}
    )
    engine = GeneralEngine()
    before = [s.item.id for s in engine.rank(profile, ctx, CATALOG)]
    target = before[40]

    class Row:
        def __init__(self, outcome: str, day: int) -> None:
            self.member_id, self.item_id, self.outcome, self.rating = (
                "child-emma",
                target,
                outcome,
                None,
            )
            self.created_at = datetime.fromisoformat(f"2026-11-{day:02d}T10:00:00+00:00")

    taste = learn_taste(
        [Row("completed", d) for d in range(10, 20)],
        {i.id: i for i in CATALOG},
        now=datetime.fromisoformat("2026-11-28T15:00:00+00:00"),
    )
    after = [s.item.id for s in engine.rank(profile, ctx, CATALOG, taste=taste)]
    assert after.index(target) < before.index(target)


def test_reasons_are_plain_and_name_nobody(smith_profile: dict[str, Any]) -> None:
    profile = parse_profile(smith_profile)
    ctx = parse_context(
        {"timeOfDay": "morning", "dayOfWeek": "saturday", "currentActivity": "breakfast"}
    )
    for rec in GeneralEngine().recommend(profile, ctx, CATALOG, n=10):
        assert rec.reason.endswith(".")
        assert "john" not in rec.reason.lower() and "emma" not in rec.reason.lower()
        assert 0 < rec.confidence < 1


# -- the service --------------------------------------------------------------------------


def _import(ft: Famtune, doc: dict[str, Any]) -> None:
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(doc))


CTX = {
    "timeOfDay": "morning",
    "dayOfWeek": "saturday",
    "currentActivity": "breakfast",
    "familyMembers": ["dad-john", "child-emma"],
    "environmentalFactors": ["home", "weekend"],
    "at": "2026-11-28T09:00:00",
}


def test_service_caches_and_invalidates(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _import(engine_ctx, smith_profile)
    service = RecommendationService(engine_ctx)
    first = service.recommend("smith-family", CTX)
    assert first.source == "general" and not first.cache_hit
    assert len(first.recommendations) == 5
    second = service.recommend("smith-family", CTX)
    assert second.cache_hit
    assert second.recommendations == first.recommendations
    changed = copy.deepcopy(smith_profile)
    changed["safetySettings"]["blockedTopics"].append("cooking")
    _import(engine_ctx, changed)
    third = service.recommend("smith-family", CTX)
    assert not third.cache_hit
    catalog = {i.id: i for i in CATALOG}
    assert all("cooking" not in catalog[r.id].topics for r in third.recommendations)


def test_service_target_member_and_errors(
    engine_ctx: Famtune, smith_profile: dict[str, Any]
) -> None:
    from engine.base.errors import NotFound, ValidationFailed

    _import(engine_ctx, smith_profile)
    service = RecommendationService(engine_ctx)
    emma = service.recommend("smith-family", CTX, "child-emma", n=8)
    catalog = {i.id: i for i in CATALOG}
    assert all(catalog[r.id].content_rating == "G" for r in emma.recommendations)
    with pytest.raises(NotFound):
        service.recommend("smith-family", CTX, "nobody")
    with pytest.raises(NotFound):
        service.recommend("no-family", CTX)
    with pytest.raises(ValidationFailed, match=r"context\.timeOfDay"):
        service.recommend("smith-family", {**CTX, "timeOfDay": "teatime"})


def test_corrupt_adapter_falls_back_and_is_logged(
    engine_ctx: Famtune, smith_profile: dict[str, Any], cli: CliRun
) -> None:
    _import(engine_ctx, smith_profile)
    version_dir = engine_ctx.data.family_models("smith-family") / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "adapter.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with engine_ctx.db.write() as session:
        session.add(
            ModelVersion(
                family_id="smith-family",
                version=1,
                status="active",
                is_active=True,
                path=str(version_dir),
                base_sha256="0" * 64,
                dataset_hash="0" * 64,
            )
        )
    service = RecommendationService(engine_ctx)
    try:
        batch = service.recommend("smith-family", CTX)
    finally:
        service.close()
    assert batch.source == "general"
    assert batch.fallback_reason
    assert len(batch.recommendations) == 5
    status = cli.json("status")
    assert any(e["component"] == "inference" for e in status["lastErrors"])


def test_recommend_cli_on_fresh_init_without_network(
    cli: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("famtune tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    code, _, err = cli(
        "family", "import", str(Path(__file__).parent / "data" / "smith-family.json")
    )
    assert code == 0, err
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps(CTX))
    doc = cli.json("recommend", "--family", "smith-family", "--context", str(ctx), "-n", "3")
    assert len(doc["recommendations"]) == 3
    for rec in doc["recommendations"]:
        assert set(rec) == {
            "id",
            "title",
            "category",
            "reason",
            "confidence",
            "source",
            "safetyScore",
            "modelVersion",
        }
        assert rec["source"] == "general"


def test_family_model_path_only_returns_safe_items(
    engine_ctx: Famtune, smith_profile: dict[str, Any]
) -> None:
    """The family-model path with a real (small, random) LoRA adapter applied by llama.cpp:
    whatever the model writes, every item that comes out is allowed for a strict 4-year-old
    and every reason passes the generated-text check."""
    from engine.base.config import FineTuningConfig
    from tests.test_inference import commit_random_adapter

    doc = copy.deepcopy(smith_profile)
    doc["members"][1].update(age=4, safetyLevel="strict")
    doc["safetySettings"]["maxContentRating"] = "R"
    _import(engine_ctx, doc)
    engine_ctx.use_config(FineTuningConfig(inference_deadline_s=300.0, inference_threads=1))
    commit_random_adapter(engine_ctx)
    profile = parse_profile(doc)
    validator = SafetyValidator()
    catalog = {i.id: i for i in CATALOG}
    service = RecommendationService(engine_ctx)
    try:
        for raw in _contexts(["child-emma"])[::37][:2]:
            batch = service.recommend("smith-family", raw, n=3)
            assert batch.source == "family-model", batch.fallback_reason
            assert batch.model_version == 1
            for rec in batch.recommendations:
                verdict = validator.check(
                    profile,
                    {**catalog[rec.id].to_json(), "reason": rec.reason},
                    context_members=["child-emma"],
                    at=datetime.fromisoformat(raw["at"]),
                )
                assert verdict.allowed, (rec.id, rec.reason, verdict.to_json())
                assert catalog[rec.id].content_rating == "G"
    finally:
        service.close()


def test_low_memory_frees_the_model_and_answers_from_the_general_engine(
    engine_ctx: Famtune, smith_profile: dict[str, Any]
) -> None:
    """Graceful degradation: with too little memory available, idle adapters and then the
    llama.cpp model are freed and the general engine answers (not cached, logged); once
    memory is back the family model answers again."""
    from engine.base.config import FineTuningConfig
    from engine.recommend.service import LOW_MEMORY_MB, LOW_MEMORY_REASON
    from tests.test_inference import commit_random_adapter

    _import(engine_ctx, smith_profile)
    engine_ctx.use_config(FineTuningConfig(inference_deadline_s=300.0, inference_threads=2))
    commit_random_adapter(engine_ctx)
    free = [LOW_MEMORY_MB - 100]
    service = RecommendationService(engine_ctx, memory_mb=lambda: free[0])
    try:
        service.llama()  # loaded earlier, as by a previous request
        low = service.recommend("smith-family", CTX, n=3)
        assert low.source == "general" and low.fallback_reason == LOW_MEMORY_REASON
        assert service._llama is None  # the model was freed
        again = service.recommend("smith-family", CTX, n=3)
        assert not again.cache_hit  # a low-memory answer is not kept
        assert any(e.component == "memory" for e in engine_ctx.recent_events())
        free[0] = LOW_MEMORY_MB + 1000
        back = service.recommend("smith-family", CTX, n=3)
        assert back.source == "family-model", back.fallback_reason
    finally:
        service.close()
