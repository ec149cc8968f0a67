"""The application layer's actions the CLI calls: each says what it did in a typed result, and
each refuses what it should before it changes anything."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import app as actions
from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from tests.conftest import DATA

CONTEXT = {"timeOfDay": "morning", "dayOfWeek": "saturday",
           "familyMembers": ["dad-john", "child-emma"]}  # fmt: skip


@pytest.fixture
def engine(home: Path) -> Iterator[actions.Engine]:
    """An opened data directory with the seed's smith family."""
    with actions.Engine(home, "development") as opened:
        profile = actions.read_profile((DATA / "smith-family.json").read_bytes())
        actions.save_profile(opened.ft, profile, actor="system")
        yield opened


def test_the_engine_handle_opens_nothing_until_asked(tmp_path: Path) -> None:
    missing = tmp_path / "never-made"
    with actions.Engine(missing) as engine:
        status = actions.home_status(engine.ft)
        assert engine.log.ft is engine.ft
        assert "facade" not in engine.__dict__  # the recommendation service is not built
    assert not status.initialized and status.document["health"] == "not initialized"
    assert not missing.exists()


def test_the_engine_handle_shares_one_data_directory(engine: actions.Engine) -> None:
    facade = engine.facade
    assert facade is engine.facade and facade.ft is engine.ft
    assert facade.learning_engine is engine.log
    assert engine.models() is facade


def test_home_status_of_an_initialized_directory(engine: actions.Engine) -> None:
    status = actions.home_status(engine.ft)
    assert status.initialized and status.problems == []
    assert status.document["health"] == "ok"
    assert [f["familyId"] for f in status.document["families"]] == ["smith-family"]


def test_family_summaries_and_delete(engine: actions.Engine) -> None:
    [smith] = actions.family_summaries(engine.ft)
    assert smith == actions.FamilySummary("smith-family", None, 2, False)
    assert actions.delete_family(engine.ft, family_id="smith-family") == actions.FamilyDeleted(
        "smith-family"
    )
    assert actions.family_summaries(engine.ft) == []
    with pytest.raises(NotFound):
        actions.require_family(engine.ft, family_id="smith-family")


def test_catalog_filters_add_and_remove(engine: actions.Engine) -> None:
    games = actions.list_activities(engine.ft, category="games")
    assert games and all("games" in item.categories for item in games)
    rated_g = actions.list_activities(engine.ft, rating="G")
    assert rated_g and {item.content_rating for item in rated_g} == {"G"}

    doc = {**games[0].to_json(), "id": "cushion-fort-x", "title": "Cushion Fort"}
    doc.pop("source", None)
    with pytest.raises(ValidationFailed, match=r"activities\[1\]"):  # every one is checked
        actions.read_activities(json.dumps([doc, {**doc, "contentRating": "X"}]).encode())
    builtin = games[0].id
    with pytest.raises(FamtuneError, match="built-in"):
        actions.check_removable(engine.ft, item_id=builtin)
    with pytest.raises(NotFound):
        actions.check_removable(engine.ft, item_id="no-such-activity")

    added = actions.add_activities(
        engine.ft, activities=actions.read_activities(json.dumps(doc).encode())
    )
    assert added == actions.ActivitiesAdded(("cushion-fort-x",))
    actions.check_removable(engine.ft, item_id="cushion-fort-x")
    assert actions.remove_activity(engine.ft, item_id="cushion-fort-x") == (
        actions.ActivityRemoved("cushion-fort-x")
    )
    with pytest.raises(NotFound):
        actions.check_removable(engine.ft, item_id="cushion-fort-x")


def test_a_context_is_read_once_and_its_errors_name_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        actions.read_context(b'{"timeOfDay": "noon", "dayOfWeek": "monday"}')
    assert caught.value.field == "context.timeOfDay"
    context = actions.read_context(json.dumps(CONTEXT).encode())
    assert isinstance(context, actions.RequestContext)


def test_recommend_takes_a_read_context_or_the_clock(engine: actions.Engine) -> None:
    context = actions.read_context(json.dumps(CONTEXT).encode())
    ideas = actions.recommend(engine.facade, "smith-family", context, None, n=3)
    assert 1 <= len(ideas.batch.recommendations) <= 3
    now = actions.recommend(engine.facade, "smith-family", None, "child-emma", n=2)
    assert len(now.batch.recommendations) <= 2


def test_interactions_add_import_and_list(engine: actions.Engine, tmp_path: Path) -> None:
    item = actions.list_activities(engine.ft, rating="G")[0].id
    context = actions.read_context(json.dumps(CONTEXT).encode())
    view = actions.add_interaction(
        engine.log, family_id="smith-family", member_id="child-emma", item_id=item,
        outcome="rated", rating=5, context=context,
    )  # fmt: skip
    assert (view.member_id, view.outcome, view.rating) == ("child-emma", "rated", 5)

    line = {"member": "dad-john", "itemId": item, "outcome": "accepted", "context": CONTEXT}
    parsed = actions.read_interaction_file((json.dumps(line) + "\n").encode() * 3)
    assert parsed.labels == ["line 1", "line 2", "line 3"]
    done = actions.import_interactions(engine.log, family_id="smith-family", interactions=parsed)
    assert (done.family_id, done.count) == ("smith-family", 3) and done.seconds >= 0
    listed = actions.list_interactions(engine.log, family_id="smith-family", limit=2)
    assert [v.member_id for v in listed] == ["dad-john", "dad-john"]
    assert len(actions.list_interactions(engine.log, family_id="smith-family")) == 4


def test_a_blocked_item_is_audited_and_an_allowed_one_is_not(engine: actions.Engine) -> None:
    item = {"id": "duck-pond", "title": "Feed the ducks", "description": "Count the ducklings.",
            "categories": ["outdoor"], "topics": ["animals"], "contentRating": "G",
            "minAge": 3, "setting": "outdoor", "durationMinutes": 45}  # fmt: skip
    ok = actions.check_item(engine.ft, family_id="smith-family",
                            item=actions.read_item(json.dumps(item).encode()))  # fmt: skip
    assert ok.verdict.allowed and not ok.audited
    rated_r = actions.read_item(json.dumps({**item, "contentRating": "R"}).encode())
    blocked = actions.check_item(engine.ft, family_id="smith-family", item=rated_r)
    assert not blocked.verdict.allowed and blocked.audited
    [event] = actions.audit_trail(engine.ft, event_type="safety_block")
    assert event["familyId"] == "smith-family"


def test_pin_reset_is_for_the_owner_and_says_whether_a_pin_was_set(
    engine: actions.Engine,
) -> None:
    owner = engine.ft.data.root.stat().st_uid
    stranger = owner + 1 if owner + 1 != 0 else owner + 2
    with pytest.raises(FamtuneError, match="owner"):
        actions.reset_pin(engine.ft, euid=stranger)
    assert actions.reset_pin(engine.ft, euid=owner) == actions.PinReset(was_set=False)
    actions.set_pin(engine.ft, "4826", None)
    with pytest.raises(actions.PinRejected):
        actions.require_pin(engine.ft, pin="0000", purpose="test")
    assert actions.reset_pin(engine.ft, euid=os.geteuid()).was_set
    assert not actions.pin_is_set(engine.ft)


def test_model_actions_refuse_before_a_pin_is_asked(engine: actions.Engine) -> None:
    models = engine.models()
    with pytest.raises(NotFound, match="no model versions"):
        actions.require_versions(models, family_id="smith-family")
    with pytest.raises(NotFound, match="no models"):
        actions.require_models(models, family_id="smith-family")
    info = actions.model_info(models, family_id="smith-family")
    assert info == actions.ModelInfo("smith-family", None, [], 0)
    assert actions.list_models(models) == []


def test_simulate_to_a_file_says_what_it_made(engine: actions.Engine, tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    done = actions.simulate(engine.log, family_id="smith-family", count=30, seed=7, out=out)
    assert done.count == 30 == sum(done.outcomes.values())
    assert done.out == out and len(out.read_text().splitlines()) == 30
    assert actions.list_interactions(engine.log, family_id="smith-family") == []  # not stored
    with pytest.raises(FamtuneError, match="not a directory"):
        actions.simulate(engine.log, family_id="smith-family", count=1, seed=1,
                         out=tmp_path / "missing" / "sim.jsonl")  # fmt: skip
