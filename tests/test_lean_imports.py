"""The safety lemmatizer and the privacy filter load spaCy and Presidio without dragging in
torch and transformers (about 350 MB of RSS each process would otherwise hold)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from engine.base import lean_imports

PROBE = """
import sys
from engine.safety.normalize import lemma
from engine.privacy.filter import warm_up
assert lemma("cookies", "NOUN") == "cooky" or lemma("cookies", "NOUN") == "cookie"
assert lemma("running", "VERB") == "run"
warm_up()
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
import torch  # still importable afterwards, outside the block
print(torch.__name__)
"""


def test_spacy_and_presidio_load_without_torch_or_transformers() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         timeout=300, check=True)  # fmt: skip
    assert out.stdout.split("\n")[:2] == ["[]", "torch"]


def test_the_block_holds_only_in_its_thread_and_only_while_it_runs() -> None:
    name = "famtune_never_installed_probe_pkg"
    seen: list[str] = []

    def other_thread() -> None:
        try:
            __import__(name)
        except ModuleNotFoundError as exc:
            seen.append(str(exc))

    with lean_imports.without("a test", names=(name,)):
        with pytest.raises(ModuleNotFoundError, match="is not loaded for a test"):
            __import__(name)
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert seen and "is not loaded for" not in seen[0]  # the other thread: a plain miss
    assert not any(isinstance(f, lean_imports._ImportBlocker) for f in sys.meta_path)
