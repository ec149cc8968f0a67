"""What the fuzz suites share: the fixed Hypothesis budget, JSON broken the ways real files
break, and the checks that a refusal is plain and leaves the database as it was."""

from __future__ import annotations

import copy
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from engine.base.errors import FamtuneError
from tests.conftest import DATA


def fuzz(examples: int, deadline_ms: int | None = 2000) -> settings:
    """A fixed, reproducible budget."""
    return settings(
        max_examples=examples,
        deadline=deadline_ms,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# -- shared strategies ----------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", " ", "G", "PG-13", "2025-06-07T08:30:00", "25:99", "\x00", "ü" * 300])
)


json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=15,
)


# Byte sequences that break JSON documents in the ways real files break.
SPLICES = [
    b"{", b"}", b"[", b"]", b'"', b",", b":", b"\\", b"\\u", b"\\ud800", b"\x00", b"\xff\xfe",
    b"\xc3", b"NaN", b"-Infinity", b"1e999999", b"-0", b"9" * 5000, b"null", b"true",
    b"\xef\xbb\xbf", b"\n", b"/*", b"'",
]  # fmt: skip


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """A valid JSON document, broken one way or another."""
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "nest", "bignum", "random"]))
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flip":
        out = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    if kind == "splice":
        at = draw(st.integers(0, len(raw)))
        cut = draw(st.integers(0, 8))
        return raw[:at] + draw(st.sampled_from(SPLICES)) + raw[at + cut :]
    if kind == "nest":
        depth = draw(st.sampled_from([50, 900, 1100, 5000, 100_000]))
        return b"[" * depth + raw + b"]" * depth
    if kind == "bignum":
        digits = draw(st.sampled_from([400, 4300, 4301, 20_000]))
        return raw.replace(b"8", b"8" + b"1" * digits, 1) if b"8" in raw else raw + b"1" * digits
    return draw(st.binary(max_size=300))


def replace_somewhere(doc: Any, data: st.DataObject) -> Any:
    """A deep copy of ``doc`` with one random leaf or subtree replaced by random JSON, or
    with a random key added to one of its objects."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        paths.append(prefix)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*prefix, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*prefix, index))

    walk(doc, ())
    out = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(paths))
    if not path:
        return data.draw(json_values)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if isinstance(target, dict) and data.draw(st.booleans()):
        target[data.draw(st.text(max_size=12))] = data.draw(json_values)
    else:
        target[path[-1]] = data.draw(json_values)
    return out


# -- shared checks --------------------------------------------------------------------------------


def assert_plain_refusal(exc: FamtuneError) -> None:
    message = str(exc)
    assert message.strip(), "a refusal must say what is wrong"
    assert "Traceback" not in message


def db_state(home: Path) -> str:
    """A digest of every row in the data directory's database."""
    conn = sqlite3.connect(f"file:{home / 'famtune.db'}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def assert_cli_refused(code: int, out: str, err: str) -> None:
    assert code == 1, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("famtune-engine: error: "), err
    assert "internal error" not in err, err
    assert not out.strip(), out


# -- shared inputs --------------------------------------------------------------------------------

SMITH_BYTES = (DATA / "smith-family.json").read_bytes()
