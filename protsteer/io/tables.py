"""Tidy tables in tsv, csv, jsonl or parquet: typed columns, streaming atomic writers, readers.

A table has a fixed list of :class:`Column` (name + kind ``str``/``int``/``float``). Rows are dicts (or
sequences in column order). Writers stream rows to a temporary file that replaces the target only when the
table is complete (:mod:`protsteer.io.atomic`), so a killed run never leaves a truncated table.

Value conventions, the same in every format: ``None`` is an empty cell (null in jsonl/parquet), floats are
rounded to :data:`FLOAT_DIGITS` significant digits (so a table read back and rewritten is identical, whatever
the format), text cells never contain tabs or newlines in tsv. Parquet needs the optional ``pyarrow``
dependency (``pip install 'protsteer[parquet]'``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_open

FORMATS = ("tsv", "csv", "jsonl", "parquet")
FLOAT_DIGITS = 6
PARQUET_ROW_GROUP = 65536

_SUFFIXES = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_KINDS = ("str", "int", "float")
_TSV_UNSAFE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


@dataclass(frozen=True)
class Column:
    """One table column: ``name`` and ``kind`` (``"str"``, ``"int"`` or ``"float"``)."""

    name: str
    kind: str = "str"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"column kind must be one of {_KINDS}, not {self.kind!r}")


def format_from_path(path: str | os.PathLike[str]) -> str:
    """The table format implied by a file suffix (``.tsv .csv .jsonl .parquet``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ProtsteerError(f"unknown table suffix {suffix!r} (use one of {', '.join(_SUFFIXES)})", path)
    return _SUFFIXES[suffix]


def check_format(fmt: str) -> str:
    """Validate a format name; for parquet also check that pyarrow is importable."""
    if fmt not in FORMATS:
        raise ProtsteerError(f"unknown table format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "parquet":
        _pyarrow()
    return fmt


def select_columns(columns: Sequence[Column], names: Sequence[str] | None) -> list[Column]:
    """The columns named in ``names`` (in that order); all of ``columns`` when ``names`` is None/empty."""
    if not names:
        return list(columns)
    by_name = {column.name: column for column in columns}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ProtsteerError(
            f"unknown column(s) {', '.join(unknown)}; available: {' '.join(c.name for c in columns)}"
        )
    if len(set(names)) != len(names):
        raise ProtsteerError("--columns lists a column twice")
    return [by_name[name] for name in names]


def round_float(value: float) -> float:
    """``value`` rounded to :data:`FLOAT_DIGITS` significant digits (what every format stores)."""
    if not math.isfinite(value):
        return value
    return float(f"{value:.{FLOAT_DIGITS}g}")


def _text_cell(value: Any, kind: str) -> str:
    if value is None or value == "":
        return ""
    if kind == "float":
        return f"{float(value):.{FLOAT_DIGITS}g}"
    if kind == "int":
        return str(int(value))
    return str(value)


def _typed_cell(value: Any, kind: str) -> Any:
    """A cell as stored in jsonl/parquet: str ("" for None), rounded float, int, None for no number."""
    if kind == "str":
        return "" if value is None else str(value)
    if value is None or value == "":
        return None
    return round_float(float(value)) if kind == "float" else int(value)


def _parse_cell(text: str, kind: str) -> Any:
    if kind == "str":
        return text
    if text == "":
        return None
    return float(text) if kind == "float" else int(text)


class TableWriter:
    """Stream rows into a table file that appears atomically on :meth:`close` (or leaving a ``with``).

    Args:
        path: the table file.
        columns: the schema, in output order.
        fmt: ``tsv``, ``csv``, ``jsonl`` or ``parquet``; default from the suffix of ``path``.
        sync_directory: see :func:`protsteer.io.atomic.atomic_open`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        columns: Sequence[Column],
        fmt: str | None = None,
        *,
        sync_directory: bool = True,
    ) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.fmt = check_format(fmt or format_from_path(path))
        self.n_rows = 0
        self._names = [column.name for column in self.columns]
        self._context: AbstractContextManager[IO[Any]] | None = atomic_open(
            self.path, "wb", sync_directory=sync_directory
        )
        self._handle = self._context.__enter__()
        self._buffer: list[list[Any]] = []
        self._parquet_writer: Any = None  # pyarrow.parquet.ParquetWriter (pyarrow is optional)
        self._csv: Any = None  # csv writer for fmt "csv"
        # tsv fast path: one %-format per row (%.6g formats a float exactly like f"{value:.6g}")
        specs = {"str": "%s", "int": "%d", "float": f"%.{FLOAT_DIGITS}g"}
        self._line_format = "\t".join(specs[c.kind] for c in self.columns) + "\n"
        self._text_positions = [i for i, c in enumerate(self.columns) if c.kind == "str"]  # None -> "None"
        if self.fmt in ("tsv", "csv"):
            self._text = io.TextIOWrapper(self._handle, encoding="utf-8", newline="", write_through=True)
            self._csv = csv.writer(self._text, lineterminator="\n") if self.fmt == "csv" else None
            self._write_text_row(self._names)

    def _write_text_row(self, cells: Sequence[str]) -> None:
        if self._csv is not None:
            self._csv.writerow(cells)
        else:
            self._text.write("\t".join(cell.translate(_TSV_UNSAFE) for cell in cells) + "\n")

    def write_row(self, row: Mapping[str, Any] | Sequence[Any]) -> None:
        """Append one row (a mapping by column name, missing names = empty, or a sequence in column order)."""
        values = [row.get(name) for name in self._names] if isinstance(row, Mapping) else list(row)
        if len(values) != len(self.columns):
            raise ValueError(f"row has {len(values)} values for {len(self.columns)} columns")
        self.n_rows += 1
        if self.fmt == "tsv" and not any(values[i] is None for i in self._text_positions):
            try:
                line = self._line_format % tuple(values)
            except TypeError:  # e.g. "" in a number column
                line = ""
            if line.count("\t") == len(values) - 1 and line.find("\n") == len(line) - 1 and "\r" not in line:
                self._text.write(line)
                return
        if self.fmt in ("tsv", "csv"):
            self._write_text_row([_text_cell(v, c.kind) for v, c in zip(values, self.columns, strict=True)])
        elif self.fmt == "jsonl":
            record = {c.name: _typed_cell(v, c.kind) for v, c in zip(values, self.columns, strict=True)}
            self._handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        else:
            self._buffer.append([_typed_cell(v, c.kind) for v, c in zip(values, self.columns, strict=True)])
            if len(self._buffer) >= PARQUET_ROW_GROUP:
                self._flush_parquet()

    def write_rows(self, rows: Iterable[Mapping[str, Any] | Sequence[Any]]) -> None:
        """Append rows."""
        for row in rows:
            self.write_row(row)

    def write_cells(self, cells: Sequence[str]) -> None:
        """Append one row given as text cells in this module's conventions (as read from a tsv table written
        here): copied as text to tsv/csv, converted to the column kinds for jsonl/parquet."""
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells for {len(self.columns)} columns")
        if self.fmt == "tsv":
            self.n_rows += 1
            self._text.write("\t".join(cells) + "\n")
        elif self.fmt == "csv":
            self.n_rows += 1
            self._write_text_row(cells)
        else:
            self.write_row([_parse_cell(cell, c.kind) for cell, c in zip(cells, self.columns, strict=True)])

    def _flush_parquet(self) -> None:
        pa, pq = _pyarrow()
        schema = _arrow_schema(self.columns)
        if self._parquet_writer is None:
            self._parquet_writer = pq.ParquetWriter(self._handle, schema)
        arrays = [
            pa.array([row[i] for row in self._buffer], type=schema.field(i).type)
            for i in range(len(self.columns))
        ]
        self._parquet_writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        self._buffer = []

    def close(self) -> None:
        """Finish the table and move it into place."""
        if self._context is None:
            return
        if self.fmt in ("tsv", "csv"):
            self._text.flush()
            self._text.detach()
        elif self.fmt == "parquet":
            if self._buffer or self._parquet_writer is None:
                self._flush_parquet()
            self._parquet_writer.close()
        context, self._context = self._context, None
        context.__exit__(None, None, None)

    def abort(self) -> None:
        """Discard the table (the target file is left as it was)."""
        if self._context is None:
            return
        if self.fmt in ("tsv", "csv"):
            self._text.detach()
        context, self._context = self._context, None
        context.__exit__(RuntimeError, RuntimeError("table write aborted"), None)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(
    path: str | os.PathLike[str],
    columns: Sequence[Column],
    rows: Iterable[Mapping[str, Any] | Sequence[Any]],
    fmt: str | None = None,
    *,
    sync_directory: bool = True,
) -> int:
    """Write a whole table atomically; returns the number of rows (``sync_directory``: see
    :func:`protsteer.io.atomic.atomic_open`)."""
    with TableWriter(path, columns, fmt, sync_directory=sync_directory) as writer:
        writer.write_rows(rows)
        return writer.n_rows


def read_header(path: str | os.PathLike[str], fmt: str | None = None) -> list[str]:
    """Column names of a table file."""
    fmt = fmt or format_from_path(path)
    if fmt in ("tsv", "csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            line = handle.readline().rstrip("\r\n")
        return next(csv.reader([line])) if fmt == "csv" else line.split("\t")
    if fmt == "parquet":
        _, pq = _pyarrow()
        return list(pq.read_schema(path).names)
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    return list(json.loads(first)) if first.strip() else []


def iter_rows(
    path: str | os.PathLike[str],
    columns: Sequence[Column] | None = None,
    fmt: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of a table as dicts. With ``columns``, cells of tsv/csv are converted to their kinds (empty ->
    None for numbers); without, tsv/csv cells stay strings."""
    fmt = fmt or format_from_path(path)
    kinds = {column.name: column.kind for column in columns or ()}
    if fmt in ("tsv", "csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                reader: Iterator[list[str]] = csv.reader(handle)
            else:
                reader = (line.rstrip("\r\n").split("\t") for line in handle)
            header = next(reader, None)
            if header is None:
                return
            for cells in reader:
                if len(cells) != len(header):
                    raise ProtsteerError(
                        f"row with {len(cells)} cells under a {len(header)}-column header", path
                    )
                yield {
                    name: _parse_cell(cell, kinds.get(name, "str"))
                    for name, cell in zip(header, cells, strict=True)
                }
    elif fmt == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)
    else:
        _, pq = _pyarrow()
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches():
            yield from batch.to_pylist()


def _arrow_schema(columns: Sequence[Column]):
    pa, _ = _pyarrow()
    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
    return pa.schema([(column.name, types[column.kind]) for column in columns])


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ProtsteerError(
            "parquet output needs pyarrow: pip install 'protsteer[parquet]' (or use --format tsv|csv|jsonl)"
        ) from err
    return pa, pq
