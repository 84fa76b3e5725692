"""Tables: typed columns, four formats, atomic streaming writes, round trips."""

from __future__ import annotations

import json
import sys

import pytest

from protsteer.errors import ProtsteerError
from protsteer.io import tables
from protsteer.io.tables import Column, TableWriter, iter_rows, read_header, write_table

COLUMNS = [Column("structure_id"), Column("icode"), Column("seq_index", "int"), Column("p", "float")]
ROWS = [
    {"structure_id": "1abc", "icode": "", "seq_index": 0, "p": 0.123456789},
    {"structure_id": "tab\there", "icode": "A", "seq_index": 12, "p": 1e-9},
    {"structure_id": 'x,y "q"', "icode": None, "seq_index": None, "p": None},
]


def _expected():
    return [
        {"structure_id": "1abc", "icode": "", "seq_index": 0, "p": 0.123457},
        {"structure_id": "tab\there", "icode": "A", "seq_index": 12, "p": 1e-9},
        {"structure_id": 'x,y "q"', "icode": "", "seq_index": None, "p": None},
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_lossless_formats_round_trip(tmp_path, fmt):
    path = tmp_path / f"t.{fmt}"
    assert write_table(path, COLUMNS, ROWS) == 3
    assert read_header(path) == [c.name for c in COLUMNS]
    assert list(iter_rows(path, COLUMNS)) == _expected()


def test_tsv_round_trip_replaces_tabs(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, COLUMNS, ROWS)
    lines = path.read_text().splitlines()
    assert lines[0] == "structure_id\ticode\tseq_index\tp"
    assert lines[1] == "1abc\t\t0\t0.123457"
    assert all(len(line.split("\t")) == 4 for line in lines)
    expected = _expected()
    expected[1]["structure_id"] = "tab here"
    assert list(iter_rows(path, COLUMNS)) == expected


def test_jsonl_uses_nulls_and_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    write_table(path, COLUMNS, ROWS)
    first, _, third = (json.loads(line) for line in path.read_text().splitlines())
    assert first["p"] == 0.123457 and first["seq_index"] == 0
    assert third["seq_index"] is None and third["p"] is None


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    write_table(path, COLUMNS, ROWS)
    assert list(iter_rows(path)) == _expected()


def test_pandas_reads_tsv(tmp_path):
    pandas = pytest.importorskip("pandas")
    path = tmp_path / "t.tsv"
    write_table(path, COLUMNS, ROWS[:2])
    frame = pandas.read_csv(path, sep="\t", keep_default_na=False)
    assert list(frame.columns) == [c.name for c in COLUMNS]
    assert frame["seq_index"].tolist() == [0, 12]


def test_parquet_without_pyarrow_is_a_clear_error(tmp_path, monkeypatch):
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import pyarrow now raises ImportError
    with pytest.raises(
        ProtsteerError, match=r"parquet output needs pyarrow: pip install 'protsteer\[parquet\]'"
    ):
        tables.check_format("parquet")
    with pytest.raises(ProtsteerError, match="needs pyarrow"):
        write_table(tmp_path / "t.parquet", COLUMNS, ROWS)
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert tables.check_format("tsv") == "tsv"


def test_failed_write_leaves_previous_table(tmp_path):
    path = tmp_path / "t.tsv"
    write_table(path, COLUMNS, ROWS[:1])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with TableWriter(path, COLUMNS) as writer:
            writer.write_row(ROWS[0])
            raise RuntimeError("killed mid-table")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.tsv"]


def test_unfinished_writer_is_invisible(tmp_path):
    path = tmp_path / "t.tsv"
    writer = TableWriter(path, COLUMNS)
    writer.write_rows(ROWS)
    assert not path.exists()
    writer.close()
    assert len(path.read_text().splitlines()) == 4


def test_select_columns():
    chosen = tables.select_columns(COLUMNS, ["p", "structure_id"])
    assert [c.name for c in chosen] == ["p", "structure_id"]
    assert tables.select_columns(COLUMNS, None) == COLUMNS
    with pytest.raises(ProtsteerError, match="unknown column"):
        tables.select_columns(COLUMNS, ["nope"])


def test_unknown_suffix(tmp_path):
    with pytest.raises(ProtsteerError, match="unknown table suffix"):
        write_table(tmp_path / "t.xlsx", COLUMNS, [])
