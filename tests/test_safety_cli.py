"""``famtune-engine safety check``: the verdict on stdout, errors as one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.base.paths import resource_path
from engine.safety import Lexicon

DATA = Path(__file__).parent / "data"
TEST_LEXICON = Lexicon.from_json(
    {"version": 1, "topics": {"scary_content": ["zombie", "ghost"], "violence": ["fight"]}}
)


@pytest.fixture
def smith(cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI with the seed's smith-family imported (and a lexicon, even before the
    bundled one exists)."""
    if not resource_path("safety_lexicon.json").is_file():
        monkeypatch.setattr("engine.safety.validator.default_lexicon", lambda: TEST_LEXICON)
    code, _out, err = cli("family", "import", str(DATA / "smith-family.json"))
    assert code == 0, err
    return cli


def write_item(tmp_path: Path, **overrides: Any) -> str:
    doc: dict[str, Any] = {
        "id": "duck-pond",
        "title": "Feed the ducks",
        "description": "Bring oats, not bread, and count the ducklings.",
        "categories": ["outdoor"],
        "topics": ["animals", "nature"],
        "contentRating": "G",
        "minAge": 3,
        "setting": "outdoor",
        "durationMinutes": 45,
    }
    doc.update(overrides)
    path = tmp_path / f"item-{len(list(tmp_path.glob('item-*.json')))}.json"
    path.write_text(json.dumps(doc))
    return str(path)


SATURDAY_NOON = "2024-06-01T12:00:00"


def test_allowed_item(smith: Any, tmp_path: Path) -> None:
    verdict = smith.json(
        "safety", "check", "--family", "smith-family", "--at", SATURDAY_NOON, write_item(tmp_path)
    )
    assert verdict == {"allowed": True, "reasons": [], "safetyScore": 1.0}
    assert safety_blocks(smith.home) == []


def test_allowed_for_the_parent_alone_with_a_soft_concern(smith: Any, tmp_path: Path) -> None:
    path = write_item(tmp_path, contentRating="PG")
    verdict = smith.json(
        "safety",
        "check",
        "--family",
        "smith-family",
        "--member",
        "dad-john",
        "--at",
        SATURDAY_NOON,
        path,
    )
    assert verdict["allowed"] is True
    assert [r["code"] for r in verdict["reasons"]] == ["at_rating_limit"]
    assert 0 < verdict["safetyScore"] < 1


def test_human_line(smith: Any, tmp_path: Path) -> None:
    code, out, err = smith(
        "safety", "check", "--family", "smith-family", "--at", SATURDAY_NOON, write_item(tmp_path)
    )
    assert (code, err) == (0, "")
    assert out.strip() == "duck-pond: allowed (safety score 1.00)"


def test_blocked_item_with_every_reason(smith: Any, tmp_path: Path) -> None:
    path = write_item(
        tmp_path,
        title="Zombie movie marathon",
        categories=["Entertainment"],
        contentRating="PG-13",
        minAge=10,
    )
    code, out, err = smith(
        "safety",
        "check",
        "--family",
        "smith-family",
        "--member",
        "child-emma",
        "--at",
        "2024-06-01T22:30",
        path,
        "--json",
    )
    assert code == 0, err
    verdict = json.loads(out)
    assert verdict["allowed"] is False
    assert verdict["safetyScore"] == 0.0
    assert verdict["reasons"] == [
        {"code": "rating_above_limit", "message": "Rated PG-13, above Emma's limit of G."},
        {"code": "below_min_age", "message": "For ages 10 and up; Emma is 8."},
        {
            "code": "avoided_topic_term",
            "message": "The title mentions 'zombie' (scary content), which this family avoids.",
        },
        {"code": "time_restricted", "message": "Entertainment is paused from 21:00 to 07:00."},
    ]
    events = safety_blocks(smith.home)
    assert [(e.family_id, e.details) for e in events] == [
        ("smith-family", {"itemId": "duck-pond", "codes": [r["code"] for r in verdict["reasons"]]})
    ]


def safety_blocks(home: Path) -> list[Any]:
    from engine.domain import audit
    from engine.domain.home import Famtune

    ft = Famtune(home, profile="development")
    try:
        with ft.db.read() as session:
            return audit.list_events(session, event_type="safety_block")
    finally:
        ft.close()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--member", "child-ghost"), "child-ghost"),
        (("--family", "jones-family"), "jones-family"),
        (("--at", "next tuesday"), "--at"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(
    smith: Any, tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    argv = ["safety", "check", *args]
    if "--family" not in args:
        argv += ["--family", "smith-family"]
    if "--at" not in args:
        argv += ["--at", SATURDAY_NOON]
    code, out, err = smith(*argv, write_item(tmp_path))
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert needle in err


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"contentRating": "NC-17"}, "contentRating"),
        ({"title": "x" * 201}, "title"),
        ({"minAge": 200}, "minAge"),
        ({"topics": ["a"] * 21}, "topics"),
    ],
)
def test_bad_item_field_is_named(
    smith: Any, tmp_path: Path, overrides: dict[str, Any], field: str
) -> None:
    code, out, err = smith(
        "safety",
        "check",
        "--family",
        "smith-family",
        "--at",
        SATURDAY_NOON,
        write_item(tmp_path, **overrides),
    )
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"error: {field}:" in err


def test_item_that_is_not_json(smith: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "x",')
    code, _out, err = smith("safety", "check", "--family", "smith-family", str(path))
    assert code == 1
    assert "not valid JSON" in err


def test_aware_time_is_accepted(smith: Any, tmp_path: Path) -> None:
    verdict = smith.json(
        "safety",
        "check",
        "--family",
        "smith-family",
        "--at",
        "2024-06-01T12:00:00Z",
        write_item(tmp_path, minAge=0),
    )
    assert verdict["allowed"] is True
