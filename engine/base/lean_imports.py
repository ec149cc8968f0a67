"""Keep optional heavy packages out of a process that does not need them.

spaCy's thinc and Presidio both try ``import torch`` (and Presidio ``import transformers``)
when they load, only to ask whether a GPU is there. famtune uses spaCy for a rule
lemmatizer's lookup tables and a small CPU pipeline, and trains in a separate worker
process, so in the app, the CLI and a training job's main process those imports only cost
memory: measured, building the safety lemmatizer took a process from 129 MB to 484 MB RSS
with them, and a training job's main process held about 450 MB of it while its worker
trained.

:func:`without` refuses the named top-level packages to the current thread while its block
runs (other threads import as usual), so the libraries take their "not installed" path. A
package that is already imported is left alone, and nothing stops a later import outside
the block.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

NOT_NEEDED = ("torch", "transformers")


class _ImportBlocker(importlib.abc.MetaPathFinder):
    """Refuses some top-level packages to one thread, for as long as it is installed."""

    def __init__(self, names: frozenset[str], thread_id: int, why: str) -> None:
        self.names = names
        self.thread_id = thread_id
        self.why = why

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if threading.get_ident() == self.thread_id and fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is not loaded for {self.why}", name=fullname)
        return None


@contextmanager
def without(why: str, names: Sequence[str] = NOT_NEEDED) -> Iterator[None]:
    """Within the block, importing ``names`` in this thread fails as if not installed."""
    blocked = frozenset(n for n in names if n not in sys.modules)
    blocker = _ImportBlocker(blocked, threading.get_ident(), why)
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
