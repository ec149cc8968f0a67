"""Measure the privacy filter on a labeled corpus of family sentences.

    .venv/bin/python bench/bench_privacy.py [--json] [--show-misses] [--corpus FILE]

Corpus: one JSON object a line, ``{"text", "family"?, "pii": [{"type","start","end",
"member"?}]}``; ``family`` names a profile in the companion file (``pii_families.json``),
``member: true`` marks the name of a member of that family (or the family name).

Figures:
- recall: share of labeled spans whose every non-space character lies inside a detected
  entity, so the span is fully removed from the scrubbed text;
- member-name recall: the same for spans marked ``member``;
- retention: share of words (``\\w+``) outside labeled spans that no entity touches;
- false positives: detected entities that overlap no labeled span;
- latency: wall time of ``PrivacyFilter.scrub`` per sentence (the analyzer is loaded and
  warmed first; each family's filter is created once, like the engine does).

Exits 1 when a target is missed: recall >= 0.95, member-name recall 1.0, retention >= 0.90,
p50 <= 20 ms.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.privacy import DEFAULT_SPACY_MODEL, Entity, PrivacyFilter, warm_up  # noqa: E402
from engine.schema.profiles import FamilyProfile, parse_profile  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS = {"recall": 0.95, "member_recall": 1.0, "retention": 0.90, "p50_ms": 20.0}
WORD = re.compile(r"\w+")


def load_families(path: Path) -> dict[str, FamilyProfile]:
    document = json.loads(path.read_text())
    profiles = [parse_profile(item) for item in document["families"]]
    return {p.family_id: p for p in profiles}


def load_corpus(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for span in row["pii"]:
            if not 0 <= span["start"] < span["end"] <= len(row["text"]):
                raise SystemExit(f"{path}:{number}: span {span} is outside the text")
        rows.append(row)
    return rows


def covered(text: str, start: int, end: int, entities: list[Entity]) -> bool:
    return all(
        text[i].isspace() or any(e.start <= i < e.end for e in entities) for i in range(start, end)
    )


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run(
    corpus: list[dict[str, Any]], families: dict[str, FamilyProfile], model: str, show_misses: bool
) -> dict[str, Any]:
    started = time.perf_counter()
    warm_up(model)
    load_s = time.perf_counter() - started
    filters: dict[str | None, PrivacyFilter] = {None: PrivacyFilter(spacy_model=model)}
    for family_id, profile in families.items():
        filters[family_id] = PrivacyFilter(profile, spacy_model=model)
    for row in corpus[:5]:  # warm the pipeline and every lazily built piece
        filters[row.get("family")].scrub(row["text"])

    spans_total = spans_removed = member_total = member_removed = 0
    words_total = words_kept = false_positives = 0
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fp_types: Counter[str] = Counter()
    latencies: list[float] = []
    cpu_times: list[float] = []
    misses: list[str] = []
    clean_sentences = clean_unchanged = 0
    for row in corpus:
        text, labels = row["text"], row["pii"]
        pf = filters[row.get("family")]
        t0, c0 = time.perf_counter(), time.thread_time()
        result = pf.scrub(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        cpu_times.append((time.thread_time() - c0) * 1000)
        entities = result.entities
        for span in labels:
            ok = covered(text, span["start"], span["end"], entities)
            spans_total += 1
            spans_removed += ok
            by_type[span["type"]][0] += 1
            by_type[span["type"]][1] += ok
            if span.get("member"):
                member_total += 1
                member_removed += ok
            if not ok:
                misses.append(
                    f"MISS {span['type']:<14} {text[span['start'] : span['end']]!r} "
                    f"in {text!r} -> {result.text!r}"
                )
        for word in WORD.finditer(text):
            if any(overlaps(word.start(), word.end(), s["start"], s["end"]) for s in labels):
                continue
            words_total += 1
            words_kept += not any(
                overlaps(word.start(), word.end(), e.start, e.end) for e in entities
            )
        for e in entities:
            if not any(overlaps(e.start, e.end, s["start"], s["end"]) for s in labels):
                false_positives += 1
                fp_types[e.type] += 1
                misses.append(f"FP   {e.type:<14} {text[e.start : e.end]!r} in {text!r}")
        if not labels:
            clean_sentences += 1
            clean_unchanged += result.text == text
    if show_misses:
        print("\n".join(misses), file=sys.stderr)

    return {
        "model": model,
        "sentences": len(corpus),
        "piiSpans": spans_total,
        "recall": spans_removed / spans_total if spans_total else 1.0,
        "memberNameRecall": member_removed / member_total if member_total else 1.0,
        "memberNames": member_total,
        "retention": words_kept / words_total if words_total else 1.0,
        "wordsOutsidePii": words_total,
        "falsePositives": false_positives,
        "falsePositivesByType": dict(fp_types.most_common()),
        "cleanSentencesUnchanged": f"{clean_unchanged}/{clean_sentences}",
        "recallByType": {
            t: {"spans": n, "removed": k, "recall": k / n} for t, (n, k) in sorted(by_type.items())
        },
        "latencyMs": {
            "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95),
            "max": max(latencies),
            "mean": statistics.fmean(latencies),
        },
        # CPU time of the scrubbing thread: what the latency would be on an idle machine.
        "cpuMs": {"p50": statistics.median(cpu_times), "p95": percentile(cpu_times, 0.95)},
        "loadSeconds": load_s,
    }


def check(report: dict[str, Any]) -> list[str]:
    missed = []
    if report["recall"] < TARGETS["recall"]:
        missed.append(f"recall {report['recall']:.3f} < {TARGETS['recall']}")
    if report["memberNameRecall"] < TARGETS["member_recall"]:
        missed.append(f"member-name recall {report['memberNameRecall']:.3f} < 1.0")
    if report["retention"] < TARGETS["retention"]:
        missed.append(f"retention {report['retention']:.3f} < {TARGETS['retention']}")
    if report["latencyMs"]["p50"] > TARGETS["p50_ms"]:
        missed.append(f"p50 {report['latencyMs']['p50']:.1f} ms > {TARGETS['p50_ms']} ms")
    return missed


def markdown(report: dict[str, Any], missed: list[str]) -> str:
    lat, cpu = report["latencyMs"], report["cpuMs"]
    rows = [
        ("sentences", str(report["sentences"]), ""),
        ("PII recall", f"{report['recall']:.3f} ({report['piiSpans']} spans)", ">= 0.95"),
        (
            "member-name recall",
            f"{report['memberNameRecall']:.3f} ({report['memberNames']} names)",
            "1.0",
        ),
        (
            "non-PII word retention",
            f"{report['retention']:.3f} ({report['wordsOutsidePii']} words)",
            ">= 0.90",
        ),
        ("false positives", str(report["falsePositives"]), ""),
        ("clean sentences unchanged", report["cleanSentencesUnchanged"], ""),
        ("latency p50", f"{lat['p50']:.1f} ms", "<= 20 ms"),
        ("latency p95", f"{lat['p95']:.1f} ms", ""),
        ("CPU time p50 / p95", f"{cpu['p50']:.1f} / {cpu['p95']:.1f} ms", ""),
        ("analyzer load", f"{report['loadSeconds']:.2f} s", ""),
    ]
    lines = ["| metric | value | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "| type | spans | recall |", "| --- | --- | --- |"]
    lines += [
        f"| {t} | {v['spans']} | {v['recall']:.3f} |" for t, v in report["recallByType"].items()
    ]
    lines += ["", "all targets met" if not missed else "MISSED: " + "; ".join(missed)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "pii_corpus.jsonl")
    parser.add_argument("--families", type=Path, default=HERE / "pii_families.json")
    parser.add_argument("--model", default=DEFAULT_SPACY_MODEL, help="spaCy pipeline package")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--show-misses", action="store_true", help="list missed spans and false positives on stderr"
    )
    args = parser.parse_args(argv)
    report = run(
        load_corpus(args.corpus), load_families(args.families), args.model, args.show_misses
    )
    missed = check(report)
    report["targets"] = TARGETS
    report["missed"] = missed
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(markdown(report, missed))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
