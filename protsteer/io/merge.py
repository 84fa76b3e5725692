"""``protsteer merge``: join the output directories of sharded runs into one, as if run unsharded.

Each source directory's ``manifest.jsonl`` lists its completed inputs and settings. Sources must share their
settings (apart from the shard); their records are sorted by input path (the order of an unsharded run) and
the final tables are assembled from the sources' part files, so the merged tables equal those of one
unsharded run. Errors of all sources are concatenated. Shards missing from a complete ``I/N`` set are an
error unless ``allow_partial``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from protsteer.errors import ProtsteerError
from protsteer.io.batch import OutputOptions, write_outputs
from protsteer.io.provenance import base_record, now_utc, write_run_json
from protsteer.io.rundir import ERROR_COLUMNS, ERRORS_NAME, MANIFEST_NAME, CompletedInput, read_manifest
from protsteer.io.tables import Column, check_format, iter_rows, select_columns, write_table

logger = logging.getLogger(__name__)


@dataclass
class MergeSummary:
    """What a merge did."""

    sources: int = 0
    inputs: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing_shards: list[int] = field(default_factory=list)
    errors: int = 0
    outputs: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"merged {self.sources} directories: {self.inputs} inputs, {self.errors} failed inputs"
        if self.duplicates:
            text += f", {len(self.duplicates)} duplicate structure ids skipped"
        if self.missing_shards:
            text += f"; MISSING shards {', '.join(map(str, self.missing_shards))}"
        return text


def merge_runs(
    sources: Sequence[str | Path],
    out: str | Path,
    output: OutputOptions | None = None,
    allow_partial: bool = False,
    arguments: dict | None = None,
) -> MergeSummary:
    """Merge the run directories ``sources`` into ``out`` (tables, errors.tsv, run.json)."""
    output = output or OutputOptions()
    check_format(output.fmt)
    out = Path(out)
    directories = [Path(source) for source in sources]
    if not directories:
        raise ProtsteerError("merge needs at least one run directory")
    if any(d.resolve() == out.resolve() for d in directories if d.exists()):
        raise ProtsteerError("the merge output must not be one of its sources", out)
    reference, shards = None, []
    chosen: dict[str, tuple[Path, CompletedInput]] = {}
    summary = MergeSummary(sources=len(directories))
    for directory in directories:
        manifest = directory / MANIFEST_NAME
        if not manifest.is_file():
            raise ProtsteerError(f"not a protsteer output directory (no {MANIFEST_NAME})", directory)
        settings, completed, _ = read_manifest(manifest)
        comparable = {key: value for key, value in settings.items() if key != "shard"}
        if reference is None:
            reference = comparable
        elif comparable != reference:
            raise ProtsteerError("was produced with other settings than the first directory", directory)
        shards.append(settings.get("shard"))
        for structure_id, completed_input in sorted(completed.items()):
            if structure_id in chosen:
                summary.duplicates.append(structure_id)
                logger.warning(
                    "%s: structure id %s already merged from %s; skipped",
                    directory,
                    structure_id,
                    chosen[structure_id][0],
                )
                continue
            chosen[structure_id] = (directory, completed_input)
    summary.missing_shards = _missing_shards(shards)
    if summary.missing_shards and not allow_partial:
        raise ProtsteerError(
            f"shards {', '.join(map(str, summary.missing_shards))} are missing "
            "(merge them too, or pass --allow-partial)"
        )
    assert reference is not None  # there is at least one directory
    tables: dict[str, Sequence[Column]] = {
        name: [Column(column, kind) for column, kind in columns]
        for name, columns in reference.get("tables", {}).items()
    }
    selected = {
        name: select_columns(columns, output.columns) if output.columns else columns
        for name, columns in tables.items()
    }
    ordered = sorted(chosen.values(), key=lambda pair: pair[1].order_key)
    out.mkdir(parents=True, exist_ok=True)
    summary.inputs = len(ordered)
    summary.outputs = write_outputs(out, ordered, selected, output)
    errors = sorted(
        {
            tuple(row[c.name] for c in ERROR_COLUMNS)
            for directory in directories
            if (directory / ERRORS_NAME).is_file()
            for row in iter_rows(directory / ERRORS_NAME, ERROR_COLUMNS, "tsv")
        }
    )
    summary.errors = len(errors)
    write_table(out / ERRORS_NAME, ERROR_COLUMNS, errors, "tsv")
    run_record = base_record("merge", arguments or {})
    inputs = [{"file": r.file, "structure_id": r.structure_id, "sha256": r.sha256} for _, r in ordered]
    run_record.update(
        finished=now_utc(),
        sources=[str(d) for d in directories],
        settings=reference,
        summary=summary.__dict__,
        inputs=inputs,
    )
    write_run_json(out, run_record)
    return summary


def _missing_shards(shards: list) -> list[int]:
    """Shard indices absent from a set of ``[I, N]`` shards (empty when unsharded or complete)."""
    given = [tuple(shard) for shard in shards if shard]
    if not given:
        return []
    counts = {count for _, count in given}
    if len(counts) != 1:
        raise ProtsteerError(f"shards of different counts cannot be merged: {sorted(counts)}")
    (count,) = counts
    return sorted(set(range(count)) - {index for index, _ in given})
