"""``engine.domain.interactions``: a name of the seed's facade (the README quick start) kept stable;
the code lives in ``engine.domain.interactions``.
"""

from engine.domain.interactions import (
    LLMEnhancedLearningEngine as LLMEnhancedLearningEngine,
)
