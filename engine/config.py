"""``engine.config``: a name of the seed's facade (the README quick start), kept stable; the
code lives in ``engine.base.config``."""

from engine.base.config import FineTuningConfig, RuntimeConfigDetector

__all__ = ["FineTuningConfig", "RuntimeConfigDetector"]
