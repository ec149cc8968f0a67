"""Ideas fit who is there: grown-ups alone get grown-up ideas, and late on a school night a
child gets only calm, short things to wind down (or nothing), with a sentence saying so."""

from __future__ import annotations

import copy
from typing import Any

from engine.domain.catalog import load_builtin_catalog
from engine.general.ranking import (
    CALM_CATEGORIES,
    WIND_DOWN_MAX_MINUTES,
    WIND_DOWN_NOTE,
    GeneralEngine,
    wind_down_note,
)
from engine.schema.context import parse_context
from engine.schema.profiles import parse_profile

CATALOG = load_builtin_catalog()
BY_ID = {item.id: item for item in CATALOG}


def _family(smith: dict[str, Any]) -> Any:
    doc = copy.deepcopy(smith)
    doc["members"] += [
        {"userId": "mom-ana", "displayName": "Ana", "age": 39, "role": "parent",
         "safetyLevel": "moderate", "preferences": {"interests": ["gardening", "art"]}},
        {"userId": "child-leo", "displayName": "Leo", "age": 5, "role": "child",
         "safetyLevel": "strict", "preferences": {"interests": ["building", "animals"]}},
    ]  # fmt: skip
    doc["safetySettings"]["timeRestrictions"] = []
    return parse_profile(doc)


def _context(when: str, day: str, at: str, members: list[str]) -> Any:
    return parse_context(
        {"timeOfDay": when, "dayOfWeek": day, "familyMembers": members,
         "environmentalFactors": ["home"], "at": at}
    )  # fmt: skip


def test_two_adults_in_the_afternoon_get_grown_up_ideas(smith_profile: dict[str, Any]) -> None:
    profile = _family(smith_profile)
    adults = [m.user_id for m in profile.members if m.age >= 18]
    assert len(adults) >= 2
    context = _context("afternoon", "tuesday", "2026-11-24T15:30:00", adults)
    recs = GeneralEngine().recommend(profile, context, CATALOG, n=5)
    assert len(recs) == 5
    young = [r.id for r in recs if BY_ID[r.id].min_age <= 6]
    assert young == [], young  # no blanket fort, marble run or cardboard castle
    # with the child there, children's things come back
    with_child = _context("afternoon", "tuesday", "2026-11-24T15:30:00", [*adults, "child-leo"])
    recs = GeneralEngine().recommend(profile, with_child, CATALOG, n=5)
    assert any(BY_ID[r.id].min_age <= 6 for r in recs)


def test_late_on_a_school_night_a_child_winds_down(smith_profile: dict[str, Any]) -> None:
    profile = _family(smith_profile)
    context = _context("night", "tuesday", "2026-11-24T23:30:00", ["child-leo"])
    recs = GeneralEngine().recommend(profile, context, CATALOG, members=["child-leo"], n=5)
    for rec in recs:
        item = BY_ID[rec.id]
        assert item.energy == "low" and CALM_CATEGORIES & set(item.categories)
        assert item.duration_minutes <= WIND_DOWN_MAX_MINUTES
        assert "blanket-fort" not in rec.id
    assert any("winding down" in r.reason for r in recs)
    assert wind_down_note(profile, context, ["child-leo"]) == WIND_DOWN_NOTE
    # Friday night, or grown-ups alone: no bedtime rule
    friday = _context("night", "friday", "2026-11-27T23:30:00", ["child-leo"])
    assert wind_down_note(profile, friday, ["child-leo"]) is None
    adults = [m.user_id for m in profile.members if m.age >= 18]
    late_adults = _context("night", "tuesday", "2026-11-24T23:30:00", adults)
    assert wind_down_note(profile, late_adults) is None
    assert GeneralEngine().recommend(profile, late_adults, CATALOG, n=5)


def test_the_service_and_the_family_model_offer_only_wind_down_ideas_at_bedtime(
    engine_ctx: Any, smith_profile: dict[str, Any]
) -> None:
    """The recommendation service (CLI, facade, Home), and a family model re-ranking its
    candidates, never bring back what the bedtime rule put aside."""
    from engine.domain import families
    from engine.recommend.service import RecommendationService
    from tests.test_inference import commit_random_adapter

    profile = _family(smith_profile)
    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=profile)
    context = {"timeOfDay": "night", "dayOfWeek": "tuesday", "familyMembers": ["child-leo"],
               "environmentalFactors": ["home"], "at": "2026-11-24T23:30:00"}  # fmt: skip
    service = RecommendationService(engine_ctx)
    try:
        for expected in ("general", "family-model"):
            if expected == "family-model":
                commit_random_adapter(engine_ctx, profile.family_id)
                service.invalidate()
            batch = service.recommend(profile.family_id, context, "child-leo", n=20)
            assert batch.source == expected, batch.fallback_reason
            for rec in batch.recommendations:
                item = BY_ID[rec.id]
                assert item.energy == "low" and CALM_CATEGORIES & set(item.categories), rec.id
    finally:
        service.close()
