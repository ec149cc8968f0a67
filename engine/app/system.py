"""The data directory itself: how healthy it is (``status``) and the configuration in force
with where each value came from. Setting it up is :func:`engine.app.families.initialize`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from engine.base.config_load import ResolvedConfig
from engine.db.tables import ModelVersion, utcnow
from engine.domain import families
from engine.domain.home import Famtune

# utcnow: the clock the engine stamps its rows with (the GUI's default clock, so a screen and
# the audit trail agree on what "now" is)
__all__ = ["HomeStatus", "effective_config", "home_status", "utcnow"]


@dataclass(frozen=True)
class HomeStatus:
    """``document`` is the status in the CLI's JSON shape (CLI.md): the data directory, the
    base model re-checked, families, active models, recent errors, database integrity and a
    one-word health with the problems behind it."""

    initialized: bool
    document: dict[str, Any]

    @property
    def problems(self) -> list[str]:
        return list(self.document.get("problems", []))


def home_status(ft: Famtune, *, verify: bool = False) -> HomeStatus:
    """The data directory's health; ``verify`` also re-hashes the base model."""
    status: dict[str, Any] = {"home": str(ft.data.root), "initialized": ft.initialized,
                              "profile": ft.resolved_config.profile}
    if not ft.initialized:
        status.update(baseModel=None, families=[], activeModels=[], lastErrors=[],
                      health="not initialized")
        return HomeStatus(False, status)
    base = ft.check_base_model(full=verify)
    problems: list[str] = [] if base["ok"] else [f"base model: {base['error']}"]
    with ft.db.read() as session:
        active = [{"familyId": m.family_id, "version": m.version,
                   "performanceScore": m.performance_score, "safetyScore": m.safety_score}
                  for m in session.exec(select(ModelVersion).where(col(ModelVersion.is_active)))]
        fams = [{"familyId": f.id, "familyName": f.family_name, "demo": f.is_demo}
                for f in families.list_families(session)]
    errors = [{"at": e.created_at.isoformat(), "level": e.level, "component": e.component,
               "message": e.message} for e in ft.recent_events() if e.level == "error"]
    integrity = ft.db.integrity_check()
    if integrity != "ok":
        problems.append(f"database integrity: {integrity}")
    status.update(baseModel=base, families=fams, activeModels=active, lastErrors=errors,
                  database={"path": str(ft.data.database), "integrity": integrity},
                  health="ok" if not problems else "degraded", problems=problems)
    return HomeStatus(True, status)


def effective_config(ft: Famtune) -> ResolvedConfig:
    """The configuration in force for this data directory and profile, with its sources."""
    return ft.resolved_config
