"""The single exception type for user-facing errors.

Library code raises :class:`ProtsteerError` (never ``sys.exit``, never prints); the CLI turns it into
``protsteer: error: <file>: <reason>`` and exit code 1.
"""

from __future__ import annotations

from os import PathLike


class ProtsteerError(Exception):
    """A user-facing error: bad input file, bad option, missing weights.

    Args:
        message: one line saying what is wrong (no traceback, no newline).
        path: the file the problem is about, if any; shown before the message.
    """

    def __init__(self, message: str, path: str | PathLike[str] | None = None) -> None:
        self.message = " ".join(str(message).split())
        self.path = None if path is None else str(path)
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``<file>: <reason>`` or just ``<reason>``."""
        return f"{self.path}: {self.message}" if self.path else self.message
