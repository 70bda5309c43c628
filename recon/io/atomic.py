"""Atomic outputs: a file or folder appears complete under its final name, or not at all.

Everything is first written to a hidden sibling (``.<name>.tmp-<pid>-<random>``) and renamed
onto the final path with ``os.replace`` once it is complete, so an interrupted job never
leaves a half-written output that a later run would take for a finished one.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


def _temp_sibling(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary sibling path to write into; rename it onto ``path`` on success.

    Works for files and folders (a Zarr store is a folder). An existing ``path`` is replaced.
    On an exception the temporary path is removed and ``path`` is left untouched; temporary
    siblings left by a killed earlier writer of ``path`` are removed first.

    Example:
        >>> with atomic_path(out) as tmp:  # doctest: +SKIP
        ...     tmp.write_text("done")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A process killed outright (SIGKILL, node failure) cannot clean up after itself; its
    # leftovers are removed by the next writer of the same path (there is one writer per path).
    for stale in path.parent.glob(f".{glob.escape(path.name)}.tmp-*"):
        _remove(stale)
    tmp = _temp_sibling(path)
    try:
        yield tmp
        old = None
        if path.is_dir() and not path.is_symlink():
            # A folder cannot be replaced in one step: move the old one aside first, so
            # ``path`` is never missing while a complete version exists.
            old = path.parent / f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    if old is not None:
        _remove(old)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
