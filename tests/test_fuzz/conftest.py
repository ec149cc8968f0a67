"""The fuzz suites' fixture: the bundled base model file (tests/conftest.py assembles it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import basemodel
from engine.base.paths import DataDir


@pytest.fixture(scope="module")
def base_file(base_model_data: DataDir) -> Path:
    return basemodel.bundled_model_path(base_model_data)
