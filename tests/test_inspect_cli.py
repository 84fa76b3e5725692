"""``protsteer inspect``: TSV summaries, residue tables, stdin, bad files reported in one line, exit codes."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import gemmi
import pytest
from click.testing import CliRunner

from protsteer.cli import cli, main
from protsteer.io.tables import iter_rows
from protsteer.structure import read_structure
from protsteer.structure.summary import SUMMARY_COLUMNS

DATA = Path(__file__).resolve().parent / "data"


def run_main(argv, capsys):
    """``protsteer.cli.main(argv)`` -> (exit code, stdout, stderr)."""
    try:
        main(argv)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_tsv(text):
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


def test_summary_of_a_directory(tmp_path, capsys):
    for path in DATA.glob("*.pdb.gz"):
        shutil.copy(path, tmp_path / path.name)
    code, out, err = run_main(["inspect", str(tmp_path)], capsys)
    assert code == 0 and err == ""
    rows = parse_tsv(out)
    assert list(rows[0]) == list(SUMMARY_COLUMNS)
    by_id = {row["structure_id"]: row for row in rows}
    assert sorted(by_id) == sorted(p.name[: -len(".pdb.gz")] for p in DATA.glob("*.pdb.gz"))
    antibody = by_id["1LVE"]
    assert (
        antibody["insertion_codes"] == "6"
        and antibody["chains"] == "A:114"
        and antibody["compressed"] == "yes"
    )
    metallo = by_id["strontium__1G1J"]
    assert metallo["nonstandard"].startswith("MSE:") and metallo["hetero_kept"] == "SR"
    assert int(metallo["altloc_residues"]) > 0 and int(metallo["waters_removed"]) > 0
    assert metallo["n_residues"] == str(read_structure(DATA / "strontium__1G1J.pdb.gz").n_residues)


def test_duplicates_are_skipped_with_a_warning(tmp_path, capsys):
    source = next(DATA.glob("*.pdb.gz"))
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / source.name)
    code, out, err = run_main(["inspect", str(tmp_path)], capsys)
    assert code == 0 and len(parse_tsv(out)) == 1
    assert err == (
        f"protsteer: warning: {tmp_path / 'b' / source.name}: duplicate of {tmp_path / 'a' / source.name}"
        " (identical content), skipped\n"
    )


def test_bad_files_are_reported_and_the_others_continue(tmp_path, capsys):
    good = tmp_path / "good.pdb.gz"
    shutil.copy(DATA / "1LVE.pdb.gz", good)
    empty = tmp_path / "empty.pdb"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.cif"
    garbage.write_bytes(bytes(range(256)) * 10)
    corrupt = tmp_path / "corrupt.pdb.gz"
    corrupt.write_bytes(gzip.compress(good.read_bytes())[:200])
    argv = ["inspect", str(empty), str(good), str(garbage), str(corrupt), str(tmp_path / "absent.pdb")]
    code, out, err = run_main(argv, capsys)
    assert code == 1
    assert [row["structure_id"] for row in parse_tsv(out)] == ["good"]
    lines = err.strip().split("\n")
    assert len(lines) == 4
    assert all(line.startswith("protsteer: error: ") for line in lines)
    assert f"protsteer: error: {empty}: empty file" in lines
    assert any(line.startswith(f"protsteer: error: {garbage}: binary data") for line in lines)
    assert any(line.startswith(f"protsteer: error: {corrupt}: ") for line in lines)
    assert any("absent.pdb" in line for line in lines)
    assert "Traceback" not in err


def test_stdin_residue_table_and_models():
    runner = CliRunner()
    data = gzip.decompress((DATA / "1LVE.pdb.gz").read_bytes())
    result = runner.invoke(cli, ["inspect", "--residues", "-"], input=data)
    assert result.exit_code == 0, result.output
    rows = parse_tsv(result.stdout)
    assert len(rows) == 114 and rows[0]["structure_id"] == "stdin"
    assert [r["icode"] for r in rows if r["resseq"] == "27"] == ["", "A", "B", "C", "D", "E", "F"]
    bad = runner.invoke(cli, ["inspect", "-"], input=b"")
    assert bad.exit_code == 1 and "protsteer: error: -: empty file" in bad.stderr


def test_policy_options_change_the_summary(capsys):
    path = str(DATA / "beryllium__3A10.pdb.gz")
    _, default_out, _ = run_main(["inspect", path], capsys)
    code, out, _ = run_main(["inspect", "--hetero", "none", "--keep-waters", path], capsys)
    default, changed = parse_tsv(default_out)[0], parse_tsv(out)[0]
    assert code == 0
    assert changed["waters_removed"] == "0" and default["waters_removed"] != "0"
    assert changed["hetero_kept"] == "" and "PG4" in changed["hetero_removed"]
    assert "hetero=none" in changed["policy"] and "waters=keep" in changed["policy"]
    code, _, err = run_main(["inspect", "--model", "7", path], capsys)
    assert code == 1 and "no model 7" in err
    code, _, err = run_main(["inspect", "--model", "last", path], capsys)
    assert code == 1 and err.startswith("protsteer: error: --model")


def test_one_row_per_model(tmp_path, capsys):
    structure = gemmi.read_structure(str(DATA / "1LVE.pdb.gz"))
    second = structure[0].clone()
    second.num = 2
    structure.add_model(second)
    path = tmp_path / "nmr.pdb"
    structure.write_pdb(str(path))
    code, out, _ = run_main(["inspect", "--model", "all", str(path)], capsys)
    rows = parse_tsv(out)
    assert code == 0 and [row["model"] for row in rows] == ["1", "2"]
    assert all(row["models_in_file"] == "2" and row["n_residues"] == "114" for row in rows)
    code, out, _ = run_main(["inspect", str(path)], capsys)
    assert [row["model"] for row in parse_tsv(out)] == ["1"]


@pytest.mark.parametrize("suffix", ["tsv", "jsonl"])
def test_output_file(tmp_path, capsys, suffix):
    target = tmp_path / f"summary.{suffix}"
    code, out, _ = run_main(["inspect", str(DATA / "1LVE.pdb.gz"), "-o", str(target)], capsys)
    assert code == 0 and out == ""
    rows = list(iter_rows(target))
    assert len(rows) == 1 and int(rows[0]["n_residues"]) == 114 and rows[0]["structure_id"] == "1LVE"


def test_help_has_examples(capsys):
    code, out, _ = run_main(["inspect", "--help"], capsys)
    assert code == 0 and "Examples:" in out and "protsteer inspect -" not in out.split("Examples:")[0]
    assert "zcat 1abc.pdb.gz | protsteer inspect -" in out
