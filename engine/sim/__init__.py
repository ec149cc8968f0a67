"""The family simulator: synthetic families with hidden tastes, for data and evaluation."""

from engine.sim.profiles import synthetic_profile
from engine.sim.simulator import (
    DEFAULT_START,
    FamilySimulator,
    HoldoutCase,
    Recommender,
    evaluate,
)
from engine.sim.tastes import ARCHETYPES, Archetype, HiddenTastes

__all__ = [
    "ARCHETYPES",
    "DEFAULT_START",
    "Archetype",
    "FamilySimulator",
    "HiddenTastes",
    "HoldoutCase",
    "Recommender",
    "evaluate",
    "synthetic_profile",
]
