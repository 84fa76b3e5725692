"""An output directory that survives ``kill -9``: per-input part files, an append-only manifest, errors.

Layout of ``OUTDIR``::

    parts/<structure_id>.<table>.tsv   one complete part per input and table (written atomically)
    manifest.jsonl                     line 1: the settings; then one line per completed input
    errors.tsv                         file stage error_type message (inputs that failed in this run)
    <table>.<fmt>                      final merged tables, assembled atomically from the parts
    per_input/<structure_id>.<table>.<fmt>   the same, one table per input (--per-input)
    run.json                           provenance (protsteer.io.provenance)

A part is written (atomically) before its manifest line is appended and fsynced, so a manifest line always
points at a complete part; inputs may be recorded in groups, with one fsync of the parts directory and one of
the manifest per group (:meth:`RunDirectory.store_parts`, :meth:`RunDirectory.record`). A torn last line
(killed inside the append) is ignored. A rerun skips inputs with a manifest line whose file size and
modification time still match, recomputes the rest, and assembles the final tables from the parts in input
order: the result is identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_write_text, fsync_directory, remove_stale_temporaries
from protsteer.io.inputs import InputFile
from protsteer.io.tables import Column, TableWriter, write_table

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".lock"
ERRORS_NAME = "errors.tsv"
PARTS_DIR = "parts"
PER_INPUT_DIR = "per_input"
_START_AFRESH = " (use --overwrite to start afresh)"
#: one input's tables: ``{table name: (columns, rows)}`` (rows as mappings or sequences in column order)
Parts = dict[str, tuple[Sequence[Column], Iterable]]
ERROR_COLUMNS = [Column("file"), Column("stage"), Column("error_type"), Column("message")]


@dataclass(frozen=True)
class InputError:
    """A failed input: where (``stage``: input, read, environments, network, write ...) and why."""

    file: str
    stage: str
    error_type: str
    message: str


@dataclass(frozen=True)
class CompletedInput:
    """A manifest record: an input whose parts are complete."""

    structure_id: str
    file: str
    order_key: str
    size: int
    mtime_ns: int
    sha256: str
    rows: dict[str, int]

    def as_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def read_manifest(path: Path) -> tuple[dict, dict[str, CompletedInput], bool]:
    """``(settings, {structure_id: record}, torn)`` of a manifest; ``torn``: the last line is incomplete
    (a run was killed inside an append; that line is ignored). Other damage is a :class:`ProtsteerError`."""
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if line.strip()]
    records: list[dict] = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError:
            if number < len(lines) - 1:
                raise ProtsteerError(f"corrupt manifest line {number + 1}{_START_AFRESH}", path) from None
            logger.info("dropping a torn last manifest line (interrupted run)")
    if not records or not isinstance(records[0], dict) or "settings" not in records[0]:
        raise ProtsteerError(f"not a protsteer manifest{_START_AFRESH}", path)
    completed: dict[str, CompletedInput] = {}
    for record in records[1:]:
        try:
            done = CompletedInput(**record)
        except TypeError:
            raise ProtsteerError(f"unexpected manifest record{_START_AFRESH}", path) from None
        completed[done.structure_id] = done
    torn = len(records) < len(lines) or not text.endswith("\n")
    return records[0]["settings"], completed, torn


def _lock_directory(root: Path) -> IO | None:
    """An exclusive lock on ``root/.lock`` held while the handle is open, so that two runs never write one
    output directory at once (e.g. array jobs that forgot ``--shard``). None where locks are unsupported."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        return None
    handle = open(root / LOCK_NAME, "a")  # kept open: the lock lives as long as the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ProtsteerError("another protsteer run is writing to this output directory", root) from None
    return handle


def file_signature(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(size in bytes, modification time in ns): how a rerun recognises an unchanged input."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def safe_child(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that would land outside ``root``."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ProtsteerError(f"output path {relative!r} would escape the output directory", root)
    return root / relative


class RunDirectory:
    """The output directory of a resumable batch run.

    Args:
        root: the directory (created if needed).
        settings: everything that determines the parts' content (command, weights sha256, tasks, options,
            shard); a rerun with different settings is refused unless ``overwrite``.
        overwrite: discard earlier results (parts, manifest, tables listed in ``tables``) and start afresh.
        tables: names of the tables this command writes (``residues``, ``scan`` ...).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        settings: dict[str, Any],
        *,
        overwrite: bool = False,
        tables: Sequence[str] = (),
    ) -> None:
        self.root = Path(root)
        self.settings = json.loads(json.dumps(settings, sort_keys=True))
        self.tables = list(tables)
        if self.root.exists() and not self.root.is_dir():
            raise ProtsteerError("output path exists and is not a directory", self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_directory(self.root)
        except OSError as err:
            reason = err.strerror or str(err)
            raise ProtsteerError(f"cannot write the output directory: {reason}", self.root) from err
        self.parts_dir = self.root / PARTS_DIR
        self.manifest_path = self.root / MANIFEST_NAME
        self.errors: list[InputError] = []
        try:
            if overwrite:
                self._clear()
            self.parts_dir.mkdir(exist_ok=True)
            remove_stale_temporaries(self.root)
            remove_stale_temporaries(self.parts_dir)
            self.completed = self._load_manifest()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the directory lock (also released when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- manifest -------------------------------------------------------------------------------------------
    def _clear(self) -> None:
        for owned in (self.parts_dir, self.root / PER_INPUT_DIR):
            if owned.is_dir():
                shutil.rmtree(owned)
        self.manifest_path.unlink(missing_ok=True)
        (self.root / ERRORS_NAME).unlink(missing_ok=True)
        for table in self.tables:
            for stale in self.root.glob(f"{table}.*"):
                if stale.is_file():
                    stale.unlink()

    def _load_manifest(self) -> dict[str, CompletedInput]:
        if not self.manifest_path.exists():
            self._append([{"settings": self.settings}])
            return {}
        settings, completed, torn = read_manifest(self.manifest_path)
        if settings != self.settings:
            raise ProtsteerError(
                "holds results computed with other settings (weights, tasks or options);"
                " use --overwrite to replace them or choose another output directory",
                self.root,
            )
        if torn:  # interrupted inside an append: keep the complete records only
            lines = [json.dumps({"settings": settings}, sort_keys=True)]
            lines += [done.as_json() for done in completed.values()]
            atomic_write_text(self.manifest_path, "".join(f"{line}\n" for line in lines))
        return completed

    def _append(self, records: Sequence[dict]) -> None:
        """Append manifest lines, made durable with one fsync."""
        with open(self.manifest_path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(record, sort_keys=True) + "\n" for record in records))
            handle.flush()
            os.fsync(handle.fileno())

    def is_done(self, item: InputFile) -> bool:
        """True when ``item`` was completed by an earlier run and its file is unchanged."""
        done = self.completed.get(item.structure_id)
        if done is None or done.file != str(item.path):
            return False
        try:
            return (done.size, done.mtime_ns) == file_signature(item.path)
        except OSError:
            return False

    def part_path(self, structure_id: str, table: str) -> Path:
        """Where the part of ``table`` for ``structure_id`` goes (inside ``OUTDIR/parts``)."""
        return safe_child(self.root, f"{PARTS_DIR}/{structure_id}.{table}.tsv")

    def store_parts(self, item: InputFile, sha256: str, parts: Parts) -> CompletedInput:
        """Write every table part of one input atomically; returns the record that :meth:`record` makes
        count. The parts directory is not fsynced here: :meth:`record` does it once for a group of inputs."""
        size, mtime_ns = file_signature(item.path)
        rows = {
            table: write_table(
                self.part_path(item.structure_id, table), columns, table_rows, "tsv", sync_directory=False
            )
            for table, (columns, table_rows) in parts.items()
        }
        return CompletedInput(
            structure_id=item.structure_id,
            file=str(item.path),
            order_key=item.order_key,
            size=size,
            mtime_ns=mtime_ns,
            sha256=sha256,
            rows=rows,
        )

    def record(self, done: Sequence[CompletedInput]) -> None:
        """Record inputs whose parts :meth:`store_parts` wrote as complete: one fsync of the parts directory
        (the parts' renames become durable), then their manifest lines with one fsync."""
        if not done:
            return
        fsync_directory(self.parts_dir)
        self._append([json.loads(record.as_json()) for record in done])
        for record in done:
            self.completed[record.structure_id] = record

    # -- errors ---------------------------------------------------------------------------------------------
    def add_error(self, error: InputError) -> None:
        """Remember a failed input (written by :meth:`write_errors`)."""
        logger.warning("%s: %s: %s", error.file, error.error_type, error.message)
        self.errors.append(error)

    def write_errors(self) -> Path:
        """Write ``errors.tsv`` (header only when nothing failed), sorted by file then stage."""
        path = self.root / ERRORS_NAME
        rows = sorted((e.file, e.stage, e.error_type, e.message) for e in self.errors)
        write_table(path, ERROR_COLUMNS, rows, "tsv")
        return path


def assemble_table(
    out_path: Path,
    sources: Sequence[tuple[Path, CompletedInput]],
    table: str,
    columns: Sequence[Column],
    fmt: str,
) -> int:
    """Concatenate the parts of ``sources`` (``(run directory, record)``, already in output order) into
    one table with ``columns`` (selected by name from the parts' columns) in format ``fmt``, atomically.

    Parts are tsv tables written by this module; their cells are copied as text (tsv, csv) or converted to
    the column kinds (jsonl, parquet), never re-computed. Returns the number of rows.
    """
    names = [column.name for column in columns]
    with TableWriter(out_path, columns, fmt) as writer:
        for directory, record in sources:
            if record.rows.get(table) is None:
                continue
            path = safe_child(directory, f"{PARTS_DIR}/{record.structure_id}.{table}.tsv")
            with open(path, encoding="utf-8", newline="") as handle:
                header = handle.readline().rstrip("\n").split("\t")
                try:
                    positions = [header.index(name) for name in names]
                except ValueError:
                    raise ProtsteerError(f"part lacks columns {names}", path) from None
                for line in handle:
                    cells = line.rstrip("\n").split("\t")
                    writer.write_cells([cells[position] for position in positions])
        return writer.n_rows
