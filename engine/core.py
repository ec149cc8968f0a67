"""``engine.core``: a name of the seed's facade (the README quick start), kept stable; the
code lives in ``engine.domain.home``."""

from engine.domain.home import Famtune

__all__ = ["Famtune"]
