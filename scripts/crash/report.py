"""What the drill reports: one record per started command, its progress line, and the
summary by kind (as JSON or a table)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from scripts.crash.expect import Acked, InFlight


@dataclass
class Record:
    n: int
    kind: str
    mode: str
    killed: bool
    at_ms: int
    window_ms: tuple[int, int]
    rc: int | None
    applied: str
    note: str
    failures: list[str]
    check_s: float

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "kind": self.kind, "mode": self.mode or None, "killed": self.killed,
                "atMs": self.at_ms, "windowMs": list(self.window_ms), "rc": self.rc,
                "change": self.applied, "note": self.note, "failures": self.failures,
                "checkSeconds": round(self.check_s, 1)}  # fmt: skip


def describe_change(state: dict[str, Any], acked: Acked, flight: InFlight) -> str:
    if "observerError" in state or state.get("active") is None:
        return "?"
    if flight.kind in ("profile", "safety"):
        return "present" if state["profile"] == flight.profile else "absent"
    if flight.kind in ("interactions", "interaction"):
        grew = state["interactions"] - acked.interactions
        return "present" if grew == flight.interactions and grew else "absent"
    if flight.kind == "rollback":
        return "present" if state["active"] == [flight.target] else "absent"
    new = [v for v in state["rows"] if v > max(acked.versions)]
    return f"published v{new[0]}" if new else "no new version"


def progress_line(r: Record, kills: int) -> str:
    label = f"{r.kind}/{r.mode}" if r.mode else r.kind
    verdict = "checks ok" if not r.failures else "FAILED: " + "; ".join(r.failures)
    if not r.killed:
        return (f"   miss      {label:<18} finished in {r.at_ms:>6} ms before its kill "
                f"(rc {r.rc}); {verdict}")  # fmt: skip
    return (f"kill {r.n:>3}/{kills} {label:<18} after {r.at_ms:>6} ms (window "
            f"{r.window_ms[0]}-{r.window_ms[1]}) change {r.applied:<15} {verdict}"
            f"{' [' + r.note + ']' if r.note else ''}")  # fmt: skip


def summarize(records: list[Record], misses: Counter[str], total_s: float,
              setup_s: float) -> dict[str, Any]:  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        key = f"{r.kind}/{r.mode}" if r.mode else r.kind
        row = rows.setdefault(key, {"kills": 0, "changeVisible": 0, "changeAbsent": 0,
                                    "missed": 0, "failures": 0, "killMs": []})  # fmt: skip
        if r.killed:
            row["kills"] += 1
            row["killMs"].append(r.at_ms)
            visible = r.applied == "present" or r.applied.startswith("published")
            row["changeVisible" if visible else "changeAbsent"] += 1
        else:
            row["missed"] += 1
        row["failures"] += bool(r.failures)
    for row in rows.values():
        ms = sorted(row.pop("killMs"))
        row["killMsRange"] = [ms[0], ms[-1]] if ms else None
    kills = sum(r["kills"] for r in rows.values())
    return {"kills": kills, "failures": sum(r["failures"] for r in rows.values()),
            "missed": sum(misses.values()), "seconds": round(total_s, 1),
            "stagingRemovedByRecovery": sum("recovery removed" in r.note for r in records),
            "setupSeconds": round(setup_s, 1),
            "checkSecondsMean": round(sum(r.check_s for r in records) / max(1, len(records)), 1),
            "byKind": dict(sorted(rows.items()))}  # fmt: skip


def table(summary: dict[str, Any]) -> str:
    head = f"{'kind':<20} {'kills':>5} {'visible':>7} {'absent':>6} {'missed':>6} " \
           f"{'failures':>8}  kill moments (ms)"  # fmt: skip
    lines = ["", head, "-" * len(head)]
    for kind, row in summary["byKind"].items():
        span = row["killMsRange"]
        lines.append(f"{kind:<20} {row['kills']:>5} {row['changeVisible']:>7} "
                     f"{row['changeAbsent']:>6} {row['missed']:>6} {row['failures']:>8}  "
                     f"{f'{span[0]}-{span[1]}' if span else '-'}")  # fmt: skip
    lines.append("-" * len(head))
    lines.append(f"{'total':<20} {summary['kills']:>5} {'':>7} {'':>6} {summary['missed']:>6} "
                 f"{summary['failures']:>8}")  # fmt: skip
    lines.append(f"crash recovery removed a leftover staging directory "
                 f"{summary['stagingRemovedByRecovery']} times")
    lines.append(f"{summary['seconds']:.0f} s in all (set-up {summary['setupSeconds']:.0f} s, "
                 f"{summary['checkSecondsMean']:.1f} s of checks after each command)")
    return "\n".join(lines)
