"""RunDirectory: manifest records, torn lines, settings fingerprint, the directory lock."""

from __future__ import annotations

import json

import pytest

from protsteer.errors import ProtsteerError
from protsteer.io.inputs import InputFile
from protsteer.io.rundir import RunDirectory, read_manifest, safe_child
from protsteer.io.tables import Column

COLUMNS = [Column("structure_id"), Column("value", "float")]


def _item(tmp_path, name):
    path = tmp_path / f"{name}.pdb"
    path.write_text(name)
    return InputFile(path, name)


def test_records_survive_reopening(tmp_path):
    run = RunDirectory(tmp_path / "out", {"a": 1})
    item = _item(tmp_path, "x")
    run.record([run.store_parts(item, "0" * 64, {"t": (COLUMNS, [("x", 0.5)])})])
    run.close()
    again = RunDirectory(tmp_path / "out", {"a": 1})
    assert again.is_done(item) and again.completed["x"].rows == {"t": 1}
    assert (tmp_path / "out" / "parts" / "x.t.tsv").read_text() == "structure_id\tvalue\nx\t0.5\n"
    item.path.write_text("changed content")
    assert not again.is_done(item)
    again.close()


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    run = RunDirectory(tmp_path / "out", {"a": 1})
    run.record([run.store_parts(_item(tmp_path, "x"), "0" * 64, {"t": (COLUMNS, [])})])
    run.close()
    manifest = tmp_path / "out" / "manifest.jsonl"
    with open(manifest, "a") as handle:
        handle.write('{"structure_id": "y", "fi')
    settings, completed, torn = read_manifest(manifest)
    assert settings == {"a": 1} and list(completed) == ["x"] and torn
    RunDirectory(tmp_path / "out", {"a": 1}).close()
    assert [json.loads(line) for line in manifest.read_text().splitlines()][0] == {"settings": {"a": 1}}
    assert not read_manifest(manifest)[2]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    RunDirectory(tmp_path / "out", {"a": 1}).close()
    manifest = tmp_path / "out" / "manifest.jsonl"
    manifest.write_text(manifest.read_text() + "garbage\n" + '{"x": 1}\n')
    with pytest.raises(ProtsteerError, match="corrupt manifest line 2"):
        RunDirectory(tmp_path / "out", {"a": 1})


def test_other_settings_are_refused(tmp_path):
    RunDirectory(tmp_path / "out", {"a": 1}).close()
    with pytest.raises(ProtsteerError, match="other settings"):
        RunDirectory(tmp_path / "out", {"a": 2})
    RunDirectory(tmp_path / "out", {"a": 2}, overwrite=True).close()


def test_one_run_per_directory(tmp_path):
    first = RunDirectory(tmp_path / "out", {"a": 1})
    with pytest.raises(ProtsteerError, match="another protsteer run"):
        RunDirectory(tmp_path / "out", {"a": 1})
    first.close()
    RunDirectory(tmp_path / "out", {"a": 1}).close()


def test_safe_child_refuses_escapes(tmp_path):
    assert safe_child(tmp_path, "parts/x.tsv") == tmp_path / "parts" / "x.tsv"
    with pytest.raises(ProtsteerError, match="escape"):
        safe_child(tmp_path, "../x.tsv")
