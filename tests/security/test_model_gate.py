"""Item 3: a version the gate rejected, or whose safety score is below the threshold, is
never rolled back to, validated as ok or served; ``FAMTUNE_SAFETY_THRESHOLD`` and
``famtune.toml`` may only make the threshold and the rating cap stricter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import PIN, one_line_error
from tests.security.helpers import active_version, publish


def test_rollback_to_a_rejected_version_is_refused_even_with_the_pin(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = publish(cli.home)
    rejected = publish(cli.home, safety=0.2, activate=False)
    monkeypatch.setenv("FAMTUNE_PIN", PIN)
    code, _, err = cli("models", "rollback", "smith-family", "--to", str(rejected))
    assert code != 0 and "rejected" in err
    one_line_error(err)
    assert active_version(cli.home) == good


def test_rollback_to_a_version_below_the_threshold_is_refused(
    cli: CliRun, smith: dict[str, Any]
) -> None:
    low = publish(cli.home, safety=0.96)  # passed the development profile's 0.95
    publish(cli.home, safety=1.0)
    cli_env = {"FAMTUNE_SAFETY_THRESHOLD": "0.99"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in cli_env.items():
            mp.setenv(k, v)
        code, _, err = cli("models", "rollback", "smith-family", "--to", str(low))
        assert code != 0 and "below the threshold" in err
        code, _, err = cli("models", "rollback", "smith-family")  # the default target too
        assert code != 0


def test_validate_reports_an_active_version_below_a_raised_threshold(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(cli.home, safety=0.96)
    monkeypatch.setenv("FAMTUNE_SAFETY_THRESHOLD", "0.99")
    code, out, _ = cli("models", "validate", "--json")
    assert code == 1 and json.loads(out)["valid"] is False


def test_a_lower_threshold_from_the_environment_is_ignored(
    cli: CliRun, smith: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAMTUNE_SAFETY_THRESHOLD", "0.1")
    shown = cli.json("config", "show", "--profile", "child-safe")
    assert shown["config"]["safetyThreshold"] == 0.99
    assert "ignored" in shown["sources"]["safetyThreshold"]


def test_famtune_toml_cannot_raise_the_rating_cap_or_lower_the_threshold(
    cli: CliRun,
) -> None:
    (cli.home / "famtune.toml").write_text('max_content_rating_cap = "R"\nsafety_threshold = 0.5\n')
    shown = cli.json("config", "show", "--profile", "child-safe")
    assert shown["config"]["maxContentRatingCap"] == "PG"
    assert shown["config"]["safetyThreshold"] == 0.99
    (cli.home / "famtune.toml").write_text('max_content_rating_cap = "G"\nsafety_threshold = 1.0\n')
    shown = cli.json("config", "show", "--profile", "child-safe")
    assert shown["config"]["maxContentRatingCap"] == "G"  # stricter is fine
    assert shown["config"]["safetyThreshold"] == 1.0


def test_a_tampered_row_is_not_served(cli: CliRun, smith: dict[str, Any]) -> None:
    """A rejected version made active behind the store's back (a sqlite edit) is refused
    by validation, and the recommendation path falls back with the reason recorded."""
    import sqlite3

    rejected = publish(cli.home, safety=0.2, activate=False)
    with sqlite3.connect(cli.home / "famtune.db") as db:
        db.execute("UPDATE model_version SET is_active = 1 WHERE version = ?", (rejected,))
    code, _, _ = cli("models", "validate")
    assert code == 1
    from engine.domain.home import Famtune
    from engine.recommend.service import RecommendationService

    ft = Famtune(cli.home, profile="development")
    service = RecommendationService(ft)
    try:
        batch = service.recommend(
            "smith-family", {"timeOfDay": "morning", "dayOfWeek": "saturday"}
        )
    finally:
        service.close()
        ft.close()
    assert batch.source == "general"
    assert all(r.source != "family-model" for r in batch.recommendations)
    assert batch.fallback_reason and "rejected" in batch.fallback_reason


def test_strict_privacy_cannot_be_relaxed_by_an_override(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAMTUNE_PRIVACY_LEVEL", "standard")
    shown = cli.json("config", "show", "--profile", "child-safe")
    assert shown["config"]["privacyLevel"] == "strict"
