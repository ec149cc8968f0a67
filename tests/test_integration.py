"""The facade (the seed's API) and the training CLI's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.app.integration import SimpleFineTuningIntegration
from engine.domain import families
from engine.domain.home import Famtune
from engine.domain.interactions import InteractionLog
from engine.schema.profiles import parse_profile
from tests.conftest import CliRun

CTX = {"timeOfDay": "afternoon", "dayOfWeek": "saturday", "familyMembers": ["child-emma"],
       "environmentalFactors": ["home", "weekend"], "at": "2026-11-28T15:00:00"}


def _facade(ft: Famtune, doc: dict[str, Any]) -> SimpleFineTuningIntegration:
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(doc))
    facade = SimpleFineTuningIntegration(None, InteractionLog(ft))
    facade.initialize()
    return facade


def test_recommendations_metrics_and_switch(engine_ctx: Famtune,
                                            smith_profile: dict[str, Any]) -> None:
    facade = _facade(engine_ctx, smith_profile)
    recs = facade.generate_personalized_recommendations("smith-family", CTX, "child-emma")
    assert len(recs) == 5 and all(r.source == "general" for r in recs)
    metrics = facade.get_integration_metrics().to_json()
    assert set(metrics) == {"totalFamilyModels", "activeModels", "averagePerformance",
                            "safetyCompliance", "memoryUsage"}
    assert metrics["totalFamilyModels"] == 0 and metrics["memoryUsage"] > 0
    assert facade.get_family_model_info("smith-family") is None
    assert facade.validate_all_family_models() == {}
    assert facade.is_enabled()
    facade.set_enabled(False)
    assert not facade.is_enabled()
    facade.close()


def test_too_little_data_is_a_plain_refusal(engine_ctx: Famtune,
                                            smith_profile: dict[str, Any]) -> None:
    facade = _facade(engine_ctx, smith_profile)
    assert facade.create_or_update_family_model("smith-family") is False
    outcome = facade.last_training["smith-family"]
    assert outcome.created is False and "interactions so far" in outcome.reason
    facade.close()


def test_train_cli_shape_without_data(cli: CliRun, smith_profile: dict[str, Any]) -> None:
    data = Path(__file__).parent / "data" / "smith-family.json"
    assert cli("family", "import", str(data))[0] == 0
    doc = cli.json("train", "--family", "smith-family", "--quiet")
    assert doc == {"created": False, "version": None, "activated": False,
                   "performanceScore": None, "baselineScore": None, "safetyScore": None,
                   "reason": doc["reason"]}
    assert doc["reason"]
    assert cli.json("models", "list") == {"models": []}
    assert cli.json("metrics")["activeModels"] == 0
    code, _, err = cli("models", "rollback", "smith-family")
    assert code == 1 and "no model versions" in err


def test_the_readme_quick_start_runs_as_written(home: Path, smith_profile: dict[str, Any],
                                                capsys: Any) -> None:  # fmt: skip
    """The facade in the README's quick start is a contract checked from outside: its code,
    with the seed's names (engine.config, engine.core, engine.integration,
    engine.interactions), runs against a data directory holding the smith family."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("from engine.config import RuntimeConfigDetector")
    code = readme[start : readme.index("```", start)]
    assert 'Famtune("/tmp/ft")' in code
    ft = Famtune(home)
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
    ft.close()
    exec(compile(code.replace('Famtune("/tmp/ft")', f"Famtune({str(home)!r})"), "README", "exec"))
    assert "IntegrationMetrics(" in capsys.readouterr().out
