"""The audit hash chain: appends verify, and every kind of tampering is found and named."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.db.tables import AuditEvent
from engine.domain import audit, families
from engine.domain.home import Famtune
from engine.schema.profiles import parse_profile
from tests.conftest import CliRun

N = 40


def _record(ft: Famtune, n: int = N) -> None:
    """``n`` events: some in one transaction, the rest one transaction each."""
    with ft.db.write() as session:
        for i in range(n // 2):
            audit.record_event(
                session,
                event_type=audit.EVENT_TYPES[i % 5],
                family_id=f"fam-{i % 3}",
                details={"i": i, "x": [1.5, "é"]},
            )
    for i in range(n // 2, n):
        with ft.db.write() as session:
            audit.record_event(
                session,
                event_type="model_created",
                family_id=None,
                details={"i": i},
                actor="trainer",
            )


def _verify(ft: Famtune) -> audit.ChainReport:
    with ft.db.read() as session:
        return audit.verify_chain(session)


def _sql(home: Path, *statements: str) -> None:
    conn = sqlite3.connect(home / "famtune.db")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def test_chain_verifies_after_many_events(
    engine_ctx: Famtune, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _verify(engine_ctx).ok  # an empty trail is a valid one
    _record(engine_ctx)
    monkeypatch.setattr(audit, "_BATCH", 7)  # read the chain in several batches
    report = _verify(engine_ctx)
    assert report.ok, report
    assert report.events_checked == N and report.head_id == N
    with engine_ctx.db.read() as session:
        events = audit.list_events(session, limit=1000)
    assert [e.id for e in events] == list(range(N, 0, -1))
    assert events[-1].prev_hash == audit.GENESIS_HASH
    assert all(a.prev_hash == b.hash for a, b in itertools.pairwise(events))


def test_list_filters(engine_ctx: Famtune) -> None:
    _record(engine_ctx)
    with engine_ctx.db.read() as session:
        created = audit.list_events(session, event_type="model_created")
        fam = audit.list_events(session, family_id="fam-1", limit=3)
    assert len(created) == N // 2 and all(e.event_type == "model_created" for e in created)
    assert len(fam) == 3 and all(e.family_id == "fam-1" for e in fam)


def test_unknown_event_type_refused(engine_ctx: Famtune) -> None:
    with (
        pytest.raises(ValueError, match="unknown audit event type"),
        engine_ctx.db.write() as session,
    ):
        audit.record_event(session, event_type="made_up")
    assert _verify(engine_ctx).events_checked == 0


@pytest.mark.parametrize(
    ("statements", "bad_id", "reason"),
    [
        (
            ["UPDATE audit_event SET details = '{\"i\": 999}' WHERE id = 17"],
            17,
            "hash does not match its contents",
        ),
        (
            ["UPDATE audit_event SET family_id = 'someone-else' WHERE id = 3"],
            3,
            "hash does not match its contents",
        ),
        (
            ["UPDATE audit_event SET created_at = '2001-01-01 00:00:00.000000' WHERE id = 30"],
            30,
            "hash does not match its contents",
        ),
        (["DELETE FROM audit_event WHERE id = 17"], 18, "event 17 is missing"),
        (["DELETE FROM audit_event WHERE id IN (1, 2)"], 3, "events 1 to 2 are missing"),
        ([f"DELETE FROM audit_event WHERE id = {N}"], N, f"event {N} is missing"),
        ([f"DELETE FROM audit_event WHERE id >= {N - 2}"], N - 2, "are missing"),
        (["DELETE FROM setting WHERE key = 'audit.head'"], N, "head of the chain is missing"),
    ],
    ids=[
        "edit-details",
        "edit-family",
        "edit-time",
        "delete-middle",
        "delete-first",
        "delete-last",
        "delete-tail",
        "delete-head",
    ],
)
def test_tampering_is_found(
    engine_ctx: Famtune, statements: list[str], bad_id: int, reason: str
) -> None:
    _record(engine_ctx)
    _sql(engine_ctx.data.root, *statements)
    report = _verify(engine_ctx)
    assert not report.ok
    assert report.first_bad_id == bad_id
    assert reason in (report.reason or "")


def test_swapped_rows_are_found(engine_ctx: Famtune) -> None:
    _record(engine_ctx)
    cols = "created_at, event_type, family_id, actor, details, prev_hash, hash"
    conn = sqlite3.connect(engine_ctx.data.root / "famtune.db")
    row5 = conn.execute(f"SELECT {cols} FROM audit_event WHERE id = 5").fetchone()
    row8 = conn.execute(f"SELECT {cols} FROM audit_event WHERE id = 8").fetchone()
    setter = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute(f"UPDATE audit_event SET {setter} WHERE id = 5", row8)
    conn.execute(f"UPDATE audit_event SET {setter} WHERE id = 8", row5)
    conn.commit()
    conn.close()
    report = _verify(engine_ctx)
    assert (report.ok, report.first_bad_id) == (False, 5)


def test_rehashed_edit_breaks_the_next_link(engine_ctx: Famtune) -> None:
    """Recomputing the edited row's own hash is not enough: the next event's link breaks."""
    _record(engine_ctx)
    with engine_ctx.db.write() as session:
        event = session.get(AuditEvent, 10)
        assert event is not None
        event.details = {"i": -1}
        event.hash = audit.compute_hash(event)
        session.add(event)
    report = _verify(engine_ctx)
    assert (report.ok, report.first_bad_id) == (False, 11)
    assert "does not link" in (report.reason or "")


def test_append_after_deleting_the_last_row_still_shows_the_gap(engine_ctx: Famtune) -> None:
    _record(engine_ctx)
    _sql(engine_ctx.data.root, f"DELETE FROM audit_event WHERE id = {N}")
    with engine_ctx.db.write() as session:
        audit.record_event(session, event_type="kiosk_exit")
    report = _verify(engine_ctx)
    assert (report.ok, report.first_bad_id) == (False, N + 1)
    assert report.reason == f"event {N} is missing"


def test_profile_changes_are_audited(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
    changed = json.loads(json.dumps(smith_profile))
    changed["safetySettings"]["maxContentRating"] = "G"
    changed["safetySettings"]["blockedTopics"].append("horror")
    changed["members"][1]["safetyLevel"] = "moderate"
    with engine_ctx.db.write() as session:
        families.save_profile(session, profile=parse_profile(changed))
        families.save_profile(session, profile=parse_profile(changed))
        families.delete_family(session, family_id="smith-family")
    with engine_ctx.db.read() as session:
        events = list(reversed(audit.list_events(session, family_id="smith-family")))
    assert [e.event_type for e in events] == [
        "profile_imported",
        "settings_changed",
        "profile_updated",
        "family_deleted",
    ]
    changes = events[1].details["changes"]
    assert changes["maxContentRating"] == {"from": "PG", "to": "G"}
    assert changes["blockedTopics"] == {"added": ["horror"], "removed": []}
    level = changes["memberSafetyLevels"][0]
    assert (level["from"], level["to"]) == ("strict", "moderate")
    assert level["member"].startswith("m-") and "emma" not in json.dumps(events[1].details)
    assert _verify(engine_ctx).ok


def test_cli_audit_list_and_verify(cli: CliRun, engine_ctx: Famtune) -> None:
    _record(engine_ctx)
    listed = cli.json("audit", "list", "--type", "model_created", "--limit", "5")["events"]
    assert len(listed) == 5 and listed[0]["id"] == N and listed[0]["eventType"] == "model_created"
    assert cli.json("audit", "verify") == {
        "ok": True,
        "eventsChecked": N,
        "firstBadId": None,
        "reason": None,
        "headId": N,
    }
    code, out, err = cli("audit", "verify")
    assert code == 0 and f"ok ({N} events)" in out and err == ""

    _sql(engine_ctx.data.root, "UPDATE audit_event SET actor = 'mallory' WHERE id = 17")
    code, out, err = cli("audit", "verify")
    assert code == 1
    assert err.splitlines() == [
        "famtune-engine: error: audit chain broken at event 17: hash does not match its contents"
    ]
    code, out, err = cli("audit", "verify", "--json")
    assert code == 1 and len(err.splitlines()) == 1
    assert json.loads(out)["firstBadId"] == 17


def test_cli_audit_list_refuses_unknown_type(cli: CliRun) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("audit", "list", "--type", "nonsense")
    assert exc.value.code == 2
