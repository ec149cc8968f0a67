"""A month of use leaves no raw personal data anywhere in the data directory.

The smith family uses famtune for a simulated month: every day a few taps whose notes and
free-text activity are sentences of the labelled PII corpus (bench/pii_corpus.jsonl: names,
phone numbers, e-mail and street addresses, card numbers, dates of birth...), next to a
simulated history; a training dataset is built and a model version is published with its
manifest; the data is exported and backed up. Then every file under the data directory
(the database and its WAL, the model store, logs, backups) is scanned as bytes, and the
decrypted interaction payloads and the training examples as text: no PII span of the input
corpus appears in any of them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.domain.home import Famtune
from tests.conftest import CliRun

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "smith-family"
MIN_SPAN = 4  # shorter spans ("5", "Al") occur inside ordinary words
ITEMS = ("duck-pond-visit", "stacking-cup-towers", "homemade-playdough-shapes")


def _corpus() -> tuple[list[str], set[str]]:
    sentences, spans = [], set()
    for line in (ROOT / "bench" / "pii_corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("family") not in (None, FAMILY):
            continue  # other families' member names are not this family's deny-list
        sentences.append(row["text"])
        for pii in row["pii"]:
            span = row["text"][pii["start"] : pii["end"]]
            if len(span) >= MIN_SPAN:
                spans.add(span)
    return sentences, spans


def _found(text: str, spans: set[str]) -> list[str]:
    """The spans that occur in ``text`` as words, in any case. Member ids such as
    ``child-emma`` are the profile's own identifiers (stored in clear by design), so a name
    joined to other letters by a hyphen is not a hit."""
    return sorted(
        s for s in spans
        if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", text, flags=re.IGNORECASE)
    )  # fmt: skip


def test_a_month_of_use_leaves_no_raw_pii(home: Path, cli: CliRun, tmp_path: Path) -> None:
    from engine.domain.interactions import InteractionLog
    from engine.domain.modelstore import ModelStore
    from engine.gguf import ADAPTER_GGUF
    from engine.personalize.dataset import build_dataset

    sentences, spans = _corpus()
    assert len(sentences) > 100 and len(spans) > 80
    code, _, err = cli("family", "import", str(ROOT / "tests" / "data" / "smith-family.json"))
    assert code == 0, err
    code, _, err = cli("simulate", "--family", FAMILY, "--interactions", "200", "--seed", "4")
    assert code == 0, err
    start = datetime.now(timezone.utc) - timedelta(days=31)
    records: list[dict[str, Any]] = []
    for i, sentence in enumerate(sentences):
        at = start + timedelta(days=i * 30 / len(sentences), hours=8)
        records.append({
            "member": ("dad-john", "child-emma")[i % 2],
            "itemId": ITEMS[i % 3],
            "outcome": ("accepted", "completed", "dismissed")[i % 3],
            "note": sentence,
            "at": at.isoformat(),
            "context": {
                "at": at.isoformat(),
                "familyMembers": ["dad-john", "child-emma"],
                "currentActivity": sentence[:120],
                "environmentalFactors": ["home", sentence[:40]],
            },
        })  # fmt: skip
    ft = Famtune(home, profile="development")
    try:
        learner = InteractionLog(ft)
        assert learner.record_many(FAMILY, records) == len(records)
        history = learner.get_interaction_history(FAMILY)
        leaks = [(row.note, hit) for row in history
                 for hit in _found(f"{row.note} {json.dumps(row.context)}", spans)]  # fmt: skip
        assert not leaks, leaks[:5]
        dataset = build_dataset(ft, FAMILY)
        assert dataset.examples
        taught = "\n".join(p + r for p, r in dataset.pairs())
        assert not _found(taught, spans)
        store = ModelStore(ft)
        staged = store.staging_dir(FAMILY)
        (staged / ADAPTER_GGUF).write_bytes(b"GGUF" + bytes(64))  # the weights hold no text
        manifest = {"datasetHash": dataset.dataset_hash, "examples": len(dataset.examples),
                    "config": ft.config.model_dump(by_alias=True, mode="json")}  # fmt: skip
        store.commit(FAMILY, staged, manifest, activate=False, status="rejected",
                     reason="privacy scan", scores={}, interactions_used=len(history))  # fmt: skip
    finally:
        ft.close()
    code, _, err = cli("data", "export", FAMILY, str(home / "logs" / "export.json"))
    assert code == 0, err
    code, _, err = cli("backup", str(home / "logs" / "backup.tar"))
    assert code == 0, err

    scanned = 0
    base = home / "base"  # the shipped base model and its training copy (a vocabulary)
    for path in sorted(p for p in home.rglob("*") if p.is_file() and base not in p.parents):
        text = path.read_bytes().decode("latin-1")
        assert not _found(text, spans), (path, _found(text, spans))
        scanned += 1
    assert scanned >= 5
