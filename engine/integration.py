"""``engine.integration``: a name of the seed's facade (the README quick start), kept stable; the
code lives in ``engine.app.integration``."""

from engine.app.integration import IntegrationMetrics, SimpleFineTuningIntegration

__all__ = ["IntegrationMetrics", "SimpleFineTuningIntegration"]
