"""The training copy of the base model.

transformers dequantizes the GGUF on every load (about 40 s and a 3.2 GB peak here).
:func:`prepare_training_cache` does that once, in a subprocess, and saves bf16 safetensors
(memory-mapped when loaded), a clean ``config.json`` and the fast tokenizer.
``save_pretrained`` cannot be used on the GGUF-loaded model: transformers keeps the
``GgufHfQuantizer`` on it, whose ``is_serializable()`` is always False, so
``save_pretrained`` raises "The model is quantized with gguf and is not serializable" even
though every weight is already a plain bf16 tensor. The config would also keep
``quantization_config`` (``quant_method: gguf``), and a reload would go through the GGUF
path again. So the state dict is written with safetensors directly (the tied ``lm_head``
left out) and the config is saved without its quantization section.

torch and transformers are imported inside the functions that need them only.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.base.child_env import child_env, set_offline_env
from engine.base.errors import FamtuneError, JobCancelled, ModelFileError
from engine.base.fileio import fsync_tree, normalize_sha256, swap_dir, write_json_atomic
from engine.base.paths import DataDir
from engine.basemodel.layout import (
    CACHE_FORMAT,
    CACHE_REQUIRED_FILES,
    CACHE_STAMP_NAME,
    CACHE_WEIGHTS_NAME,
    TRAIN_CACHE_DIRNAME,
    ProgressFn,
    TrainingDtype,
    read_json,
    remove_stale_temps,
    utcnow_iso,
)
from engine.gguf.reader import verify_gguf

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

log = logging.getLogger(__name__)


def training_cache_dir(data_dir: DataDir, sha256: str) -> Path:
    """``<home>/base/train-cache/<sha256[:16]>``: the training copy of one GGUF file."""
    sha = normalize_sha256(sha256)
    if sha is None:
        raise ModelFileError(f"{sha256!r} is not a sha256")
    return data_dir.base_dir / TRAIN_CACHE_DIRNAME / sha[:16]


def read_training_cache_stamp(cache_dir: Path) -> dict[str, Any] | None:
    """The ``cache.json`` of a training copy, or None if it is missing or unreadable."""
    return read_json(Path(cache_dir) / CACHE_STAMP_NAME)


def is_training_cache_ready(cache_dir: Path, expected_sha256: str | None = None) -> bool:
    """Whether ``cache_dir`` holds a complete training copy (of ``expected_sha256``, or of
    the GGUF whose sha256 starts with the directory's name)."""
    cache_dir = Path(cache_dir)
    stamp = read_training_cache_stamp(cache_dir)
    if stamp is None or stamp.get("format") != CACHE_FORMAT:
        return False
    source = stamp.get("source_sha256")
    if not isinstance(source, str) or normalize_sha256(source) is None:
        return False
    if expected_sha256 is not None:
        if normalize_sha256(expected_sha256) != source:
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


def _run_builder_subprocess(
    gguf_path: Path,
    out_dir: Path,
    sha: str,
    progress: ProgressFn | None,
    timeout_s: float,
    cancel: threading.Event | None = None,
) -> None:
    env = child_env()
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
        ended = threading.Event()

        def stop_on_cancel() -> None:
            while cancel is not None and not ended.wait(0.5):
                if cancel.is_set():
                    proc.kill()
                    return

        threading.Thread(target=stop_on_cancel, daemon=True).start()
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
            ended.set()
        if cancel is not None and cancel.is_set():
            raise JobCancelled("preparing the training copy was cancelled")
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
    cancel: threading.Event | None = None,
) -> Path:
    """Make the memory-mappable training copy of ``gguf_path``, once, and return its dir.

    Loads the GGUF with transformers (dequantizing it; about 40 s and a 3.2 GB peak on a
    2-core x86), in a subprocess by default so the peak does not stay in the caller, and
    writes bf16 safetensors, config.json (no ``quantization_config``), the fast tokenizer
    and ``cache.json`` into a temp dir that is renamed into place. If the copy is already
    there, returns at once. ``progress(step, total_steps)``. Setting ``cancel`` stops the
    builder within a second (JobCancelled; nothing is left behind).
    """
    gguf_path = Path(gguf_path)
    if sha256 is not None:
        verify_gguf(gguf_path, expected_sha256=sha256, what="base model file")
        sha = normalize_sha256(sha256)
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
        remove_stale_temps(root, ".*.tmp")
        remove_stale_temps(root, ".*.old")
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            if in_subprocess:
                _run_builder_subprocess(gguf_path, tmp, sha, progress, timeout_s, cancel)
            else:
                build_training_cache(gguf_path, tmp, sha, progress)
            if not is_training_cache_ready(tmp, sha):
                raise ModelFileError("the training copy came out incomplete")
            os.chmod(tmp, 0o755)
            swap_dir(tmp, final, root / f".{final.name}.{os.getpid()}.old")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
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


def build_training_cache(
    gguf_path: Path, out_dir: Path, sha: str, progress: ProgressFn | None = None
) -> None:
    """Runs in the builder process: GGUF -> bf16 safetensors + config + fast tokenizer."""
    set_offline_env()
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
    tok_config = read_json(tok_config_path) or {}
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
    config_json = read_json(config_path)
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
        "created_at": utcnow_iso(),
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
    write_json_atomic(out_dir / CACHE_STAMP_NAME, stamp)
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
    set_offline_env()
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
    set_offline_env()
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
