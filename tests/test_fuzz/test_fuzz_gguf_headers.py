"""Fuzzing the GGUF checkers with hand-made headers (tests/test_fuzz/gguf.py makes them, often
nearly right so the deeper checks run too): checked or refused plainly, and quickly. A
header of nested arrays took ~1.3 us per array to walk; they are capped now."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from hypothesis import given

from engine import basemodel
from engine.base.errors import ModelFileError
from tests.test_fuzz.gguf import check_gguf, gguf_files
from tests.test_fuzz.strategies import fuzz


@fuzz(500, deadline_ms=3000)
@given(raw=gguf_files())
def test_any_gguf_header_is_checked_or_refused_quickly(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzz.gguf"
    path.write_bytes(raw)
    started = time.perf_counter()
    check_gguf(path)
    assert time.perf_counter() - started < 2.0


def test_nested_array_bombs_are_refused_quickly(tmp_path: Path) -> None:
    """A million empty arrays inside one array (12 MB): it took 1.3 s to walk before the
    cap, ~30 s at the 256 MiB header limit."""
    n = 1 << 20
    value = struct.pack("<IQ", 9, n) + struct.pack("<IQ", 0, 0) * n
    path = tmp_path / "bomb.gguf"
    path.write_bytes(
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 8) + b"x.nested"
        + struct.pack("<I", 9) + value
    )  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match="nested arrays"):
        basemodel.verify_gguf(path)
    assert time.perf_counter() - started < 0.5
