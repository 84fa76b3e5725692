"""Atomic file writes: a temporary file in the target's directory, fsync, then ``os.replace``.

A reader (or a rerun after ``kill -9``) therefore sees either the previous complete file or the new complete
file, never a truncated one. Temporary files are named ``.<name>.tmp-<random>`` so that they are easy to
recognise and clean up (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TEMP_MARKER = ".tmp-"


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    sync_directory: bool = True,
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on clean exit it replaces ``path`` atomically.

    Args:
        path: the final file.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding (ignored for binary mode).
        sync_directory: fsync the directory after the rename, so the rename itself survives a crash. A
            caller that writes many files into one directory may pass False and call
            :func:`fsync_directory` once for all of them before it relies on them.

    On an exception inside the ``with`` block the temporary file is removed and ``path`` is untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARKER}", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding=encoding if text else None, newline="" if text else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp creates 0600; outputs get the usual umask-based mode
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_directory:
        fsync_directory(target.parent)


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0666 minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> int:
    """Delete temporary files left in ``directory`` (not recursive) by an interrupted atomic write.

    Returns the number of files removed.
    """
    removed = 0
    for entry in Path(directory).glob(f".*{TEMP_MARKER}*"):
        if entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make renames into ``directory`` durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
