"""``engine.interactions``: a name of the seed's facade (the README quick start) kept stable;
the code lives in ``engine.domain.interactions``, where the seed's
``LLMEnhancedLearningEngine`` is called what it is, :class:`InteractionLog`.
"""

from engine.domain.interactions import (
    InteractionLog as LLMEnhancedLearningEngine,
)

__all__ = ["LLMEnhancedLearningEngine"]
