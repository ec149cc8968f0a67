"""One suggestion as the CLI, the GUI and the facade show it, and which engine chose it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Source(str, Enum):
    """Which engine chose a recommendation (its JSON value is the CLI contract's)."""

    GENERAL = "general"
    FAMILY_MODEL = "family-model"


@dataclass(frozen=True)
class Recommendation:
    """One suggestion as the CLI, the GUI and the facade show it."""

    id: str
    title: str
    category: str
    reason: str
    confidence: float
    source: Source
    safety_score: float
    model_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "reason": self.reason,
            "confidence": round(self.confidence, 3),
            "source": self.source.value,
            "safetyScore": round(self.safety_score, 3),
            "modelVersion": self.model_version,
        }
