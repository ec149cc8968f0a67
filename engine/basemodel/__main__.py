"""``python -m engine.basemodel build-training-cache ...``: the training copy's builder,
run in a subprocess by :func:`engine.basemodel.training_copy.prepare_training_cache`.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from engine.base.errors import FamtuneError
from engine.basemodel.training_copy import build_training_cache

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


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
        build_training_cache(args.gguf, args.out, args.sha256, report)
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
