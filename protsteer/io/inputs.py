"""Command-line inputs -> a sorted, de-duplicated list of structure files with safe, unique ids.

Accepted input specs (as on the command line):

- a file: taken as is, whatever its suffix;
- a directory: searched recursively (hidden entries skipped, symlinked directories not followed) for files
  whose name matches an ``include`` pattern (default: structure suffixes ``.pdb .ent .cif .mmcif`` and
  their ``.gz``) and no ``exclude`` pattern; a pattern without ``/`` matches the file name, one with ``/``
  matches the path relative to the directory;
- ``@list.txt``: one spec per line (files or directories; blank lines and ``#`` comments skipped; relative
  paths are relative to the current directory, as in a shell);
- ``-``: the same, read from standard input.

Every structure gets a ``structure_id`` derived from its file name (structure suffixes removed) and sanitised
to ``[A-Za-z0-9._-]`` so it can name output files without escaping the output directory. Two files with the
same id in the same directory (``x.pdb.gz`` and ``x.cif.gz``) or with identical content are duplicates: the
first in sorted order is kept, the others are reported in :attr:`InputSet.duplicates`. Different structures
that happen to share a name get the parent directory prefixed (``dirA__x``), then a counter.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from protsteer.errors import ProtsteerError

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".mcif", ".pdbx", ".mmjson")
DEFAULT_INCLUDE = tuple(f"*{suffix}{gz}" for suffix in STRUCTURE_SUFFIXES for gz in ("", ".gz"))
MAX_ID_LENGTH = 160

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class InputFile:
    """One structure file to process.

    Attributes:
        path: the file, as given or found (relative paths stay relative to the current directory).
        structure_id: unique, filesystem-safe name used in tables and output file names.
    """

    path: Path
    structure_id: str

    @property
    def order_key(self) -> str:
        """The key inputs are sorted by (and shards are cut by): the path as text, ``/``-separated."""
        return self.path.as_posix()


@dataclass(frozen=True)
class DuplicateInput:
    """A file skipped because it holds the same structure as ``kept``."""

    path: Path
    kept: Path
    reason: str


@dataclass
class InputSet:
    """The expanded inputs: ``files`` sorted by path, plus what was skipped and why."""

    files: list[InputFile] = field(default_factory=list)
    duplicates: list[DuplicateInput] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)


def sanitize_id(name: str) -> str:
    """A filesystem-safe id: runs of characters outside ``[A-Za-z0-9._-]`` become ``_``, no leading dot,
    at most :data:`MAX_ID_LENGTH` characters, never empty, ``.`` or ``..``."""
    text = _UNSAFE_ID_CHARS.sub("_", name).lstrip(".")[:MAX_ID_LENGTH]
    return text if text.strip("._-") else "structure"


def structure_stem(path: str | os.PathLike[str]) -> str:
    """The file name without ``.gz`` and a structure suffix: ``1abc.cif.gz -> 1abc``."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    lower = name.lower()
    for suffix in STRUCTURE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ProtsteerError(f"--shard must be I/N with 0 <= I < N, got {text!r}")
    return int(match.group(1)), int(match.group(2))


def shard_files(files: Sequence[InputFile], shard: tuple[int, int] | None) -> list[InputFile]:
    """Every N-th input starting at I (of the sorted list): shards are disjoint and their union is all."""
    if shard is None:
        return list(files)
    index, count = shard
    return [item for position, item in enumerate(files) if position % count == index]


def expand_inputs(
    specs: Sequence[str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    stdin: TextIO | None = None,
) -> InputSet:
    """Expand command-line input specs (see the module docstring) into an :class:`InputSet`.

    Raises :class:`ProtsteerError` for an unreadable list file or when nothing at all was given.
    Nonexistent paths are collected in ``missing`` (the caller reports them without stopping the batch).
    """
    if not specs:
        raise ProtsteerError("no inputs given")
    found: list[Path] = []
    missing: list[Path] = []
    for spec in _flatten_specs(specs, stdin if stdin is not None else sys.stdin):
        path = Path(spec).expanduser()
        if path.is_dir():
            found.extend(_walk(path, include or DEFAULT_INCLUDE, exclude))
        elif path.is_file():
            found.append(path)
        else:
            missing.append(path)
    unique: dict[str, Path] = {}
    for path in found:
        unique.setdefault(os.path.realpath(path), path)
    files, duplicates = _assign_ids(sorted(unique.values(), key=lambda p: p.as_posix()))
    return InputSet(files=files, duplicates=duplicates, missing=missing)


def _flatten_specs(specs: Iterable[str], stdin: TextIO) -> list[str]:
    flat: list[str] = []
    for spec in specs:
        if spec == "-":
            flat.extend(_list_lines(stdin.read().splitlines()))
        elif spec.startswith("@") and len(spec) > 1:
            try:
                lines = Path(spec[1:]).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as err:
                raise ProtsteerError(f"cannot read input list: {err.__class__.__name__}", spec[1:]) from err
            flat.extend(_list_lines(lines))
        else:
            flat.append(spec)
    return flat


def _list_lines(lines: Iterable[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _matches(patterns: Sequence[str], name: str, relative: str) -> bool:
    return any(fnmatch.fnmatch(relative if "/" in p else name, p) for p in patterns)


def _walk(root: Path, include: Sequence[str], exclude: Sequence[str]) -> list[Path]:
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        base = Path(directory)
        for name in sorted(names):
            if name.startswith("."):
                continue
            relative = (base / name).relative_to(root).as_posix()
            if _matches(include, name, relative) and not _matches(exclude, name, relative):
                found.append(base / name)
    return found


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_structure(kept: Path, path: Path, hashes: dict[Path, str]) -> bool:
    """Whether ``path`` duplicates ``kept`` (two files whose ids collide): identical content, or the same
    name in the same directory in another format (``x.pdb.gz`` beside ``x.cif``). Names that only become
    equal when sanitised (``x é.pdb``, ``x è.pdb``) or lower-cased (``X.pdb``, ``x.pdb``) are different
    structures."""
    if hashes[kept] == hashes[path]:
        return True
    return kept.parent == path.parent and structure_stem(kept) == structure_stem(path)


def _assign_ids(paths: list[Path]) -> tuple[list[InputFile], list[DuplicateInput]]:
    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(sanitize_id(structure_stem(path)), []).append(path)
    kept: list[tuple[Path, str]] = []
    duplicates: list[DuplicateInput] = []
    for base_id, group in groups.items():
        if len(group) == 1:
            kept.append((group[0], base_id))
            continue
        distinct: list[Path] = []
        representative: dict[Path, Path] = {}  # every path seen so far -> the kept file it duplicates
        hashes: dict[Path, str] = {}
        for path in group:
            hashes[path] = _file_sha256(path)
            seen = next((p for p in representative if _same_structure(p, path, hashes)), None)
            if seen is None:
                distinct.append(path)
                representative[path] = path
            else:
                same_content = hashes[seen] == hashes[path]
                reason = "identical content" if same_content else "same structure name, other format"
                representative[path] = representative[seen]
                duplicates.append(DuplicateInput(path=path, kept=representative[seen], reason=reason))
        if len({path.parent for path in distinct}) == 1:  # one directory: a counter below tells them apart
            kept.extend((path, base_id) for path in distinct)
        else:
            kept.extend((path, sanitize_id(f"{path.parent.name}__{base_id}")) for path in distinct)
    files: list[InputFile] = []
    used: set[str] = set()
    for path, wanted in sorted(kept, key=lambda item: item[0].as_posix()):
        structure_id, counter = wanted, 1
        while structure_id.lower() in used:  # case-insensitive file systems
            counter += 1
            structure_id = f"{wanted}__{counter}"
        used.add(structure_id.lower())
        files.append(InputFile(path=path, structure_id=structure_id))
    return files, duplicates
