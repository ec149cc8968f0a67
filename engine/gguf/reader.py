"""A bounds-checked GGUF header reader: :func:`verify_gguf`.

It walks the GGUF header with a parser of its own (every length is checked against the bytes
that remain before anything is read), so a truncated, corrupted or hostile file gives
:class:`ModelFileError`, never a crash, a hang or a huge allocation. ``full_parse=True``
additionally hands the (already vetted) file to ``gguf.GGUFReader``; that is off by default
because GGUFReader builds one numpy view per vocabulary entry and takes about 10 s on the
base model's 262,144-token file.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.base.errors import ModelFileError
from engine.base.fileio import normalize_sha256, sha256_file
from engine.gguf.scanner import (
    GGML_MAX_DIMS,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGUF_SUPPORTED_VERSIONS,
    MAX_KEY_BYTES,
    MAX_KV_COUNT,
    MAX_TENSOR_COUNT,
    MAX_TENSOR_ELEMENTS,
    MAX_TENSOR_NAME_BYTES,
    T_ARRAY,
    GGUFTensorInfo,
    Header,
    HeaderScanner,
    Malformed,
    MetadataValue,
    Truncated,
)

log = logging.getLogger(__name__)




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


def _scan_gguf(path: Path, what: str) -> Header:
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
        except Malformed as exc:
            kind = "is truncated" if isinstance(exc, Truncated) else "is corrupt"
            raise ModelFileError(f"{what} {path.name} {kind}: {exc}") from None
        except OSError as exc:
            raise ModelFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _scan_header(
    handle: IO[bytes],
    size: int,
    version: int,
    quant_sizes: dict[Any, tuple[int, int]],
    quant_type: Any,
) -> Header:
    scan = HeaderScanner(handle, size)
    scan.pos = 8
    tensor_count = scan.u64("the tensor count")
    kv_count = scan.u64("the metadata count")
    if tensor_count > MAX_TENSOR_COUNT or tensor_count * 33 > size:
        raise Malformed(f"the header declares {tensor_count} tensors, not a plausible number")
    if kv_count > MAX_KV_COUNT or kv_count * 13 > size:
        raise Malformed(f"the header declares {kv_count} metadata keys, not a plausible number")

    metadata: dict[str, MetadataValue] = {}
    array_lengths: dict[str, int] = {}
    seen: set[str] = set()
    for index in range(kv_count):
        key = scan.string(f"the name of metadata key {index}", MAX_KEY_BYTES)
        if key in seen:
            raise Malformed(f"metadata key {key!r} appears twice")
        seen.add(key)
        vtype = scan.u32(f"the type of {key!r}")
        if vtype == T_ARRAY:
            array_lengths[key] = scan.skip_array(key, depth=1)
            continue
        value = scan.value(vtype, key)
        if value is not None:
            metadata[key] = value

    alignment = GGUF_DEFAULT_ALIGNMENT
    if "general.alignment" in metadata:
        raw_align = metadata["general.alignment"]
        if not isinstance(raw_align, int) or isinstance(raw_align, bool):
            raise Malformed("general.alignment is not an integer")
        if raw_align <= 0 or raw_align & (raw_align - 1) or raw_align > (1 << 20):
            raise Malformed(f"general.alignment {raw_align} is not a sane power of two")
        alignment = raw_align

    raw_tensors: list[tuple[str, int, str, tuple[int, ...], int, int, int]] = []
    names: set[str] = set()
    for index in range(tensor_count):
        name = scan.string(f"the name of tensor {index}", MAX_TENSOR_NAME_BYTES)
        if name in names:
            raise Malformed(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = scan.u32(f"the dimension count of tensor {name!r}")
        if not 1 <= n_dims <= GGML_MAX_DIMS:
            raise Malformed(f"tensor {name!r} declares {n_dims} dimensions")
        dims = tuple(scan.u64(f"a dimension of tensor {name!r}") for _ in range(n_dims))
        n_elements = 1
        for dim in dims:
            if dim == 0 or dim > MAX_TENSOR_ELEMENTS:
                raise Malformed(f"tensor {name!r} has an impossible shape {list(dims)}")
            n_elements *= dim
            if n_elements > MAX_TENSOR_ELEMENTS:
                raise Malformed(f"tensor {name!r} has an impossible shape {list(dims)}")
        ggml_type = scan.u32(f"the type of tensor {name!r}")
        rel_offset = scan.u64(f"the data offset of tensor {name!r}")
        try:
            qtype = quant_type(ggml_type)
            block_size, type_size = quant_sizes[qtype]
            type_name = str(qtype.name)
        except (ValueError, KeyError):
            raise Malformed(f"tensor {name!r} has an unknown type {ggml_type}") from None
        if dims[0] % block_size:
            raise Malformed(
                f"tensor {name!r} ({type_name}) has a row of {dims[0]} elements, "
                f"not a multiple of its block size {block_size}"
            )
        if rel_offset % alignment:
            raise Malformed(f"tensor {name!r} starts at an unaligned offset {rel_offset}")
        n_bytes = n_elements // block_size * type_size
        raw_tensors.append((name, ggml_type, type_name, dims, n_elements, rel_offset, n_bytes))

    data_offset = scan.pos + (-scan.pos) % alignment
    available = max(size - data_offset, 0)
    needed = max((t[5] + t[6] for t in raw_tensors), default=0)
    if needed > available:
        raise Truncated(f"expected {needed} bytes of tensor data, found {available}")
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
    return Header(
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
        expected = normalize_sha256(expected_sha256)
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
