"""Item 4: ``maxContentRatingCap`` (PG in ``child-safe``, PG-13 elsewhere) bounds what a
family may choose: at import, in the engine function the GUI's controls save through, and
in the validator for a family whose stored rating is above it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.base.errors import ValidationFailed
from tests.conftest import CliRun
from tests.security.conftest import one_line_error, write_json

R_ITEM = {
    "id": "late-night-horror-double-bill",
    "title": "Late film double bill",
    "description": "Two long films on the sofa.",
    "contentRating": "R",
    "minAge": 0,
    "categories": ["entertainment"],
    "topics": [],
}


ABOVE = [("child-safe", "R"), ("child-safe", "PG-13"), ("development", "R"), ("jetson", "R")]


@pytest.mark.parametrize(("profile", "rating"), ABOVE)
def test_import_above_the_cap_is_refused_naming_the_field(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], profile: str, rating: str
) -> None:
    doc = json.loads(json.dumps(smith_profile))
    doc["safetySettings"]["maxContentRating"] = rating
    path = write_json(tmp_path / "f.json", doc)
    code, _, err = cli("--profile", profile, "family", "import", path)
    assert code != 0
    one_line_error(err)
    assert "safetySettings.maxContentRating" in err
    assert cli.json("family", "list")["families"] == []


def test_the_cap_cannot_be_raised_from_the_environment(
    cli: CliRun, tmp_path: Path, smith_profile: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAMTUNE_MAX_CONTENT_RATING_CAP", "R")
    doc = json.loads(json.dumps(smith_profile))
    doc["safetySettings"]["maxContentRating"] = "R"
    code, _, err = cli("--profile", "child-safe", "family", "import",
                       write_json(tmp_path / "f.json", doc))  # fmt: skip
    assert code != 0 and "maxContentRating" in err


def test_validator_applies_the_cap_to_a_stored_rating_above_it(
    cli: CliRun, tmp_path: Path, smith: dict[str, Any]
) -> None:
    """A family whose stored rating is R (written before the cap, or by a sqlite edit) still
    never sees more than the cap."""
    with sqlite3.connect(cli.home / "famtune.db") as db:
        db.execute("UPDATE safety_settings SET max_content_rating = 'R'")
    for profile, blocked in (("child-safe", ("R", "PG-13")), ("development", ("R",))):
        for rating in blocked:
            path = write_json(tmp_path / "i.json", {**R_ITEM, "contentRating": rating})
            code, out, _ = cli("--profile", profile, "safety", "check", "--family",
                               "smith-family", "--member", "dad-john", path, "--json")  # fmt: skip
            verdict = json.loads(out)
            assert verdict["allowed"] is False, (profile, rating, verdict)
            assert "rating_above_limit" in {r["code"] for r in verdict["reasons"]}
            assert code in (0, 1)


def test_recommendations_never_exceed_the_cap(
    cli: CliRun, tmp_path: Path, smith: dict[str, Any]
) -> None:
    with sqlite3.connect(cli.home / "famtune.db") as db:
        db.execute("UPDATE safety_settings SET max_content_rating = 'R'")
    ctx = write_json(tmp_path / "ctx.json", {"timeOfDay": "evening", "dayOfWeek": "saturday",
                                             "familyMembers": ["dad-john"]})  # fmt: skip
    answer = cli.json("--profile", "child-safe", "recommend", "--family", "smith-family",
                      "--member", "dad-john", "--context", ctx, "-n", "20")  # fmt: skip
    recs = answer["recommendations"]
    catalog = {a["id"]: a for a in cli.json("catalog", "list")["activities"]}
    assert recs
    assert all(catalog[r["id"]]["contentRating"] in ("G", "PG") for r in recs)


def test_the_engine_function_the_gui_saves_through_enforces_the_cap(
    engine_ctx: Any, smith_profile: dict[str, Any]
) -> None:
    from engine import app as actions
    from engine.base.config import FineTuningConfigFactory

    engine_ctx.use_config(FineTuningConfigFactory.get_config("child-safe"))
    doc = json.loads(json.dumps(smith_profile))
    doc["safetySettings"]["maxContentRating"] = "PG-13"
    with pytest.raises(ValidationFailed) as raised:
        actions.prepare_profile(engine_ctx, doc)
    assert raised.value.field == "safetySettings.maxContentRating"
    from engine.schema.profiles import parse_profile

    with pytest.raises(ValidationFailed):
        actions.save_profile(engine_ctx, parse_profile(doc))
    with engine_ctx.db.read() as session:
        from engine.domain import families
        assert not families.family_exists(session, family_id="smith-family")
