"""Fuzzing the context parser: any context is served or refused naming its field, and
``recommend --context`` refuses a broken file and writes nothing. A context ``at`` of year 1
at +14:00 (or 9999 at -14:00) used to parse and then overflow when served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.base.errors import FamtuneError, ValidationFailed
from engine.domain.home import Famtune
from engine.schema.context import parse_context
from engine.schema.profiles import parse_profile_text
from tests.conftest import DATA, CliRun
from tests.test_fuzz.strategies import (
    SMITH_BYTES,
    assert_cli_refused,
    assert_plain_refusal,
    db_state,
    fuzz,
    mutated_bytes,
    replace_somewhere,
)

CONTEXT = {
    "timeOfDay": "morning",
    "dayOfWeek": "saturday",
    "currentActivity": "breakfast",
    "familyMembers": ["dad-john", "child-emma"],
    "environmentalFactors": ["home", "weekend", "Sick Day"],
    "at": "2026-11-28T09:00:00+01:00",
}


@pytest.fixture
def smith(engine_ctx: Famtune) -> Iterator[Any]:
    """The smith family in a fresh data directory, and a recommendation service over it."""
    from engine.domain import families
    from engine.recommend.service import RecommendationService

    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile_text(SMITH_BYTES))
    service = RecommendationService(engine_ctx)
    # The first request loads spaCy's lemmatizer for the safety lexicon (seconds); warm it
    # here so hypothesis's per-example deadline measures serving, not that one-off load.
    service.recommend("smith-family", CONTEXT, None)
    yield service
    service.close()


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.one_of(
    st.datetimes(timezones=st.none() | offsets).map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-02-30",
                     "2026-11-28T24:00:00", "2026-11-28T09:00:00Z", "now", ""]),
)  # fmt: skip


@fuzz(200)
@given(data=st.data())
def test_any_context_is_served_or_refused_with_its_field(smith: Any, data: st.DataObject) -> None:
    """A context that parses can be served (general engine: no model is active); one that
    does not is refused naming ``context.<field>``."""
    doc = replace_somewhere(CONTEXT, data) if data.draw(st.booleans()) else dict(CONTEXT)
    if isinstance(doc, dict) and data.draw(st.booleans()):
        doc["at"] = data.draw(moments)
        if data.draw(st.booleans()):
            doc.pop("timeOfDay", None)
            doc.pop("dayOfWeek", None)
    try:
        ctx = parse_context(doc, path="context")
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
        assert exc.field.startswith("context") or not isinstance(doc, dict), exc
        return
    try:
        batch = smith.recommend("smith-family", ctx, n=3)
    except FamtuneError as exc:  # e.g. a member who is not in the family
        assert_plain_refusal(exc)
    else:
        assert batch.source == "general" and len(batch.recommendations) <= 3


@fuzz(80)
@given(raw=mutated_bytes(json.dumps(CONTEXT).encode()))
def test_recommend_cli_refuses_a_bad_context_file_and_writes_nothing(
    cli: CliRun, home: Path, tmp_path: Path, raw: bytes
) -> None:
    if not (home / ".smith-imported").exists():
        code, _, err = cli("family", "import", str(DATA / "smith-family.json"))
        assert code == 0, err
        (home / ".smith-imported").touch()
    path = tmp_path / "context.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("recommend", "--family", "smith-family", "--context", str(path), "--json")
    if code == 0:
        assert json.loads(out)["recommendations"]
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before
