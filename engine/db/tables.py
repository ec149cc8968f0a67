"""SQLModel tables. Alembic owns the schema (engine/db/migrations); these classes mirror it.

List-valued profile fields are JSON columns that keep the order a family gave them, so an
exported profile is the document that was imported.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _family_fk() -> Any:
    return Column(String(64), ForeignKey("family.id", ondelete="CASCADE"), index=True,
                  nullable=False)


class Family(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    family_name: str | None = Field(default=None, max_length=80)
    privacy_level: str = Field(default="standard", max_length=16)
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Member(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("family_id", "user_id"),)
    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(sa_column=_family_fk())
    position: int
    user_id: str = Field(max_length=64)
    display_name: str | None = Field(default=None, max_length=80)
    age: int
    role: str = Field(max_length=16)
    safety_level: str = Field(max_length=16)
    learning_style: str = Field(max_length=16)
    difficulty_level: str = Field(max_length=16)
    interests: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    preferred_topics: list[str] = Field(default_factory=list,
                                        sa_column=Column(JSON, nullable=False))
    avoided_topics: list[str] = Field(default_factory=list,
                                      sa_column=Column(JSON, nullable=False))


class FamilyPreferenceRow(SQLModel, table=True):
    __tablename__ = "family_preferences"
    family_id: str = Field(sa_column=Column(String(64), ForeignKey("family.id",
                                                                   ondelete="CASCADE"),
                                            primary_key=True))
    communication_style: str = Field(max_length=16)
    content_categories: list[str] = Field(default_factory=list,
                                          sa_column=Column(JSON, nullable=False))
    educational_focus: list[str] = Field(default_factory=list,
                                         sa_column=Column(JSON, nullable=False))


class SafetySettingsRow(SQLModel, table=True):
    __tablename__ = "safety_settings"
    family_id: str = Field(sa_column=Column(String(64), ForeignKey("family.id",
                                                                   ondelete="CASCADE"),
                                            primary_key=True))
    max_content_rating: str = Field(max_length=8)
    blocked_topics: list[str] = Field(default_factory=list,
                                      sa_column=Column(JSON, nullable=False))


class TimeRestrictionRow(SQLModel, table=True):
    __tablename__ = "time_restriction"
    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(sa_column=_family_fk())
    position: int
    start_time: str = Field(max_length=5)
    end_time: str = Field(max_length=5)
    days_of_week: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    restricted_content: list[str] = Field(default_factory=list,
                                          sa_column=Column(JSON, nullable=False))


class Interaction(SQLModel, table=True):
    """One tap. Only scrubbed data is stored, and everything textual is in ``payload``,
    encrypted with the data directory's key (context, note, item snapshot)."""

    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(sa_column=_family_fk())
    member_id: str = Field(max_length=64, index=True)
    item_id: str = Field(max_length=80)
    outcome: str = Field(max_length=16)
    rating: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("family_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(sa_column=_family_fk())
    version: int
    status: str = Field(default="inactive", max_length=16)
    is_active: bool = False
    path: str = Field(max_length=512)
    base_sha256: str = Field(max_length=64)
    adapter_sha256: str | None = Field(default=None, max_length=64)
    dataset_hash: str = Field(max_length=64)
    performance_score: float | None = None
    baseline_score: float | None = None
    safety_score: float | None = None
    reason: str | None = None
    interactions_used: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    activated_at: datetime | None = None


class TrainingRun(SQLModel, table=True):
    __tablename__ = "training_run"
    id: int | None = Field(default=None, primary_key=True)
    family_id: str = Field(sa_column=_family_fk())
    status: str = Field(default="running", max_length=16)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    version: int | None = None
    peak_rss_mb: float | None = None
    error: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Append-only; each row carries the hash of the one before it (a hash chain)."""

    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    event_type: str = Field(max_length=40, index=True)
    family_id: str | None = Field(default=None, max_length=64, index=True)
    actor: str = Field(default="system", max_length=40)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class MetricSample(SQLModel, table=True):
    __tablename__ = "metric_sample"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    name: str = Field(max_length=64, index=True)
    value: float
    family_id: str | None = Field(default=None, max_length=64)
    labels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class CustomActivity(SQLModel, table=True):
    """An activity a parent added; ``data`` is the validated catalog item."""

    __tablename__ = "custom_activity"
    id: str = Field(primary_key=True, max_length=80)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class BaseModelRecord(SQLModel, table=True):
    __tablename__ = "base_model"
    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(max_length=512)
    sha256: str = Field(max_length=64)
    size_bytes: int
    source: str = Field(max_length=16)
    verified_at: datetime = Field(default_factory=utcnow)
    training_cache: str | None = Field(default=None, max_length=512)


class ParentalPin(SQLModel, table=True):
    __tablename__ = "parental_pin"
    id: int = Field(default=1, primary_key=True)
    pin_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    kdf: str = Field(default="scrypt", max_length=64)
    failures: int = 0
    locked_until: datetime | None = None
    locked_out: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class EventLog(SQLModel, table=True):
    """Operational errors and warnings shown by ``status`` (not the audit trail)."""

    __tablename__ = "event_log"
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    level: str = Field(max_length=8)
    component: str = Field(max_length=32)
    message: str = Field(max_length=1000)


class Setting(SQLModel, table=True):
    """Small key/value state, e.g. whether personalization is enabled."""

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=4000)
