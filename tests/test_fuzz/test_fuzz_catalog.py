"""Fuzzing the catalog importer: any activity is parsed or refused naming its field, and
``catalog add`` is all or nothing for any file; JSON bombs are refused by every importer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.base.errors import ValidationFailed
from engine.domain.catalog import activities_of, parse_catalog_item
from engine.schema.profiles import load_json_text
from tests.conftest import CliRun
from tests.test_catalog import custom
from tests.test_fuzz.strategies import (
    assert_cli_refused,
    assert_plain_refusal,
    db_state,
    fuzz,
    mutated_bytes,
    replace_somewhere,
)


@fuzz(300)
@given(data=st.data())
def test_any_activity_is_parsed_or_refused_with_its_field(data: st.DataObject) -> None:
    doc = replace_somewhere({"activities": [custom(), custom("quiet-reading-corner-x")]}, data)
    try:
        items = [
            parse_catalog_item(item, where=f"activities[{i}]")
            for i, item in enumerate(activities_of(doc))
        ]
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
        assert exc.field.startswith("activities") or not exc.field, exc
    else:
        for item in items:
            assert parse_catalog_item(item.to_json()) == item


@fuzz(80)
@given(data=st.data())
def test_catalog_add_cli_is_all_or_nothing_for_any_file(
    cli: CliRun, home: Path, tmp_path: Path, data: st.DataObject
) -> None:
    good = json.dumps([custom(), custom("quiet-reading-corner-x")]).encode()
    raw = (
        data.draw(mutated_bytes(good))
        if data.draw(st.booleans())
        else json.dumps(replace_somewhere(json.loads(good), data)).encode()
    )
    path = tmp_path / "activities.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("catalog", "add", str(path))
    if code == 0:
        assert out.startswith("added ")
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before


def test_json_bombs_are_refused_by_every_importer() -> None:
    """Deep nesting (RecursionError in json) and 4300+ digit numbers (ValueError in int())
    used to escape as raw exceptions: the CLI printed 'internal error'."""
    for raw in (b"[" * 100_000, b'{"familyId": ' + b"7" * 5000 + b"}"):
        for what in ("family profile", "context", "activity file"):
            with pytest.raises(ValidationFailed, match=f"{what} is not valid JSON"):
                load_json_text(raw, what)
