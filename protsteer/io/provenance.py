"""``run.json``: what produced an output directory (tool, weights, arguments, device, libraries, inputs)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from protsteer import __version__
from protsteer.io.atomic import atomic_write_text

RUN_JSON = "run.json"
_LIBRARIES = ("torch", "numpy", "gemmi", "click", "tqdm", "pyarrow", "e3nn")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change results (absent ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def now_utc() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def base_record(command: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The parts of run.json every command shares."""
    return {
        "tool": "protsteer",
        "version": __version__,
        "command": command,
        "argv": list(sys.argv),
        "arguments": arguments,
        "cwd": os.getcwd(),
        "host": platform.node(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "started": now_utc(),
    }


def write_run_json(directory: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``directory/run.json`` atomically (JSON, sorted keys, paths as strings)."""
    path = Path(directory) / RUN_JSON
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path
