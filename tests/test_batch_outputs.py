"""Output options of batch runs: --format, --columns, --per-input, inputs from @lists and stdin,
duplicates, safe ids."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from predict_helpers import run_cli

from protsteer.io.tables import iter_rows
from protsteer.tasks.propensity.tables import RESIDUE_COLUMNS


@pytest.fixture(scope="module")
def setup(tiny_run):
    return tiny_run.weights, tiny_run.inputs, tiny_run.rows()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_formats_hold_the_same_table(setup, tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    weights, inputs, rows = setup
    out = tmp_path / "out"
    assert (
        run_cli("predict", inputs, "-o", out, "--weights", weights, "--workers", "0", "-q", "--format", fmt)
        == 0
    )
    assert list(iter_rows(out / f"residues.{fmt}", RESIDUE_COLUMNS)) == rows
    if fmt == "parquet":  # other readers see the same table, with typed columns
        pandas = pytest.importorskip("pandas")
        frame = pandas.read_parquet(out / "residues.parquet")
        assert list(frame.columns) == [c.name for c in RESIDUE_COLUMNS] and len(frame) == len(rows)
        assert frame["resseq"].tolist() == [row["resseq"] for row in rows]
        assert frame["p_A"].tolist() == pytest.approx([row["p_A"] for row in rows], rel=1e-6)


def test_columns_choose_and_order(setup, tmp_path, capsys):
    weights, inputs, rows = setup
    out = tmp_path / "out"
    assert (
        run_cli(
            "predict",
            inputs,
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--columns",
            "chain,resseq,logp_native,structure_id",
        )
        == 0
    )
    lines = (out / "residues.tsv").read_text().splitlines()
    assert lines[0] == "chain\tresseq\tlogp_native\tstructure_id"
    chosen = [next(c for c in RESIDUE_COLUMNS if c.name == name) for name in lines[0].split("\t")]
    expected = [{c.name: row[c.name] for c in chosen} for row in rows]
    assert list(iter_rows(out / "residues.tsv", chosen)) == expected
    assert run_cli("predict", inputs, "-o", tmp_path / "o2", "--weights", weights, "--columns", "nope") == 1
    assert "unknown column" in capsys.readouterr().err


def test_per_input_tables(setup, tmp_path):
    weights, inputs, rows = setup
    out = tmp_path / "out"
    assert (
        run_cli(
            "predict",
            inputs,
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--per-input",
            "--format",
            "jsonl",
        )
        == 0
    )
    assert not (out / "residues.jsonl").exists()
    tables = sorted((out / "per_input").iterdir())
    assert [t.name for t in tables] == [
        "head.residues.jsonl",
        "tail.residues.jsonl",
        "tenascin.residues.jsonl",
    ]
    assert [row for t in tables for row in iter_rows(t, RESIDUE_COLUMNS)] == rows


def test_list_file_stdin_and_duplicates(setup, tmp_path, monkeypatch):
    weights, inputs, rows = setup
    local = tmp_path / "in"
    shutil.copytree(inputs, local)
    shutil.copy(local / "tenascin.pdb.gz", local / "tenascin.cif.gz")  # same structure, other "format"
    (tmp_path / "list.txt").write_text(f"{local / 'head.pdb'}\n# comment\n{local / 'tenascin.pdb.gz'}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{local / 'tail.cif'}\n{local / 'tenascin.cif.gz'}\n"))
    out = tmp_path / "out"
    assert (
        run_cli(
            "predict",
            f"@{tmp_path / 'list.txt'}",
            "-",
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
        )
        == 0
    )
    assert list(iter_rows(out / "residues.tsv", RESIDUE_COLUMNS)) == [
        dict(row, file=row["file"].replace(str(inputs), str(local)).replace(".pdb.gz", ".cif.gz"))
        for row in rows
    ]
    duplicates = json.loads((out / "run.json").read_text())["duplicates"]
    assert [(d["file"], d["kept"]) for d in duplicates] == [
        (str(local / "tenascin.pdb.gz"), str(local / "tenascin.cif.gz"))
    ]


def test_hostile_file_names_stay_inside_outdir(setup, tmp_path):
    weights, inputs, _ = setup
    local = tmp_path / "in"
    local.mkdir()
    hostile = local / "..%2F..%2Fevil name;rm.pdb"
    shutil.copy(inputs / "head.pdb", hostile)
    out = tmp_path / "deep" / "out"
    assert (
        run_cli(
            "predict",
            hostile,
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--per-input",
            "--write-structure",
        )
        == 0
    )
    created = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(
        p.is_relative_to(out) or p.is_relative_to(local) or p.suffix in (".pt", ".sha256") for p in created
    )
    (table,) = (out / "per_input").iterdir()
    assert table.name == "_2F.._2Fevil_name_rm.residues.tsv"
