"""Time limits on "screens": the catalog's reviewed ``screen`` flag, the validator's rule, the
profile, the simulator's safe pool and a real recommendation during a Screens window."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.base.errors import ValidationFailed
from engine.base.paths import resource_path
from engine.domain import families
from engine.domain.catalog import CatalogItem, load_builtin_catalog, parse_catalog_item
from engine.domain.home import Famtune
from engine.recommend.service import RecommendationService
from engine.safety import SafetyValidator, parse_item
from engine.schema.profiles import SCREENS, FamilyProfile, parse_profile
from engine.sim import FamilySimulator
from tests.conftest import CliRun

EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]
FRIDAY = datetime(2026, 11, 27)  # JS day 5
EVENING = FRIDAY.replace(hour=20)
NOON = FRIDAY.replace(hour=12)


def _raw_activities() -> list[dict[str, Any]]:
    activities: list[dict[str, Any]] = json.loads(resource_path("catalog.json").read_text())[
        "activities"
    ]
    return activities


@pytest.fixture(scope="module")
def catalog() -> list[CatalogItem]:
    return load_builtin_catalog()


def _window(content: list[str], start: str = "19:00", end: str = "07:00") -> dict[str, Any]:
    return {
        "startTime": start,
        "endTime": end,
        "daysOfWeek": EVERY_DAY,
        "restrictedContent": content,
    }


def _family(smith_profile: dict[str, Any], *windows: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(smith_profile)
    doc["safetySettings"] = {
        "maxContentRating": "PG-13",
        "blockedTopics": [],
        "timeRestrictions": list(windows),
    }
    return doc


def _item(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "cartoon-night",
        "title": "Cartoon night",
        "description": "Pick a cartoon together and make cocoa.",
        "categories": ["entertainment"],
        "topics": ["movies"],
        "contentRating": "G",
        "minAge": 0,
        "screen": True,
    }
    doc.update(changes)
    return doc


# -- the catalog's flag ---------------------------------------------------------------------------


def test_every_screen_flag_in_the_catalog_is_parsed(catalog: list[CatalogItem]) -> None:
    raw = _raw_activities()
    flagged = [a["id"] for a in raw if "screen" in a]
    # Only ``true`` is written (absent means no screen), and the flag sits after "setting".
    assert all(a["screen"] is True for a in raw if "screen" in a)
    assert all(list(a)[list(a).index("screen") - 1] == "setting" for a in raw if "screen" in a)
    assert len(flagged) == 36
    assert [i.id for i in catalog if i.screen] == flagged
    for doc, item in zip(raw, catalog, strict=True):
        assert item.to_json() == {**doc, "source": "builtin"}  # the file's shape, both ways
    by_id = {i.id: i for i in catalog}
    for screen in ("family-movie-night-popcorn", "co-op-video-game-afternoon",
                   "grandparent-video-show-and-tell", "make-a-game-in-scratch",
                   "karaoke-living-room-concert", "ukulele-starter-lesson"):  # fmt: skip
        assert by_id[screen].screen, screen
    for not_screen in ("phone-free-family-hour", "unplugged-coding-maze", "movie-title-charades",
                       "audiobook-road-trip", "board-book-cuddle-time"):  # fmt: skip
        assert not by_id[not_screen].screen, not_screen


def test_the_screen_flag_is_a_strict_boolean() -> None:
    doc = dict(_raw_activities()[0])
    assert parse_catalog_item({**doc, "screen": True}).screen
    assert not parse_catalog_item(doc).screen
    with pytest.raises(ValidationFailed) as caught:
        parse_catalog_item({**doc, "screen": "yes"}, where="activities[0]")
    assert caught.value.field == "activities[0].screen"
    with pytest.raises(ValidationFailed, match="screen"):
        parse_item(_item(screen="true"))
    assert not parse_item({k: v for k, v in _item().items() if k != "screen"}).screen


# -- the validator ----------------------------------------------------------------------------


def test_a_screens_window_pauses_screen_items_only_inside_it(smith_profile: dict[str, Any]) -> None:
    profile = parse_profile(_family(smith_profile, _window(["Screens"])))
    validator = SafetyValidator()
    cartoon = _item()
    inside = validator.check(profile, cartoon, at=EVENING)
    assert not inside.allowed
    assert inside.to_json()["reasons"] == [
        {"code": "time_restricted", "message": "Screens are paused from 19:00 to 07:00."}
    ]
    assert validator.check(profile, cartoon, at=FRIDAY.replace(hour=6, minute=59)).codes == [
        "time_restricted"
    ]
    assert validator.check(profile, cartoon, at=NOON).allowed  # outside the window
    assert validator.check(profile, cartoon, at=FRIDAY.replace(hour=7)).allowed
    # The flag decides, not the category: a screen-free entertainment item stays allowed and
    # a screen item in any category (or none) is paused.
    charades = _item(id="charades", title="Charades", screen=False)
    assert validator.check(profile, charades, at=EVENING).allowed
    for categories in (["educational"], ["music", "reading"], []):
        assert not validator.check(profile, _item(categories=categories), at=EVENING).allowed


def test_screens_and_categories_in_one_window_read_as_one_sentence(
    smith_profile: dict[str, Any],
) -> None:
    profile = parse_profile(_family(smith_profile, _window(["entertainment", "screens"])))
    verdict = SafetyValidator().check(profile, _item(), at=EVENING)
    assert verdict.to_json()["reasons"] == [
        {
            "code": "time_restricted",
            "message": "Entertainment and screens are paused from 19:00 to 07:00.",
        }
    ]


def test_the_catalog_in_a_screens_window(
    smith_profile: dict[str, Any], catalog: list[CatalogItem]
) -> None:
    profile = parse_profile(_family(smith_profile, _window([SCREENS])))
    validator = SafetyValidator()
    docs = [i.to_json() for i in catalog]
    evening = validator.check_many(profile, docs, members=["dad-john"], at=EVENING)
    noon = validator.check_many(profile, docs, members=["dad-john"], at=NOON)
    for item, late, day in zip(catalog, evening, noon, strict=True):
        paused = "time_restricted" in late.codes
        assert paused == item.screen, item.id
        if not item.screen:
            assert late.allowed == day.allowed, item.id
    assert sum(v.allowed and i.screen for i, v in zip(catalog, noon, strict=True)) >= 10


# -- the profile --------------------------------------------------------------------------------


def test_a_profile_with_a_screens_window_imports_and_round_trips(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any]
) -> None:
    doc = _family(smith_profile, _window(["screens", "games"]))
    assert parse_profile(doc).safety_settings.time_restrictions[0].restricted_content == [
        "screens",
        "games",
    ]
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(doc))
    assert cli.json("family", "import", str(path))["created"]
    assert cli.json("family", "export", "smith-family") == doc
    item = tmp_path / "item.json"
    item.write_text(json.dumps(_item(categories=["educational"])))
    verdict = cli.json("safety", "check", "--family", "smith-family",
                       "--at", EVENING.isoformat(), str(item))  # fmt: skip
    paused = {"code": "time_restricted", "message": "Screens are paused from 19:00 to 07:00."}
    assert verdict == {"allowed": False, "reasons": [paused], "safetyScore": 0.0}


# -- the simulator and the recommendation service --------------------------------------------


def test_the_simulators_safe_pool_honours_screens(
    smith_profile: dict[str, Any], catalog: list[CatalogItem]
) -> None:
    profile: FamilyProfile = parse_profile(_family(smith_profile, _window([SCREENS])))
    sim = FamilySimulator(profile, catalog, seed=3)
    by_id = {i.id: i for i in catalog}
    day = set(sim.safe_pool(["dad-john"], NOON))
    evening = set(sim.safe_pool(["dad-john"], EVENING))
    assert not any(by_id[i].screen for i in evening)
    assert {i for i in day if by_id[i].screen}  # outside the window they come back
    assert evening == {i for i in day if not by_id[i].screen}


def test_no_screen_item_is_recommended_during_a_screens_window(
    engine_ctx: Famtune, smith_profile: dict[str, Any], catalog: list[CatalogItem]
) -> None:
    by_id = {i.id: i for i in catalog}
    context = {
        "timeOfDay": "evening",
        "dayOfWeek": "friday",
        "environmentalFactors": ["home", "rain"],
        "at": EVENING.isoformat(),
    }

    def screens_recommended(*windows: dict[str, Any]) -> list[str]:
        with engine_ctx.db.write() as session:
            families.save_profile(session, profile=parse_profile(_family(smith_profile, *windows)))
        service = RecommendationService(engine_ctx)
        try:
            batch = service.recommend("smith-family", context, n=20)
        finally:
            service.close()
        assert len(batch.recommendations) == 20
        return [r.id for r in batch.recommendations if by_id[r.id].screen]

    assert screens_recommended()  # without a window this evening would show screens
    assert screens_recommended(_window([SCREENS], "18:00", "21:00")) == []
