"""Getting a gemmi Structure out of a path or bytes: size limits, gzip, format detection, error wrapping.

The format is detected from the content, never from the file name: gzip magic bytes -> decompress and look
again; first non-comment line ``data_...`` -> mmCIF; first character ``{`` -> mmJSON; anything else -> PDB
(``.ent``, ``.txt``, no extension and headerless PDB files all work). Every failure becomes a
:class:`ProtsteerError` with a one-line reason.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import gemmi

from protsteer.errors import ProtsteerError
from protsteer.io.inputs import structure_stem

GZIP_MAGIC = b"\x1f\x8b"
_BINARY_PROBE = 65536
_TEXT_BYTES = b"\t\n\r" + bytes(range(32, 127))
_ASCII_ONLY = bytes(range(128)) + b"?" * 128
# An ATOM/HETATM record with a digit in the element columns 77-78: an old-style PDB line whose columns
# 73-80 hold an id and a serial number ("1ACB1930"), not segment/element/charge.
_NUMERIC_ELEMENT = re.compile(rb"^(?:ATOM  |HETATM)[^\n]{70}(?:[0-9][^\n]|[^\n][0-9])", re.MULTILINE)
_ATOM_TAIL = re.compile(rb"^((?:ATOM  |HETATM)[^\n]{66})[^\n\r]*", re.MULTILINE)
_JSON_SUFFIXES = (".mmjson", ".json")


def default_structure_id(path: str | os.PathLike[str]) -> str:
    """File name without ``.gz`` and a structure suffix (``.pdb .ent .cif .mmcif .mmjson .json``...).

    ``1abc.cif.gz -> 1abc``, ``pdb1abc.ent.gz -> pdb1abc`` (the ``pdb`` prefix is kept: ids are file names,
    not PDB codes), ``model_01 -> model_01``. Same rule as :func:`protsteer.io.inputs.structure_stem`
    (plus the mmJSON suffixes), so ids from ``read_structure`` match the ids the CLI assigns.
    """
    stem = structure_stem(path)
    lower = stem.lower()
    for suffix in _JSON_SUFFIXES:
        if lower.endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def load_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The raw bytes of a file, refusing directories, unreadable files and files above ``max_bytes``."""
    try:
        size = os.stat(path).st_size
        if Path(path).is_dir():
            raise ProtsteerError("is a directory, not a structure file", path)
        if size > max_bytes:
            raise ProtsteerError(f"file too large ({size} bytes > limit {max_bytes})", path)
        with open(path, "rb") as handle:
            return handle.read(max_bytes + 1)
    except FileNotFoundError as err:
        raise ProtsteerError("no such file", path) from err
    except PermissionError as err:
        raise ProtsteerError("permission denied", path) from err
    except OSError as err:
        raise ProtsteerError(f"cannot read file: {err.strerror or err.__class__.__name__}", path) from err


def decompress(data: bytes, max_bytes: int, path: str | None) -> tuple[bytes, bool]:
    """``(content, was_gzipped)``; gzip (also multi-member) is inflated with a size ceiling."""
    if not data.startswith(GZIP_MAGIC):
        return data, False
    pieces: list[bytes] = []
    total = 0
    remaining = data
    try:
        while remaining.startswith(GZIP_MAGIC):
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            while remaining:
                chunk = inflater.decompress(remaining, max_bytes + 1 - total)
                pieces.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise ProtsteerError(f"decompressed content exceeds the limit of {max_bytes} bytes", path)
                if inflater.eof:
                    break
                remaining = inflater.unconsumed_tail
            if not inflater.eof:
                raise ProtsteerError("truncated gzip data", path)
            remaining = inflater.unused_data
    except zlib.error as err:
        raise ProtsteerError(f"corrupt gzip data ({err})", path) from err
    return b"".join(pieces), True


def detect_format(content: bytes) -> str:
    """``"mmcif"``, ``"mmjson"`` or ``"pdb"`` from the first meaningful bytes of uncompressed content."""
    for raw_line in content[:_BINARY_PROBE].splitlines():
        line = raw_line.strip()
        if not line or line.startswith(b"#"):
            continue
        if line.startswith(b"{"):
            return "mmjson"
        return "mmcif" if line[:5].lower() == b"data_" else "pdb"
    return "pdb"


def check_text(content: bytes, path: str | None) -> None:
    """Raise for empty content and for binary data (NUL bytes or mostly non-text bytes)."""
    if not content.strip():
        raise ProtsteerError("empty file", path)
    probe = content[:_BINARY_PROBE]
    if b"\x00" in probe:
        raise ProtsteerError("binary data, not a PDB/mmCIF/mmJSON text file", path)
    if len(probe.translate(None, _TEXT_BYTES)) > 0.1 * len(probe):
        raise ProtsteerError("binary data, not a PDB/mmCIF/mmJSON text file", path)


def has_misused_tail_columns(content: bytes) -> bool:
    """True when some ATOM/HETATM line of a PDB file has digits in the element columns (77-78)."""
    return _NUMERIC_ELEMENT.search(content) is not None


def strip_atom_tails(content: bytes) -> bytes:
    """PDB content with columns 73-80 (segment id, element, charge) of ATOM/HETATM lines removed; gemmi then
    infers elements from the atom names."""
    return _ATOM_TAIL.sub(rb"\1", content)


def parse_gemmi(content: bytes, source_format: str, path: str | None) -> gemmi.Structure:
    """Parse uncompressed content with gemmi; parser errors become :class:`ProtsteerError`."""
    # Non-ASCII bytes (author names in remarks, corruption) become '?': one byte for one byte, so PDB
    # columns stay aligned, and gemmi never sees invalid UTF-8.
    text = content.translate(_ASCII_ONLY).decode("ascii")
    try:
        if source_format == "pdb":
            return gemmi.read_pdb_string(text)
        if source_format == "mmjson":
            document = gemmi.cif.read_mmjson_string(text)
        else:
            document = gemmi.cif.read_string(text)
        if len(document) == 0:
            raise ProtsteerError(f"no data block in {source_format} file", path)
        return gemmi.make_structure_from_block(document[0])
    except ProtsteerError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError, MemoryError, UnicodeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        raise ProtsteerError(f"cannot parse {source_format}: {first_line[:200]}", path) from err
