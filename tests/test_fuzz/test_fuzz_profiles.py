"""Fuzzing the profile importer (tests/test_fuzz/__init__.py says what every suite checks).

tests/test_profiles.py already replaces random subtrees of a decoded profile; this adds the
bytes a file can hold and the command line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from engine.base.errors import ValidationFailed
from engine.schema.profiles import parse_profile, parse_profile_text
from tests.conftest import CliRun
from tests.test_fuzz.strategies import (
    SMITH_BYTES,
    assert_cli_refused,
    assert_plain_refusal,
    db_state,
    fuzz,
    mutated_bytes,
)


@fuzz(300)
@given(raw=mutated_bytes(SMITH_BYTES))
def test_profile_text_is_parsed_or_refused_plainly(raw: bytes) -> None:
    try:
        profile = parse_profile_text(raw)
    except ValidationFailed as exc:
        assert_plain_refusal(exc)
    else:
        assert parse_profile(profile.to_json()) == profile


@fuzz(100)
@given(raw=mutated_bytes(SMITH_BYTES))
def test_family_import_cli_refuses_bad_files_and_writes_nothing(
    cli: CliRun, home: Path, tmp_path: Path, raw: bytes
) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(raw)
    before = db_state(home)
    code, out, err = cli("family", "import", str(path))
    if code == 0:
        assert "imported" in out or "updated" in out
        return
    assert_cli_refused(code, out, err)
    assert db_state(home) == before
