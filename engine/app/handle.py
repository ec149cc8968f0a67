"""``Engine``: one opened data directory with its interaction log and model facade, as one
object to open and to close.

Before it a caller opened three objects (``Famtune``, the interaction log and the seed's
facade, ``SimpleFineTuningIntegration``) and had to close them in the right order. The
handle makes each when it is first used, so opening it is as cheap as opening the data
directory: a command that never touches the models never loads the recommendation service.
The seed's names stay what they were (``engine.integration``, ``engine.interactions``); the
handle holds them and they hold the same data directory::

    with Engine(home) as engine:
        actions.list_families(engine.ft)
        actions.models_overview(engine.models(), "smith-family")
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType

from engine.app.integration import SimpleFineTuningIntegration
from engine.base.config import FineTuningConfig
from engine.domain.home import Famtune
from engine.domain.interactions import InteractionLog

# Famtune: the type of ``Engine.ft``, the part most actions take first
__all__ = ["Engine", "Famtune"]


class Engine:
    """A data directory (``ft``), its interaction log (``log``) and its facade (``facade``)."""

    def __init__(
        self,
        home: Path | str | None = None,
        profile: str | None = None,
        *,
        config: FineTuningConfig | None = None,
    ) -> None:
        self.ft = Famtune(home, profile, config=config)

    @cached_property
    def log(self) -> InteractionLog:
        """The interaction log (the seed's ``LLMEnhancedLearningEngine``)."""
        return InteractionLog(self.ft)

    @cached_property
    def facade(self) -> SimpleFineTuningIntegration:
        """The seed's facade over recommendations, training and the model store, as opened:
        a recommendation needs nothing more."""
        return SimpleFineTuningIntegration(None, self.log)

    def models(self) -> SimpleFineTuningIntegration:
        """The facade with the data directory checked and a crash's unfinished model files
        cleared (``initialize``): what training and the model store's commands need."""
        self.facade.initialize()
        return self.facade

    def close(self) -> None:
        """Close the facade (its llama.cpp context) if it was opened, then the database."""
        if "facade" in self.__dict__:
            self.facade.close()
        self.ft.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
