"""Data rights: export everything about a family, erase a family or a member without leaving
a trace or breaking the audit chain, the PIN guard, and backup / restore."""

from __future__ import annotations

import io
import json
import sqlite3
import tarfile
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from engine.base.errors import FamtuneError, NotFound
from engine.db.tables import (
    EventLog,
    Interaction,
    MetricSample,
    ModelVersion,
    Setting,
    TrainingRun,
)
from engine.domain import audit, datarights, families, pin
from engine.domain.home import Famtune
from engine.schema.profiles import parse_profile
from tests.conftest import CliRun

FAMILY = "smith-family"
OTHER = "jones-family"


def _jones(smith_profile: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(smith_profile))
    doc["familyId"] = OTHER
    doc["members"][0]["userId"] = "mum-ann"
    doc["members"][1]["userId"] = "kid-tom"
    return doc


def _populate(ft: Famtune, smith_profile: dict[str, Any]) -> None:
    """Two families with interactions, a model, a training run, metrics and logs."""
    with ft.db.write() as session:
        families.save_profile(session, profile=parse_profile(smith_profile))
        families.save_profile(session, profile=parse_profile(_jones(smith_profile)))
        for fid, members in ((FAMILY, ("dad-john", "child-emma")), (OTHER, ("mum-ann",))):
            for n, member in enumerate(members * 3):
                session.add(
                    Interaction(
                        family_id=fid,
                        member_id=member,
                        item_id=f"act-{n}",
                        outcome="accepted",
                        payload=ft.cipher.encrypt_json(
                            {
                                "note": f"fun {n}",
                                "context": {"familyMembers": list(members), "timeOfDay": "evening"},
                            }
                        ),
                    )
                )
            session.add(
                ModelVersion(
                    family_id=fid,
                    version=1,
                    path=str(ft.data.family_models(fid) / "v1"),
                    base_sha256="a" * 64,
                    dataset_hash="b" * 64,
                )
            )
            session.add(TrainingRun(family_id=fid, status="done", version=1, metrics={"loss": 0.5}))
            session.add(MetricSample(name="performance", value=0.8, family_id=fid))
            audit.record_event(
                session,
                event_type="model_created",
                family_id=fid,
                details={"version": 1, "path": f"models/{fid}/v1"},
            )
            audit.record_event(
                session,
                event_type="safety_block",
                family_id=fid,
                details={"member": audit.member_ref(session, family_id=fid, member_id=members[0])},
            )
        session.add(
            EventLog(
                level="error", component="trainer", message=f"training {FAMILY} ran out of memory"
            )
        )
        session.add(Setting(key=f"personalization:{FAMILY}", value="on"))
    for fid in (FAMILY, OTHER):
        adapter = ft.data.family_models(fid) / "v1" / "adapter.safetensors"
        adapter.parent.mkdir(parents=True)
        adapter.write_bytes(b"weights")
    checkpoint = ft.data.root / "checkpoints" / FAMILY / "step-10"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.bin").write_bytes(b"x")


def _rows_mentioning(db: Path, needle: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Every row of every table that holds ``needle`` in any column."""
    conn = sqlite3.connect(db)
    try:
        found = []
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if needle in text:
                        found.append((table, row))
                        break
        return found
    finally:
        conn.close()


def _verify(ft: Famtune) -> audit.ChainReport:
    with ft.db.read() as session:
        return audit.verify_chain(session)


def test_export_has_everything(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _populate(engine_ctx, smith_profile)
    doc = datarights.export_family_data(engine_ctx, FAMILY)
    assert doc["familyId"] == FAMILY and doc["exportedAt"].endswith("+00:00")
    assert doc["profile"] == smith_profile
    assert len(doc["interactions"]) == 6
    first = doc["interactions"][0]
    assert {"memberId", "itemId", "outcome", "createdAt", "payload"} <= set(first)
    assert first["payload"]["note"] == "fun 0"
    assert doc["modelVersions"][0]["version"] == 1 and "baseSha256" in doc["modelVersions"][0]
    assert doc["trainingRuns"][0]["metrics"] == {"loss": 0.5}
    assert doc["metricSamples"][0]["name"] == "performance"
    assert doc["modelFiles"] == [
        {"path": f"models/{FAMILY}/v1/adapter.safetensors", "sizeBytes": 7}
    ]
    types = [e["eventType"] for e in doc["auditEvents"]]
    assert types == ["profile_imported", "model_created", "safety_block"]
    assert all(e["familyId"] == FAMILY for e in doc["auditEvents"])
    json.dumps(doc)  # machine-readable as it stands
    with engine_ctx.db.read() as session:
        exported = audit.list_events(session, event_type="data_exported")
    assert len(exported) == 1 and exported[0].family_id == FAMILY
    with pytest.raises(NotFound):
        datarights.export_family_data(engine_ctx, "nobody")


def test_cli_export(
    cli: CliRun, engine_ctx: Famtune, smith_profile: dict[str, Any], tmp_path: Path
) -> None:
    _populate(engine_ctx, smith_profile)
    out = tmp_path / "export.json"
    result = cli.json("data", "export", FAMILY, str(out))
    assert result["path"] == str(out) and result["interactions"] == 6
    assert json.loads(out.read_text())["profile"] == smith_profile


def test_erase_family_leaves_nothing(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _populate(engine_ctx, smith_profile)
    assert _rows_mentioning(engine_ctx.data.database, FAMILY)
    summary = datarights.erase_family_data(engine_ctx, FAMILY)
    assert summary["interactions"] == 6 and summary["modelVersions"] == 1
    assert summary["trainingRuns"] == 1 and summary["metricSamples"] == 1
    assert summary["members"] == 2 and summary["otherRows"] == 0
    assert summary["files"] == 2
    engine_ctx.close()  # let SQLite fold the WAL into the file before scanning it
    assert _rows_mentioning(engine_ctx.data.database, FAMILY) == []
    assert _rows_mentioning(engine_ctx.data.database, "child-emma") == []
    assert not engine_ctx.data.family_models(FAMILY).exists()
    assert not (engine_ctx.data.root / "checkpoints" / FAMILY).exists()

    ft = Famtune(engine_ctx.data.root, profile="development")
    assert _verify(ft).ok
    with ft.db.read() as session:
        erased = audit.list_events(session, event_type="data_erased")[0]
        assert families.list_families(session)[0].id == OTHER
        assert len(session.exec(select(Interaction)).all()) == 3
        log = session.exec(select(EventLog)).one()
    assert erased.family_id is not None and erased.family_id.startswith("erased-")
    assert erased.details["auditResealed"]["chainWasIntact"] is True
    assert erased.details["auditEventsPseudonymized"] == 3
    assert log.message == f"training {erased.family_id} ran out of memory"
    assert ft.data.family_models(OTHER).joinpath("v1", "adapter.safetensors").exists()
    ft.close()


def test_erase_does_not_launder_earlier_tampering(
    engine_ctx: Famtune, smith_profile: dict[str, Any]
) -> None:
    _populate(engine_ctx, smith_profile)
    conn = sqlite3.connect(engine_ctx.data.database)
    conn.execute("UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    conn.commit()
    conn.close()
    summary = datarights.erase_family_data(engine_ctx, FAMILY)
    assert summary["auditEventsPseudonymized"] == 3
    report = _verify(engine_ctx)
    assert not report.ok and report.first_bad_id == 1  # the erase did not re-seal


def test_erase_member(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _populate(engine_ctx, smith_profile)
    summary = datarights.erase_family_data(engine_ctx, FAMILY, "dad-john")
    assert summary["interactions"] == 3 and summary["interactionsRedacted"] == 3
    assert summary["modelVersions"] == 1 and summary["files"] == 2
    assert summary["auditEventsPseudonymized"] == 1
    with engine_ctx.db.read() as session:
        profile = families.get_profile(session, family_id=FAMILY)
        left = session.exec(select(Interaction).where(Interaction.family_id == FAMILY)).all()
        assert audit.verify_chain(session).ok
    assert [m.user_id for m in profile.members] == ["child-emma"]
    assert {row.member_id for row in left} == {"child-emma"} and len(left) == 3
    for row in left:
        assert "dad-john" not in json.dumps(engine_ctx.cipher.decrypt_json(row.payload))
    engine_ctx.close()
    assert _rows_mentioning(engine_ctx.data.database, "dad-john") == []
    assert _rows_mentioning(engine_ctx.data.database, FAMILY)  # the family itself stays


def test_erase_last_member_refused(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _populate(engine_ctx, smith_profile)
    datarights.erase_family_data(engine_ctx, FAMILY, "dad-john")
    with pytest.raises(FamtuneError, match=r"only member.*erase the whole family"):
        datarights.erase_family_data(engine_ctx, FAMILY, "child-emma")
    with pytest.raises(NotFound, match="no member"):
        datarights.erase_family_data(engine_ctx, FAMILY, "dad-john")
    with pytest.raises(NotFound):
        datarights.erase_family_data(engine_ctx, "nobody")


def test_erase_needs_the_pin(engine_ctx: Famtune, smith_profile: dict[str, Any]) -> None:
    _populate(engine_ctx, smith_profile)
    with engine_ctx.db.write() as session:
        pin.set_pin(session, "4321")
    with pytest.raises(pin.PinRequired):
        datarights.erase_family_data(engine_ctx, FAMILY)
    with pytest.raises(pin.PinRejected):
        datarights.erase_family_data(engine_ctx, FAMILY, pin="1111")
    with engine_ctx.db.read() as session:
        assert families.family_exists(session, family_id=FAMILY)
        assert len(audit.list_events(session, event_type="pin_failed")) == 1
    datarights.erase_family_data(engine_ctx, FAMILY, pin="4321")
    with engine_ctx.db.read() as session:
        assert not families.family_exists(session, family_id=FAMILY)


def test_cli_erase_reads_the_pin(
    cli: CliRun, engine_ctx: Famtune, smith_profile: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(engine_ctx, smith_profile)
    with engine_ctx.db.write() as session:
        pin.set_pin(session, "4321")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = cli("data", "erase", FAMILY, "--member", "child-emma")
    assert code == 1 and "PIN is needed" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n"))
    result = cli.json("data", "erase", FAMILY, "--member", "child-emma")
    assert result["scope"] == "member" and result["interactions"] == 3
    monkeypatch.setenv("FAMTUNE_PIN", "4321")
    result = cli.json("data", "erase", FAMILY)
    assert result["scope"] == "family"
    assert cli.json("audit", "verify")["ok"] is True


def test_backup_and_restore(
    cli: CliRun, engine_ctx: Famtune, smith_profile: dict[str, Any], tmp_path: Path
) -> None:
    _populate(engine_ctx, smith_profile)
    archive = tmp_path / "famtune.tar.gz"
    result = cli.json("backup", str(archive))
    assert result["path"] == str(archive) and archive.stat().st_mode & 0o077 == 0
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {
        "backup.json",
        "famtune.db",
        "famtune.key",
        f"models/{FAMILY}/v1/adapter.safetensors",
    } <= names
    assert not any(n.endswith(".gguf") for n in names)

    new_home = tmp_path / "restored"
    code, out, err = cli("restore", str(archive), "--home", str(new_home), "--json", home=False)
    assert code == 0, err
    assert json.loads(out)["families"] == 2
    ft = Famtune(new_home, profile="development")
    with ft.db.read() as session:
        assert [f.id for f in families.list_families(session)] == [OTHER, FAMILY]
        assert audit.verify_chain(session).ok
        row = session.exec(select(Interaction)).first()
        model = session.exec(select(ModelVersion)).first()
    assert row is not None and ft.cipher.decrypt_json(row.payload)["note"] == "fun 0"
    assert model is not None and model.path.startswith(str(new_home.resolve()))
    assert (new_home / "models" / FAMILY / "v1" / "adapter.safetensors").read_bytes() == b"weights"
    ft.close()
    verify = cli.json("audit", "verify", "--home", str(new_home))
    assert verify["ok"] is True

    code, _, err = cli("restore", str(archive), "--home", str(new_home), home=False)
    assert code == 1 and "not empty" in err
    code, _, err = cli("restore", str(archive), "--home", str(new_home), "--force", home=False)
    assert code == 0, err


def test_restore_refuses_a_damaged_backup(cli: CliRun, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar.gz"
    assert cli("backup", str(archive))[0] == 0
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(broken, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            payload = data.read() if data else b""
            if member.name == "famtune.key":
                payload = payload[::-1]
                member.size = len(payload)
            dst.addfile(member, io.BytesIO(payload))
    target = tmp_path / "new"
    code, _, err = cli("restore", str(broken), "--home", str(target), home=False)
    assert code == 1 and "damaged: famtune.key" in err
    assert not target.exists() or not any(target.iterdir())
