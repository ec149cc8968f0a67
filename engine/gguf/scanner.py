"""The bounds-checked walk over a GGUF header: every length is checked against the bytes
that remain before anything is read, and every count against a sanity limit, so a hostile
file costs neither a huge allocation nor a long loop. :mod:`engine.gguf.reader` builds on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any

GGUF_MAGIC = b"GGUF"
GGUF_SUPPORTED_VERSIONS = (2, 3)
GGUF_DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4

# Sanity limits. The real file has 33 KVs, 236 tensors, a 262,144-entry vocabulary and
# strings of at most a few hundred bytes; these leave ample room for other models.
MAX_KV_COUNT = 1 << 16
MAX_TENSOR_COUNT = 1 << 16
MAX_KEY_BYTES = 1 << 16
MAX_TENSOR_NAME_BYTES = 256
MAX_STRING_BYTES = 16 << 20
MAX_ARRAY_LEN = 1 << 24
MAX_ARRAY_DEPTH = 3
# Arrays of arrays are walked one by one (about 1.3 us each here): without a budget, a
# 256 MiB header of empty nested arrays takes half a minute. No real model uses them.
MAX_NESTED_ARRAYS = 1 << 16
MAX_TENSOR_ELEMENTS = 1 << 40
MAX_HEADER_BYTES = 256 << 20

# GGUF value types (spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
T_STRING = 8
T_ARRAY = 9
_SCALAR_FORMATS: dict[int, str] = {
    0: "B",  # UINT8
    1: "b",  # INT8
    2: "H",  # UINT16
    3: "h",  # INT16
    4: "I",  # UINT32
    5: "i",  # INT32
    6: "f",  # FLOAT32
    7: "?",  # BOOL
    10: "Q",  # UINT64
    11: "q",  # INT64
    12: "d",  # FLOAT64
}
_SCALAR_SIZES = {code: struct.calcsize("<" + fmt) for code, fmt in _SCALAR_FORMATS.items()}

MetadataValue = str | int | float | bool

@dataclass(frozen=True)
class GGUFTensorInfo:
    """One tensor's entry in the header. ``offset`` is absolute (from the start of the file)."""

    name: str
    ggml_type: int
    type_name: str
    shape: tuple[int, ...]
    n_elements: int
    offset: int
    n_bytes: int


class Malformed(Exception):
    """Internal: the header breaks a rule; the message is for people."""


class Truncated(Malformed):
    """Internal: the header itself runs past the end of the file."""


@dataclass(frozen=True)
class Header:
    size: int
    version: int
    kv_count: int
    tensor_count: int
    alignment: int
    data_offset: int
    metadata: dict[str, MetadataValue]
    array_lengths: dict[str, int]
    tensors: list[GGUFTensorInfo]


class HeaderScanner:
    """A bounds-checked little-endian reader over the start of the file, read on demand.

    Plain reads into a growing buffer rather than a memory map: a file truncated while it
    is being checked then gives an error, not a SIGBUS. Every length is checked against
    the file size before anything is read, and the header may not exceed 256 MiB.
    """

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle = handle
        self.size = size
        self.buf = bytearray()
        self.pos = 0
        self.nested_arrays = 0

    def fill(self, end: int) -> None:
        """Have bytes ``[0, end)`` in the buffer."""
        have = len(self.buf)
        if end <= have:
            return
        if end > MAX_HEADER_BYTES:
            raise Malformed(f"the header runs past {MAX_HEADER_BYTES >> 20} MiB; not plausible")
        want = min(max(end, 2 * have, 1 << 20), self.size, MAX_HEADER_BYTES)
        self.handle.seek(have)
        self.buf += self.handle.read(want - have)
        if len(self.buf) < end:
            raise Truncated("the file got shorter while it was being read")

    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining():
            raise Truncated(
                f"the header is cut off: {what} at byte {self.pos} needs {n} bytes, "
                f"{max(self.remaining(), 0)} remain"
            )

    def scalar(self, code: int, what: str) -> Any:
        size = _SCALAR_SIZES[code]
        self.need(size, what)
        self.fill(self.pos + size)
        (value,) = struct.unpack_from("<" + _SCALAR_FORMATS[code], self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        value: int = self.scalar(4, what)
        return value

    def u64(self, what: str) -> int:
        value: int = self.scalar(10, what)
        return value

    def string_length(self, what: str, limit: int) -> int:
        start = self.pos
        length = self.u64(f"the length of {what}")
        if length > limit:
            raise Malformed(
                f"{what} at byte {start} declares a length of {length} bytes "
                f"(the limit is {limit}); the file is corrupt or not a model"
            )
        if length > self.remaining():
            raise Truncated(
                f"{what} at byte {start} declares {length} bytes but only "
                f"{self.remaining()} remain in the file"
            )
        return length

    def string(self, what: str, limit: int = MAX_STRING_BYTES) -> str:
        length = self.string_length(what, limit)
        self.fill(self.pos + length)
        raw = bytes(self.buf[self.pos : self.pos + length])
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed(f"{what} is not valid UTF-8") from exc

    def value(self, vtype: int, key: str) -> MetadataValue | None:
        """Read a value; scalars and strings are returned, arrays are skipped (None)."""
        if vtype in _SCALAR_FORMATS:
            return self.scalar(vtype, f"the value of {key!r}")  # type: ignore[no-any-return]
        if vtype == T_STRING:
            return self.string(f"the value of {key!r}")
        if vtype == T_ARRAY:
            self.skip_array(key, depth=1)
            return None
        raise Malformed(f"metadata key {key!r} has an unknown value type {vtype}")

    def array_header(self, key: str) -> tuple[int, int]:
        start = self.pos
        item_type = self.u32(f"the item type of array {key!r}")
        length = self.u64(f"the length of array {key!r}")
        if length > MAX_ARRAY_LEN:
            raise Malformed(
                f"array {key!r} at byte {start} declares {length} items "
                f"(the limit is {MAX_ARRAY_LEN}); the file is corrupt or not a model"
            )
        if item_type in _SCALAR_SIZES:
            min_item = _SCALAR_SIZES[item_type]
        elif item_type == T_STRING:
            min_item = 8
        elif item_type == T_ARRAY:
            min_item = 12
        else:
            raise Malformed(f"array {key!r} has an unknown item type {item_type}")
        if length * min_item > self.remaining():
            raise Truncated(
                f"array {key!r} at byte {start} declares {length} items, at least "
                f"{length * min_item} bytes, but only {self.remaining()} remain in the file"
            )
        return item_type, length

    def skip_array(self, key: str, depth: int) -> int:
        if depth > MAX_ARRAY_DEPTH:
            raise Malformed(f"array {key!r} is nested more than {MAX_ARRAY_DEPTH} deep")
        item_type, length = self.array_header(key)
        if item_type in _SCALAR_SIZES:
            self.pos += length * _SCALAR_SIZES[item_type]
        elif item_type == T_STRING:
            # The hot loop: 262,144 vocabulary entries. Kept tight on purpose.
            buf, size, pos = self.buf, self.size, self.pos
            have = len(buf)
            unpack = struct.Struct("<Q").unpack_from
            for index in range(length):
                if pos + 8 > size:
                    self.pos = pos
                    raise Truncated(f"array {key!r} is cut off at item {index} of {length}")
                if pos + 8 > have:
                    self.fill(pos + 8)  # grows ``buf`` in place
                    have = len(buf)
                (slen,) = unpack(buf, pos)
                pos += 8
                if slen > MAX_STRING_BYTES or pos + slen > size:
                    self.pos = pos - 8
                    raise Malformed(
                        f"item {index} of array {key!r} declares a string of {slen} bytes, "
                        f"more than the {size - pos} that remain in the file"
                    )
                pos += slen
            self.pos = pos
        else:
            self.nested_arrays += length
            if self.nested_arrays > MAX_NESTED_ARRAYS:
                raise Malformed(
                    f"array {key!r} holds more than {MAX_NESTED_ARRAYS} nested arrays; "
                    "the file is corrupt or not a model"
                )
            for _ in range(length):
                self.skip_array(key, depth + 1)
        return length


