"""The family model v2 end to end, in process: not enough data is refused in plain words
(Train now is not forced), a real ``train`` writes a ranker (learner, blend, LoRA scorer)
into the version's manifest and judges it on the hold-out slates, a served answer comes
from it with reasons from the family's history, and Cancel during the checks stops the job
within seconds, leaving the versions as they were."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from engine.training.events import Phase
from tests.conftest import CliRun

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "smith-family"
CONFIG = """\
scorerBatchSize = 8
gateMinHoldoutSlates = 3
inferenceThreads = 2
inferenceDeadlineS = 300.0
"""
CTX = {"at": "2026-11-21T10:00:00+00:00", "familyMembers": ["dad-john", "child-emma"],
       "environmentalFactors": ["home"]}  # fmt: skip


def _facade(home: Path) -> Any:
    from engine.app.integration import SimpleFineTuningIntegration
    from engine.domain.home import Famtune
    from engine.domain.interactions import InteractionLog

    learning = InteractionLog(Famtune(home, "development"))
    return SimpleFineTuningIntegration(None, learning)


def test_train_writes_a_ranker_serves_it_and_cancels_during_the_checks(
    training_cache: Path, home: Path, cli: CliRun
) -> None:
    assert training_cache.is_dir()
    (home / "famtune.toml").write_text(CONFIG)
    doc = json.loads((ROOT / "tests" / "data" / "smith-family.json").read_text())
    doc["safetySettings"].update(timeRestrictions=[], blockedTopics=[])
    profile = home / "smith.json"
    profile.write_text(json.dumps(doc))
    assert cli("family", "import", str(profile))[0] == 0
    assert cli("simulate", "--family", FAMILY, "--interactions", "4", "--seed", "2")[0] == 0

    facade = _facade(home)
    try:
        # Below minInteractionsForTraining (10 in development) Train now says so plainly.
        events = list(facade.train_family_model(FAMILY))
        assert events[-1].created is False
        assert events[-1].reason == "4 interactions so far; the first family model needs 10."

        assert cli("simulate", "--family", FAMILY, "--interactions", "160", "--seed", "3")[0] == 0
        outcome = list(facade.train_family_model(FAMILY))[-1]
        assert outcome.created and outcome.version == 1, outcome
        assert outcome.performance_score is not None and outcome.baseline_score is not None
        info = facade.store.versions(FAMILY)[0]
        manifest = json.loads((Path(info.path) / "manifest.json").read_text())
        ranker = manifest["ranker"]
        assert ranker["kind"] == "pointwise-blend-v2" and ranker["learner"]["rows"] > 0
        assert set(ranker["blend"]["weights"]) <= {"general", "learner", "trees", "lora"}
        assert all(w >= 0 for w in ranker["blend"]["weights"].values())
        assert manifest["metrics"]["holdoutCases"] >= 3
        assert "emma" not in json.dumps(ranker).lower()  # members are salted hashes
        if outcome.activated:
            recs = facade.generate_personalized_recommendations(FAMILY, CTX, "child-emma")
            assert recs and {r.source for r in recs} == {"family-model"}
            assert {r.model_version for r in recs} == {1}

        # Cancel while the new version is being checked: stopped within seconds.
        assert cli("simulate", "--family", FAMILY, "--interactions", "30", "--seed", "4")[0] == 0
        cancel = threading.Event()
        cancelled_at = None
        last: Any = None
        for event in facade.train_family_model(FAMILY, cancel=cancel, force=True):
            last = event
            if isinstance(event, Phase) and event.name == "evaluating" and cancelled_at is None:
                cancel.set()
                cancelled_at = time.monotonic()
        assert cancelled_at is not None and time.monotonic() - cancelled_at < 30
        assert last.created is False and "cancelled" in last.reason and "checked" in last.reason
        assert [v.version for v in facade.store.versions(FAMILY)] == [1]
    finally:
        facade.close()
        facade.ft.close()
