"""Personal-data filtering for everything famtune stores: Presidio plus the family's names.

Importing this package is cheap; Presidio and spaCy load on the first scrub (or ``warm_up``).
"""

from engine.base.vocabulary import PrivacyLevel
from engine.privacy.filter import (
    DEFAULT_SPACY_MODEL,
    FEATURE_VOCABULARY,
    PRIVACY_LEVELS,
    Entity,
    PrivacyFilter,
    ScrubResult,
    strict_features,
    warm_up,
)

__all__ = [
    "DEFAULT_SPACY_MODEL",
    "FEATURE_VOCABULARY",
    "PRIVACY_LEVELS",
    "Entity",
    "PrivacyFilter",
    "PrivacyLevel",
    "ScrubResult",
    "strict_features",
    "warm_up",
]
