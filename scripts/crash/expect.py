"""What the drill expects after a kill: the acknowledged state all there, the killed
command's change all or nothing, and the checks that hold whatever was killed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts.crash.commands import AUDIT_EVENT


@dataclass
class Acked:
    """The state every acknowledged command has left (what must survive any crash)."""

    profile: dict[str, Any]
    interactions: int
    audit: int
    active: int
    versions: list[int]


@dataclass
class InFlight:
    """The change the killed command was making: visible in full, or not at all."""

    kind: str
    profile: dict[str, Any] | None = None
    interactions: int = 0
    target: int | None = None


def invariant_failures(state: dict[str, Any]) -> list[str]:
    """Checks that hold whatever was killed."""
    if "observerError" in state:
        return [f"the checking process failed: {state['observerError']}"]
    bad: list[str] = []
    if state["integrity"] != "ok":
        bad.append(f"integrity_check: {state['integrity']}")
    if state["foreignKeyErrors"]:
        bad.append(f"foreign_key_check: {state['foreignKeyErrors']} rows")
    if state["modelsList"]["rc"] != 0:
        bad.append(f"models list failed: {state['modelsList']['err']}")
    elif state["rows"] != state["dirs"]:
        bad.append(f"model rows {state['rows']} != version directories {state['dirs']}")
    broken = {v: why for v, why in state["versionFiles"].items() if why != "ok"}
    if broken:
        bad.append(f"model versions with bad files: {broken}")
    if state["staging"]:
        bad.append(f"staging directories left after recovery: {state['staging']}")
    if state["active"] is not None and len(state["active"]) != 1:
        bad.append(f"active versions {state['active']} (expected exactly one)")
    valid = state["validate"]
    if valid["rc"] != 0 or not valid["results"] or not all(valid["results"].values()):
        bad.append(f"models validate: rc {valid['rc']} {valid['results']} {valid['err']}")
    verify = state["auditVerify"]
    if verify["rc"] != 0:
        bad.append(f"audit verify: rc {verify['rc']} {verify['err'] or verify['doc']}")
    elif state["auditCount"] != (verify["doc"] or {}).get("eventsChecked"):
        bad.append(f"audit list shows {state['auditCount']} events, verify checked "
                   f"{(verify['doc'] or {}).get('eventsChecked')}")  # fmt: skip
    if state["profile"] is None:
        bad.append(f"family export failed: {state['profileErr']}")
    if state["interactions"] is None:
        bad.append(f"interactions list failed: {state['interactionsErr']}")
    if "running" in state["runs"]:
        bad.append("a training run is still marked running after recovery")
    if state["metrics"].get("activeModels") != 1:
        bad.append(f"metrics: {state['metrics']}")
    return bad


def change_failures(
    state: dict[str, Any], acked: Acked, flight: InFlight, *, completed: bool
) -> list[str]:
    """The acknowledged state is all there, and the in-flight change is all or nothing
    (all, when the command completed before its kill)."""
    if "observerError" in state or state["profile"] is None or state["active"] is None:
        return []  # already reported
    bad: list[str] = []
    active = state["active"][0] if state["active"] else None
    applied = {
        "profile": state["profile"] == flight.profile,
        "safety": state["profile"] == flight.profile,
        "interactions": state["interactions"] == acked.interactions + flight.interactions,
        "interaction": state["interactions"] == acked.interactions + flight.interactions,
        "rollback": active == flight.target,
        "train": False,
    }[flight.kind]
    if completed and flight.kind != "train" and not applied:
        bad.append("the command exited 0 but its change is not in the database")
    # the profile
    if state["profile"] != acked.profile and not (flight.profile and applied):
        bad.append("the profile is neither the acknowledged one nor the in-flight one")
    # interactions: acknowledged, or acknowledged plus the whole in-flight batch
    allowed = {acked.interactions, acked.interactions + flight.interactions}
    if state["interactions"] not in allowed:
        bad.append(f"{state['interactions']} interactions, expected one of {sorted(allowed)}")
    # models
    if flight.kind == "train":
        new = [v for v in state["rows"] if v > max(acked.versions)]
        if len(new) > 1:
            bad.append(f"one killed training run published versions {new}")
        if active != acked.active and active not in new:
            bad.append(f"active version {active}, expected {acked.active} or a new one")
        if not new and state["rows"] != acked.versions:
            bad.append(f"versions {state['rows']}, expected {acked.versions}")
    else:
        if state["rows"] != acked.versions:
            bad.append(f"versions {state['rows']}, expected {acked.versions}")
        if active not in {acked.active, flight.target}:
            bad.append(f"active version {active}, expected {acked.active} (or {flight.target})")
    # the audit trail grows by the command's one event exactly when its change is visible
    count = state["auditCount"]
    if flight.kind == "train":
        if count is None or count < acked.audit:
            bad.append(f"audit events {count}, fewer than the acknowledged {acked.audit}")
    else:
        step = 1 if flight.kind in AUDIT_EVENT and applied else 0
        if count != acked.audit + step:
            bad.append(f"audit events {count}, expected {acked.audit + step} "
                       f"(change {'visible' if applied else 'absent'})")  # fmt: skip
        elif step and state["lastAuditType"] != AUDIT_EVENT[flight.kind]:
            bad.append(f"newest audit event {state['lastAuditType']}, "
                       f"expected {AUDIT_EVENT[flight.kind]}")  # fmt: skip
    return bad


def after_completion(acked: Acked, flight: InFlight) -> Acked:
    """The acknowledged state after ``flight`` completed."""
    return Acked(profile=flight.profile or acked.profile,
                 interactions=acked.interactions + flight.interactions,
                 audit=acked.audit + (1 if flight.kind in AUDIT_EVENT else 0),
                 active=flight.target or acked.active, versions=acked.versions)  # fmt: skip


def acked_from(state: dict[str, Any]) -> Acked:
    return Acked(profile=state["profile"], interactions=state["interactions"],
                 audit=state["auditCount"], active=state["active"][0],
                 versions=list(state["rows"]))  # fmt: skip
