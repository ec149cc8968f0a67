"""When a family should train without anyone asking: preferably when the family is asleep or
the device is idle, while the previous version keeps serving.

A family becomes due when it first reaches ``min_interactions_for_training`` and then every
``retraining_threshold`` new interactions (``enough_data``). A due family trains at once in
quiet hours or when the CPU has been idle; otherwise it waits until it has twice the
threshold, so that a family using the device all day still gets a fresh model. Who runs the
job (one at a time) is the caller's business: the app's training lane.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time

import psutil

from engine.base.config import FineTuningConfig
from engine.domain.home import Famtune
from engine.personalize.dataset import enough_data

IDLE_CPU_PERCENT = 25.0


def in_quiet_hours(now: datetime, start: str, end: str) -> bool:
    """Whether ``now`` (local wall clock) falls in [start, end), which may cross midnight."""
    t = now.time()
    a, b = time.fromisoformat(start), time.fromisoformat(end)
    return a <= t < b if a <= b else (t >= a or t < b)


def device_idle(sample_s: float = 0.5) -> bool:
    return bool(psutil.cpu_percent(interval=sample_s) < IDLE_CPU_PERCENT)


def training_due(
    ft: Famtune,
    family_id: str,
    *,
    config: FineTuningConfig,
    waiting: int,
    now: datetime,
    idle: Callable[[], bool] = device_idle,
) -> tuple[bool, str]:
    """Whether the family should train now, and why (or why not). ``waiting``: interactions
    logged since its last model; ``idle`` is asked last, since it samples the CPU."""
    ready, reason = enough_data(ft, family_id)
    if not ready:
        return False, reason
    if in_quiet_hours(now, config.quiet_hours_start, config.quiet_hours_end):
        return True, "quiet hours"
    if waiting >= 2 * config.retraining_threshold:
        return True, f"{waiting} new interactions"
    if idle():
        return True, "the device is idle"
    return False, "waiting for quiet hours or an idle device"
