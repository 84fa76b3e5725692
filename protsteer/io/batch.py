"""The bookkeeping of a resumable batch command (predict, scan): inputs, shards, resume, errors, outputs.

:class:`BatchRun` owns everything about a run except the science: it expands and shards the inputs, opens the
:class:`~protsteer.io.rundir.RunDirectory` (resume / overwrite), records completed inputs and failures, and at
the end assembles the final tables (merged or per input, chosen format and columns), ``errors.tsv`` and
``run.json``. A task calls :meth:`BatchRun.complete` or :meth:`BatchRun.fail` for every item of
:attr:`BatchRun.todo`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protsteer.errors import ProtsteerError
from protsteer.io.committer import CommitOutcome, PartCommitter
from protsteer.io.inputs import InputFile, expand_inputs, shard_files
from protsteer.io.provenance import base_record, now_utc, write_run_json
from protsteer.io.rundir import (
    PER_INPUT_DIR,
    CompletedInput,
    InputError,
    RunDirectory,
    assemble_table,
    safe_child,
)
from protsteer.io.tables import Column, check_format, select_columns

logger = logging.getLogger(__name__)

ON_ERROR = ("skip", "fail")


class StageError(Exception):
    """An input failed in a named stage (``read``, ``environments``, ``network``, ``write`` ...)."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error


def describe_error(error: BaseException) -> tuple[str, str]:
    """``(error_type, one-line message)`` for errors.tsv: ``InvalidInput`` for a :class:`ProtsteerError`
    (its reason), else the exception class name and its first line."""
    if isinstance(error, ProtsteerError):
        return "InvalidInput", error.message
    text = str(error).strip().splitlines()
    return type(error).__name__, " ".join(text[0].split()) if text else type(error).__name__


@dataclass(frozen=True)
class OutputOptions:
    """How the final tables are written: ``fmt`` (tsv, csv, jsonl, parquet), ``columns`` (names, in order;
    empty = all), ``per_input`` (one table per input under ``OUTDIR/per_input/`` instead of one merged),
    ``target`` (the merged table's path instead of ``OUTDIR/<table>.<fmt>``; single-table commands)."""

    fmt: str = "tsv"
    columns: tuple[str, ...] = ()
    per_input: bool = False
    target: Path | None = None


@dataclass
class BatchSummary:
    """Counts of one run (``completed`` includes inputs resumed from an earlier run)."""

    inputs: int = 0
    resumed: int = 0
    computed: int = 0
    failed: int = 0
    duplicates: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    device: str = ""

    def line(self) -> str:
        """One summary line for the end of a run."""
        rows = ", ".join(f"{count} rows in {table}" for table, count in self.rows.items())
        device = f" on {self.device}" if self.device else ""
        return (
            f"{self.inputs} inputs: {self.resumed + self.computed} done ({self.resumed} resumed), "
            f"{self.failed} failed, {self.duplicates} duplicates skipped; {rows}; "
            f"{self.elapsed_s:.1f} s{device}"
        )


class BatchRun:
    """One resumable batch run.

    Args:
        command: ``predict`` or ``scan`` (recorded in settings and run.json).
        specs, include, exclude: input specs (see :func:`protsteer.io.inputs.expand_inputs`).
        outdir: the output directory.
        tables: ``{table name: full column list}`` this command writes (parts always hold every column).
        settings: what determines the parts' content (weights sha256, tasks, options); a resume with other
            settings is refused unless ``overwrite``.
        output: final table options (validated here: unknown columns or a missing pyarrow fail early).
        arguments: the command's arguments for run.json.
        shard: ``(I, N)`` or None.
        on_error: ``skip`` (record and continue) or ``fail`` (stop at the first failed input).
    """

    def __init__(
        self,
        command: str,
        specs: Sequence[str],
        *,
        outdir: str | Path,
        tables: Mapping[str, Sequence[Column]],
        settings: dict[str, Any],
        output: OutputOptions | None = None,
        arguments: dict[str, Any] | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        shard: tuple[int, int] | None = None,
        overwrite: bool = False,
        on_error: str = "skip",
    ) -> None:
        if on_error not in ON_ERROR:
            raise ProtsteerError(f"--on-error must be one of {', '.join(ON_ERROR)}")
        self.started = time.perf_counter()
        self.command = command
        self.tables = {name: list(columns) for name, columns in tables.items()}
        self.output = output = output or OutputOptions()
        check_format(output.fmt)
        self.selected = {
            name: select_columns(columns, output.columns) if output.columns else list(columns)
            for name, columns in self.tables.items()
        }
        self.on_error = on_error
        self.shard = shard
        expanded = expand_inputs(specs, include=include, exclude=exclude)
        self.duplicates = expanded.duplicates
        for duplicate in self.duplicates:
            logger.warning(
                "%s: duplicate of %s (%s), skipped", duplicate.path, duplicate.kept, duplicate.reason
            )
        self.items = shard_files(expanded.files, shard)
        missing = shard_files([InputFile(p, p.as_posix()) for p in expanded.missing], shard)
        if not self.items and not missing:
            where = " of this shard" if shard else ""
            raise ProtsteerError(f"no structure files found in the inputs{where}")
        schema = {name: [[c.name, c.kind] for c in columns] for name, columns in self.tables.items()}
        self.rundir = RunDirectory(
            outdir,
            {"command": command, "shard": shard, "tables": schema, **settings},
            overwrite=overwrite,
            tables=list(self.tables),
        )
        for item in missing:
            self.rundir.add_error(InputError(str(item.path), "input", "FileNotFoundError", "no such file"))
        self.todo = [item for item in self.items if not self.rundir.is_done(item)]
        self.committer = PartCommitter(self.rundir)
        self.summary = BatchSummary(
            inputs=len(self.items) + len(missing),
            resumed=len(self.items) - len(self.todo),
            duplicates=len(self.duplicates),
            failed=len(missing),
        )
        if self.summary.resumed:
            logger.info(
                "resuming: %d of %d inputs already done in %s",
                self.summary.resumed,
                len(self.items),
                self.rundir.root,
            )
        self.record = base_record(command, arguments or {})
        self.record.update(settings=self.rundir.settings, status="running", shard=shard)
        write_run_json(self.rundir.root, self.record)

    def complete(
        self, item: InputFile, sha256: str, parts: dict[str, tuple[Sequence[Column], Iterable[dict]]]
    ) -> None:
        """Hand the finished tables of ``item`` (their parts, rows consumed later) to the background writer,
        which stores them and records the input in the manifest (:mod:`protsteer.io.committer`). A write
        failure is recorded (or, with ``on_error="fail"``, raised) when the writer reports it: at a later
        call or in :meth:`finish`."""
        self.committer.submit(item, sha256, parts)
        self._collect(self.committer.finished())

    def _collect(self, outcomes: Iterable[CommitOutcome]) -> None:
        for outcome in outcomes:
            if outcome.error is None:
                self.summary.computed += 1
            elif isinstance(outcome.error, (OSError, ValueError, KeyError)):
                self.fail(outcome.item, "write", *describe_error(outcome.error))
            else:  # a bug, not a bad input or a full disk
                raise outcome.error

    def fail(self, item: InputFile, stage: str, error_type: str, message: str) -> None:
        """Record a failed input; with ``on_error="fail"`` raise it as a :class:`ProtsteerError`."""
        self.rundir.add_error(InputError(str(item.path), stage, error_type, message))
        self.summary.failed += 1
        if self.on_error == "fail":
            self.rundir.write_errors()
            raise ProtsteerError(f"{stage}: {error_type}: {message} (--on-error fail)", item.path)

    def close(self) -> None:
        """Wait for the background writer, then release the output directory (call when the run ends, also
        after an error: inputs already handed to :meth:`complete` are still recorded). A run that ends
        before :meth:`finish` (interrupted, or stopped by an error) is marked ``"stopped"`` in run.json."""
        try:
            self.committer.close()
        finally:
            try:
                if self.record.get("status") == "running":
                    self.record.update(status="stopped", finished=now_utc())
                    write_run_json(self.rundir.root, self.record)
            except OSError as err:  # the output directory itself failed: keep the first error
                logger.warning("cannot update run.json: %s", err)
            finally:
                self.rundir.close()

    def drain(self) -> None:
        """Wait until the background writer has stored every input handed to :meth:`complete` and collect
        the outcomes (afterwards ``committer.seconds`` is the writer's final time)."""
        self._collect(self.committer.close())

    def finish(self, extra: dict[str, Any] | None = None) -> BatchSummary:
        """Assemble the final tables from every completed input of this run, write errors.tsv and run.json
        (drains the background writer first)."""
        self.drain()
        records = [
            self.rundir.completed[item.structure_id] for item in self.items if self.rundir.is_done(item)
        ]
        records.sort(key=lambda record: record.order_key)
        outputs = write_outputs(
            self.rundir.root,
            [(self.rundir.root, r) for r in records],
            self.selected,
            self.output,
        )
        self.rundir.write_errors()
        self.summary.rows = {table: sum(r.rows.get(table, 0) for r in records) for table in self.tables}
        self.summary.elapsed_s = time.perf_counter() - self.started
        self.record.update(
            status="complete" if not self.summary.failed else "partial",
            finished=now_utc(),
            summary=self.summary.__dict__,
            outputs=outputs,
            duplicates=[
                {"file": str(d.path), "kept": str(d.kept), "reason": d.reason} for d in self.duplicates
            ],
            inputs=[{"file": r.file, "structure_id": r.structure_id, "sha256": r.sha256} for r in records],
            **(extra or {}),
        )
        write_run_json(self.rundir.root, self.record)
        return self.summary


def write_outputs(
    outdir: Path,
    sources: Sequence[tuple[Path, CompletedInput]],
    selected: Mapping[str, Sequence[Column]],
    output: OutputOptions,
) -> list[str]:
    """Write the final tables (``{table: columns to write}``) of ``sources`` (in order) into ``outdir``;
    returns their paths."""
    written = []
    for table, columns in selected.items():
        if output.per_input:
            for directory, record in sources:
                if record.rows.get(table) is None:
                    continue
                relative = f"{PER_INPUT_DIR}/{record.structure_id}.{table}.{output.fmt}"
                path = safe_child(outdir, relative)
                assemble_table(path, [(directory, record)], table, columns, output.fmt)
                written.append(str(path))
        else:
            path = output.target if output.target is not None else outdir / f"{table}.{output.fmt}"
            assemble_table(path, sources, table, columns, output.fmt)
            written.append(str(path))
    return written
