"""LoRA adapters as GGUF files that llama.cpp loads next to the quantized base model.

Orientation (checked against llama.cpp's loader and verified on the real model): PEFT keeps
``lora_A.weight`` as ``[r, in_features]`` and ``lora_B.weight`` as ``[out_features, r]``
(numpy/torch order) and computes ``W x + (alpha / r) * B (A x)``. llama.cpp expects exactly
these arrays, untransposed, named ``<base tensor>.lora_a`` / ``.lora_b``: GGUF stores the
dimensions reversed (``ne``), so with the base weight's ``ne = [in, out]`` the loader requires
``lora_a.ne = [in, r]`` and ``lora_b.ne = [r, out]``, and it applies ``scale * alpha / r`` with
``r = lora_a.ne[1]``. The alpha written here is therefore PEFT's ``lora_alpha`` (for rsLoRA,
whose scaling is ``alpha / sqrt(r)``, pass ``lora_alpha * sqrt(r)``).

Files written here also carry ``famtune.lora.tensor_sha256``, a digest of every tensor's
name, shape, type and bytes, so a flipped bit anywhere in the tensors is caught before the
file reaches llama.cpp. Everything here is pure Python (numpy + the ``gguf`` package).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import struct
import tempfile
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engine.base.errors import ModelFileError
from engine.base.fileio import fsync_dir

TENSOR_SHA256_KEY = "famtune.lora.tensor_sha256"
ADAPTER_TYPE_KEY = "adapter.type"
ADAPTER_ALPHA_KEY = "adapter.lora.alpha"

# ggml type ids llama.cpp accepts for LoRA tensors.
_GGML_F32, _GGML_F16, _GGML_Q8_0, _GGML_BF16 = 0, 1, 8, 30
_ADAPTER_TYPES = {_GGML_F32: "F32", _GGML_F16: "F16", _GGML_Q8_0: "Q8_0", _GGML_BF16: "BF16"}
_DTYPES: dict[str, tuple[type[np.floating[Any]], int]] = {
    "f16": (np.float16, _GGML_F16),
    "f32": (np.float32, _GGML_F32),
}

_PEFT_RE = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_\-]+)?\.weight$")
_PREFIXES = (
    ("base_model.model.", ""),
    ("model.language_model.", "model."),
    ("language_model.model.", "model."),
    ("language_model.", ""),
)
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.")


def _model_arch(arch: Any) -> Any:
    import gguf

    if isinstance(arch, gguf.MODEL_ARCH):
        return arch
    by_name = {name: member for member, name in gguf.MODEL_ARCH_NAMES.items()}
    if arch not in by_name:
        raise ValueError(f"unknown GGUF architecture {arch!r}")
    return by_name[arch]


@lru_cache(maxsize=8)
def _tensor_name_map(arch: Any, n_layers: int) -> Any:
    import gguf

    return gguf.get_tensor_name_map(arch, n_layers)


def arch_name(arch: Any) -> str:
    """The GGUF architecture string ("gemma3") for a name or a ``gguf.MODEL_ARCH``."""
    import gguf

    return str(gguf.MODEL_ARCH_NAMES[_model_arch(arch)])


def peft_name_to_gguf(name: str, arch: Any = "gemma3", n_layers: int = 18) -> str:
    """``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`` ->
    ``blk.3.attn_q.weight.lora_a``.

    Accepts names with or without the ``base_model.model.`` prefix, with an adapter name
    (``lora_A.default.weight``) and with a multimodal ``language_model`` prefix. Raises
    ValueError for anything that is not a LoRA A/B weight of a base tensor (embeddings and
    ``lm_head`` included: the Gemma head is tied to the embedding and not adaptable here).
    """
    match = _PEFT_RE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a PEFT LoRA weight (…lora_A/lora_B.weight)")
    module = match["module"]
    for prefix, replacement in _PREFIXES:
        if module.startswith(prefix):
            module = replacement + module[len(prefix) :]
    base = _tensor_name_map(_model_arch(arch), n_layers).get_name(
        module + ".weight", try_suffixes=(".weight",)
    )
    if base is None or not _BLOCK_RE.match(base):
        raise ValueError(f"{name!r} does not map to a layer weight of {arch_name(arch)}")
    return f"{base}.lora_{match['ab'].lower()}"


def _digest_update(digest: Any, name: str, ne: Iterable[int], ggml_type: int, data: bytes) -> None:
    shape = tuple(ne)
    digest.update(name.encode("utf-8") + b"\0")
    digest.update(struct.pack(f"<I{len(shape)}QI", len(shape), *shape, ggml_type))
    digest.update(data)


def _sort_key(gguf_name: str) -> tuple[int, str]:
    match = _BLOCK_RE.match(gguf_name)
    return (int(match.group(1)) if match else -1, gguf_name)


def write_lora_gguf(
    out_path: Path,
    tensors: Mapping[str, npt.ArrayLike],
    *,
    alpha: float,
    arch: str = "gemma3",
    n_layers: int,
    dtype: Literal["f16", "f32"] = "f16",
    name: str | None = None,
) -> dict[str, Any]:
    """Write PEFT LoRA weights (``{peft name: array}``) as a llama.cpp GGUF adapter.

    Every ``lora_A`` needs its ``lora_B`` (``A: [r, in]``, ``B: [out, r]``, as PEFT stores
    them). Values are converted to ``dtype`` and must stay finite. The file is written to a
    temporary name in the same directory, fsynced and renamed into place, so readers see the
    old file or the new one, never a partial one. Returns :func:`read_lora_gguf_info` of the
    written file.
    """
    import gguf

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, not {dtype!r}")
    if not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive number, not {alpha!r}")
    np_dtype, ggml_type = _DTYPES[dtype]
    mapped: dict[str, npt.NDArray[Any]] = {}
    for peft_name, value in tensors.items():
        gguf_name = peft_name_to_gguf(peft_name, arch, n_layers)
        if gguf_name in mapped:
            raise ValueError(f"two tensors map to {gguf_name} ({peft_name!r} is the second)")
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        if array.ndim != 2:
            raise ValueError(f"{peft_name!r} has shape {array.shape}; LoRA weights are 2-D")
        converted = np.ascontiguousarray(array.astype(np_dtype))
        if not np.isfinite(converted).all():
            raise ValueError(f"{peft_name!r} has values that are not finite as {dtype}")
        mapped[gguf_name] = converted
    if not mapped:
        raise ValueError("no LoRA tensors to write")
    for gguf_name, array in mapped.items():
        base = gguf_name.rsplit(".", 1)[0]
        other = mapped.get(base + (".lora_b" if gguf_name.endswith("_a") else ".lora_a"))
        if other is None:
            raise ValueError(f"{base} has only one of lora_a / lora_b")
        if gguf_name.endswith("_a") and array.shape[0] != other.shape[1]:
            raise ValueError(
                f"{base}: lora_A {array.shape} and lora_B {other.shape} disagree on the rank "
                "(expected A [r, in] and B [out, r])"
            )

    order = sorted(mapped, key=_sort_key)
    digest = hashlib.sha256()
    for gguf_name in order:
        array = mapped[gguf_name]
        _digest_update(digest, gguf_name, reversed(array.shape), ggml_type, array.tobytes())

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(tmp, arch_name(arch))
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(ADAPTER_TYPE_KEY, "lora")
        writer.add_float32(ADAPTER_ALPHA_KEY, float(alpha))
        if name:
            writer.add_name(name)
        writer.add_string(TENSOR_SHA256_KEY, digest.hexdigest())
        for gguf_name in order:
            writer.add_tensor(gguf_name, mapped[gguf_name])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(out_path.parent, best_effort=True)
    return read_lora_gguf_info(out_path)


def read_lora_gguf_info(path: Path) -> dict[str, Any]:
    """Check a LoRA GGUF in pure Python and describe it.

    Returns ``{"path", "architecture", "alpha", "rank", "tensor_count", "names", "shapes",
    "types", "size_bytes", "tensor_sha256", "checksum_verified"}`` (``shapes`` in GGUF ``ne``
    order; ``checksum_verified`` is None for files without a famtune digest). Raises
    :class:`ModelFileError` for a missing, truncated, corrupt or non-adapter file.
    """
    from engine.gguf.reader import verify_gguf

    path = Path(path)
    summary = verify_gguf(path, what="adapter file")
    meta = summary.metadata
    if meta.get("general.type") != "adapter":
        raise ModelFileError(f"{path.name} is not an adapter (general.type is not 'adapter')")
    if meta.get(ADAPTER_TYPE_KEY) != "lora":
        raise ModelFileError(f"{path.name} is not a LoRA adapter ({ADAPTER_TYPE_KEY} != 'lora')")
    alpha = meta.get(ADAPTER_ALPHA_KEY)
    if not isinstance(alpha, float) or not math.isfinite(alpha) or alpha <= 0:
        raise ModelFileError(f"{path.name} has no valid {ADAPTER_ALPHA_KEY}")
    if not summary.tensors:
        raise ModelFileError(f"{path.name} has no tensors")

    shapes = {t.name: t.shape for t in summary.tensors}
    types = {t.name: t.type_name for t in summary.tensors}
    ranks: set[int] = set()
    for info in summary.tensors:
        if info.ggml_type not in _ADAPTER_TYPES:
            raise ModelFileError(f"{path.name}: tensor {info.name} has type {info.type_name}")
        if len(info.shape) != 2:
            raise ModelFileError(f"{path.name}: tensor {info.name} is not 2-D")
        if info.name.endswith(".lora_a"):
            partner = info.name[: -len("_a")] + "_b"
        elif info.name.endswith(".lora_b"):
            partner = info.name[: -len("_b")] + "_a"
        else:
            raise ModelFileError(f"{path.name}: tensor {info.name} is not a lora_a/lora_b")
        if partner not in shapes:
            raise ModelFileError(f"{path.name}: {info.name} has no {partner}")
        if info.name.endswith("_a"):
            rank = info.shape[1]
            if shapes[partner][0] != rank:
                raise ModelFileError(
                    f"{path.name}: {info.name} {list(info.shape)} and {partner} "
                    f"{list(shapes[partner])} disagree on the rank"
                )
            ranks.add(rank)

    expected = meta.get(TENSOR_SHA256_KEY)
    found: str | None = None
    if expected is not None:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                for info in summary.tensors:
                    handle.seek(info.offset)
                    data = handle.read(info.n_bytes)
                    if len(data) != info.n_bytes:
                        raise ModelFileError(f"{path.name} is truncated")
                    _digest_update(digest, info.name, info.shape, info.ggml_type, data)
        except OSError as exc:
            raise ModelFileError(f"cannot read adapter file {path}: {exc}") from exc
        found = digest.hexdigest()
        if found != expected:
            raise ModelFileError(
                f"adapter file {path.name} failed its checksum; the file is corrupt"
            )

    return {
        "path": str(path),
        "architecture": summary.architecture,
        "alpha": float(alpha),
        "rank": max(ranks),
        "tensor_count": summary.tensor_count,
        "names": sorted(shapes, key=_sort_key),
        "shapes": shapes,
        "types": types,
        "size_bytes": summary.size_bytes,
        "tensor_sha256": found,
        "checksum_verified": None if expected is None else True,
    }


def verify_lora_gguf(
    path: Path, *, architecture: str, base_tensors: Mapping[str, tuple[int, ...]]
) -> dict[str, Any]:
    """:func:`read_lora_gguf_info` plus the checks against a base model that llama.cpp
    would make: same architecture, every target tensor exists in the base, and
    ``lora_a.ne == [in, r]`` / ``lora_b.ne == [r, out]`` for a base weight of ``ne = [in, out]``.
    ``base_tensors`` maps base tensor names to their ``ne`` shape. Raises ModelFileError.
    """
    info = read_lora_gguf_info(path)
    name = Path(path).name
    if info["architecture"] != architecture:
        raise ModelFileError(
            f"adapter {name} is for {info['architecture']!r}, the base model is {architecture!r}"
        )
    shapes: dict[str, tuple[int, ...]] = info["shapes"]
    for tensor, shape in shapes.items():
        target = tensor.rsplit(".", 1)[0]
        base_shape = base_tensors.get(target)
        if base_shape is None:
            raise ModelFileError(f"adapter {name}: {target} does not exist in the base model")
        if len(base_shape) != 2:
            raise ModelFileError(f"adapter {name}: {target} is not a matrix in the base model")
        if tensor.endswith("_a") and shape[0] != base_shape[0]:
            raise ModelFileError(
                f"adapter {name}: {tensor} has ne {list(shape)}, the base {target} has "
                f"{list(base_shape)} (lora_a must be [in, r]; A/B transposed?)"
            )
        if tensor.endswith("_b") and shape[1] != base_shape[1]:
            raise ModelFileError(
                f"adapter {name}: {tensor} has ne {list(shape)}, the base {target} has "
                f"{list(base_shape)} (lora_b must be [r, out]; A/B transposed?)"
            )
    return info
