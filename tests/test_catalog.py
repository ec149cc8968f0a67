"""The activity catalog: the built-in file, validation, custom activities and the CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.base.errors import FamtuneError, NotFound, ValidationFailed
from engine.domain.catalog import (
    CATEGORIES,
    Catalog,
    CatalogItem,
    builtin_ids,
    load_builtin_catalog,
    parse_catalog_item,
)
from engine.domain.home import Famtune
from tests.conftest import CliRun


def custom(item_id: str = "backyard-obstacle-course-x", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": item_id,
        "title": "Backyard Obstacle Course",
        "description": "Build a course from cushions, hoops and chairs and time each run.",
        "categories": ["physical", "outdoor"],
        "topics": ["fitness"],
        "contentRating": "G",
        "minAge": 4,
        "setting": "outdoor",
        "durationMinutes": 45,
        "energy": "high",
        "groupSize": {"min": 1, "max": 8},
        "bestTimes": ["morning", "afternoon"],
        "weather": ["dry", "sunny"],
        "cost": "free",
    }
    doc.update(changes)
    return doc


def _custom_rows(home: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(home / "famtune.db")
    try:
        return list(conn.execute("SELECT id, data FROM custom_activity ORDER BY id"))
    finally:
        conn.close()


# -- the built-in catalog -----------------------------------------------------------------------


def test_builtin_catalog_loads_and_is_cached() -> None:
    items = load_builtin_catalog()
    assert len(items) >= 230
    assert len({i.id for i in items}) == len(items)
    assert all(i.source == "builtin" for i in items)
    assert {c for i in items for c in i.categories} <= set(CATEGORIES)
    assert load_builtin_catalog() == items
    assert load_builtin_catalog() is not items  # a copy: callers cannot change the cache
    assert builtin_ids() == {i.id for i in items}


def test_item_round_trips_in_the_file_shape() -> None:
    raw = json.loads((Path(__file__).parents[1] / "resources" / "catalog.json").read_text())
    first = raw["activities"][0]
    item = parse_catalog_item(first)
    assert item.to_json() == first
    assert item.category == first["categories"][0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contentRating": "NC-17"}, "contentRating"),
        ({"minAge": "5"}, "minAge"),  # strict: no numeric strings
        ({"minAge": True}, "minAge"),
        ({"title": "x" * 61}, "title"),
        ({"id": "Has Spaces"}, "id"),
        ({"id": "x"}, "id"),
        ({"categories": []}, "categories"),
        ({"categories": ["knitting"]}, "categories[0]"),
        ({"categories": ["stem", "stem"]}, "categories"),
        ({"bestTimes": ["lunchtime"]}, "bestTimes[0]"),
        ({"weather": []}, "weather"),
        ({"setting": "space"}, "setting"),
        ({"energy": "extreme"}, "energy"),
        ({"cost": "priceless"}, "cost"),
        ({"durationMinutes": 0}, "durationMinutes"),
        ({"groupSize": {"min": 4, "max": 2}}, "groupSize"),
        ({"groupSize": {"min": 1}}, "groupSize.max"),
        ({"maxAge": 3}, "maxAge"),
        ({"source": "elsewhere"}, "source"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_catalog_item(custom(**changes), where="activities[3]")
    assert info.value.field == f"activities[3].{field}"
    assert str(info.value).startswith(f"activities[3].{field}: ")


def test_missing_field_and_topic_normalization() -> None:
    doc = custom()
    del doc["contentRating"]
    with pytest.raises(ValidationFailed, match=r"^contentRating: "):
        parse_catalog_item(doc)
    item = parse_catalog_item(custom(topics=["Board Games", "science"]))
    assert item.topics == ["board_games", "science"]
    assert isinstance(item, CatalogItem)


# -- custom activities ----------------------------------------------------------------------------


def test_custom_add_replace_remove(engine_ctx: Famtune) -> None:
    catalog = Catalog(engine_ctx)
    builtin = len(load_builtin_catalog())
    t0 = catalog.version_token()
    assert catalog.add_custom([custom(), custom("kitchen-pancake-art-x", title="Pancake Art")]) == [
        "backyard-obstacle-course-x",
        "kitchen-pancake-art-x",
    ]
    t1 = catalog.version_token()
    assert t1 != t0
    items = catalog.items()
    assert len(items) == builtin + 2
    added = catalog.get("backyard-obstacle-course-x")
    assert added is not None and added.source == "custom"
    assert catalog.require("kitchen-pancake-art-x").title == "Pancake Art"

    catalog.add_custom([custom(title="Obstacle Course, Again")])  # same id: replaces
    t2 = catalog.version_token()
    assert t2 != t1
    assert catalog.require("backyard-obstacle-course-x").title == "Obstacle Course, Again"
    assert len(catalog.items()) == builtin + 2

    catalog.remove_custom("kitchen-pancake-art-x")
    assert catalog.version_token() not in (t0, t1, t2)
    assert catalog.get("kitchen-pancake-art-x") is None
    with pytest.raises(NotFound):
        catalog.require("kitchen-pancake-art-x")
    with pytest.raises(NotFound):
        catalog.remove_custom("kitchen-pancake-art-x")
    # Another Catalog over the same data directory sees the same items.
    assert [i.id for i in Catalog(engine_ctx).items()] == [i.id for i in catalog.items()]


def test_version_token_is_stable_without_changes(engine_ctx: Famtune) -> None:
    catalog = Catalog(engine_ctx)
    catalog.add_custom([custom()])
    assert catalog.version_token() == catalog.version_token()


def test_builtin_ids_cannot_be_replaced_or_removed(engine_ctx: Famtune) -> None:
    catalog = Catalog(engine_ctx)
    builtin = load_builtin_catalog()[0]
    with pytest.raises(ValidationFailed) as info:
        catalog.add_custom([custom(), custom(builtin.id)])
    assert info.value.field == "activities[1].id"
    assert "built-in" in str(info.value)
    assert catalog.get("backyard-obstacle-course-x") is None  # all or nothing
    assert catalog.require(builtin.id) == builtin
    with pytest.raises(FamtuneError, match="built-in"):
        catalog.remove_custom(builtin.id)


def test_add_is_all_or_nothing(engine_ctx: Famtune) -> None:
    catalog = Catalog(engine_ctx)
    token = catalog.version_token()
    bad = [custom(), custom("second-one-x"), custom("third-one-x", contentRating="X")]
    with pytest.raises(ValidationFailed) as info:
        catalog.add_custom(bad)
    assert info.value.field == "activities[2].contentRating"
    with pytest.raises(ValidationFailed) as info:
        catalog.add_custom([custom(), custom()])
    assert info.value.field == "activities[1].id"
    with pytest.raises(ValidationFailed):
        catalog.add_custom([])
    assert catalog.version_token() == token
    assert _custom_rows(engine_ctx.data.root) == []


def test_source_of_a_custom_item_is_custom(engine_ctx: Famtune) -> None:
    catalog = Catalog(engine_ctx)
    catalog.add_custom([custom(source="builtin")])
    assert catalog.require("backyard-obstacle-course-x").source == "custom"


# -- the CLI -------------------------------------------------------------------------------------


def _write(tmp_path: Path, doc: Any, name: str = "activities.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_cli_list_and_filters(cli: CliRun) -> None:
    everything = cli.json("catalog", "list")["activities"]
    assert len(everything) == len(load_builtin_catalog())
    assert everything[0] == load_builtin_catalog()[0].to_json()
    stem = cli.json("catalog", "list", "--category", "stem")["activities"]
    assert stem and all("stem" in a["categories"] for a in stem)
    assert len(stem) < len(everything)
    rated_g = cli.json("catalog", "list", "--rating", "G")["activities"]
    assert rated_g and all(a["contentRating"] == "G" for a in rated_g)
    up_to_pg = cli.json("catalog", "list", "--rating", "PG")["activities"]
    assert {a["contentRating"] for a in up_to_pg} == {"G", "PG"}
    code, out, err = cli("catalog", "list", "--category", "music")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ID") and "TITLE" in lines[0]
    assert len(lines) == 1 + sum("music" in a["categories"] for a in everything)
    with pytest.raises(SystemExit) as info:
        cli("catalog", "list", "--rating", "NC-17")
    assert info.value.code == 2


@pytest.mark.parametrize("shape", ["object", "list", "document"])
def test_cli_add_accepts_three_shapes(cli: CliRun, tmp_path: Path, shape: str) -> None:
    item = custom()
    doc = {"object": item, "list": [item], "document": {"activities": [item]}}[shape]
    result = cli.json("catalog", "add", _write(tmp_path, doc))
    assert result == {"added": ["backyard-obstacle-course-x"], "count": 1}
    listed = cli.json("catalog", "list", "--category", "physical")["activities"]
    assert {**item, "source": "custom"} in listed


def test_cli_add_refusals_write_nothing(cli: CliRun, tmp_path: Path) -> None:
    bad = {"activities": [custom(), custom("other-one-x", groupSize={"min": 0, "max": 3})]}
    code, out, err = cli("catalog", "add", _write(tmp_path, bad))
    assert code == 1 and out == ""
    assert "activities[1].groupSize.min" in err
    builtin_id = load_builtin_catalog()[5].id
    code, _, err = cli("catalog", "add", _write(tmp_path, [custom(builtin_id)]))
    assert code == 1 and "activities[0].id" in err and "built-in" in err
    code, _, err = cli("catalog", "add", _write(tmp_path, "{not json"))
    assert code == 1 and "not valid JSON" in err
    code, _, err = cli("catalog", "add", _write(tmp_path, {"activities": {"id": "x"}}))
    assert code == 1 and "activities" in err
    code, _, err = cli("catalog", "add", str(tmp_path / "missing.json"))
    assert code == 1 and "does not exist" in err
    assert _custom_rows(cli.home) == []


def test_cli_remove(cli: CliRun, tmp_path: Path) -> None:
    cli.json("catalog", "add", _write(tmp_path, custom()))
    assert cli.json("catalog", "remove", "backyard-obstacle-course-x") == {
        "id": "backyard-obstacle-course-x",
        "removed": True,
    }
    code, _, err = cli("catalog", "remove", "backyard-obstacle-course-x")
    assert code == 1 and "no custom activity" in err
