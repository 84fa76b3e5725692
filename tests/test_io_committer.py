"""Background part writer: group commit, write failures reported per input, nothing lost at close."""

from __future__ import annotations

import os

import pytest

from protsteer.errors import ProtsteerError
from protsteer.io import atomic
from protsteer.io.batch import BatchRun
from protsteer.io.committer import PartCommitter
from protsteer.io.inputs import InputFile
from protsteer.io.rundir import RunDirectory, read_manifest
from protsteer.io.tables import Column

COLUMNS = [Column("structure_id"), Column("value", "float")]


def _items(tmp_path, count):
    items = []
    for index in range(count):
        path = tmp_path / f"s{index}.pdb"
        path.write_text(str(index))
        items.append(InputFile(path, f"s{index}"))
    return items


def _parts(item, value=0.5):
    return {"t": (COLUMNS, [(item.structure_id, value)])}


def test_a_group_is_recorded_with_two_fsyncs(tmp_path, monkeypatch):
    run = RunDirectory(tmp_path / "out", {"a": 1})
    items = _items(tmp_path, 5)
    stored = [run.store_parts(item, "0" * 64, _parts(item)) for item in items]
    assert read_manifest(run.manifest_path)[1] == {}  # stored, not yet recorded
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    run.record(stored)
    assert len(calls) == 2  # the parts directory, then the manifest
    assert sorted(read_manifest(run.manifest_path)[1]) == [f"s{i}" for i in range(5)]
    run.close()


def test_committer_records_every_input_and_reports_failures(tmp_path):
    run = RunDirectory(tmp_path / "out", {"a": 1})
    committer = PartCommitter(run, max_pending=2)
    items = _items(tmp_path, 6)
    for index, item in enumerate(items):
        rows = [(item.structure_id,)] if index == 3 else [(item.structure_id, 0.25)]  # index 3: bad row
        committer.submit(item, "0" * 64, {"t": (COLUMNS, rows)})
    outcomes = committer.finished() + committer.close()
    assert committer.close() == []  # idempotent
    by_id = {outcome.item.structure_id: outcome.error for outcome in outcomes}
    assert sorted(by_id) == [item.structure_id for item in items]
    assert isinstance(by_id.pop("s3"), ValueError) and all(error is None for error in by_id.values())
    completed = read_manifest(run.manifest_path)[1]
    assert sorted(completed) == sorted(by_id)
    assert not (run.parts_dir / "s3.t.tsv").exists() and not list(run.parts_dir.glob(".*tmp-*"))
    assert (run.parts_dir / "s5.t.tsv").read_text() == "structure_id\tvalue\ns5\t0.25\n"
    with pytest.raises(RuntimeError, match="after close"):
        committer.submit(items[0], "0" * 64, _parts(items[0]))
    run.close()


def _batch(tmp_path, items, on_error="skip"):
    return BatchRun(
        "predict",
        [str(item.path) for item in items],
        outdir=tmp_path / "out",
        tables={"t": COLUMNS},
        settings={},
        on_error=on_error,
    )


def test_batch_write_failure_is_an_error_row_and_the_rest_is_kept(tmp_path):
    items = _items(tmp_path, 3)
    batch = _batch(tmp_path, items)
    for item in batch.todo:
        value = "not a number" if item.structure_id == "s1" else 1.5
        batch.complete(item, "0" * 64, {"t": (COLUMNS, [(item.structure_id, value)])})
    summary = batch.finish()
    batch.close()
    assert (summary.computed, summary.failed, summary.rows) == (2, 1, {"t": 2})
    errors = (tmp_path / "out" / "errors.tsv").read_text().splitlines()
    assert len(errors) == 2 and errors[1].split("\t")[:3] == [str(items[1].path), "write", "ValueError"]
    assert (tmp_path / "out" / "t.tsv").read_text() == "structure_id\tvalue\ns0\t1.5\ns2\t1.5\n"


def test_batch_on_error_fail_raises_the_write_failure(tmp_path):
    items = _items(tmp_path, 2)
    batch = _batch(tmp_path, items, on_error="fail")
    batch.complete(items[0], "0" * 64, {"t": (COLUMNS, [("s0", "x")])})
    with pytest.raises(ProtsteerError, match="write: ValueError"):
        batch.finish()
    batch.close()


def test_batch_close_after_an_error_still_records_handed_over_inputs(tmp_path):
    items = _items(tmp_path, 2)
    batch = _batch(tmp_path, items)
    for item in batch.todo:
        batch.complete(item, "0" * 64, _parts(item))
    batch.close()  # e.g. Ctrl-C after the last complete(): no finish()
    assert sorted(read_manifest(tmp_path / "out" / "manifest.jsonl")[1]) == ["s0", "s1"]


def test_directory_fsync_is_skipped_only_when_asked(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(atomic, "fsync_directory", lambda directory: synced.append(directory))
    atomic.atomic_write_text(tmp_path / "a.txt", "a")
    with atomic.atomic_open(tmp_path / "b.txt", sync_directory=False) as handle:
        handle.write("b")
    assert synced == [tmp_path] and (tmp_path / "b.txt").read_text() == "b"
