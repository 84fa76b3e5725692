"""``protsteer scan``: columns, log-odds semantics (consistent with predict), --positions, --mutations."""

from __future__ import annotations

import json
import math

import pytest
from predict_helpers import run_cli

from protsteer.io.tables import iter_rows
from protsteer.structure import AMINO_ACIDS
from protsteer.tasks.propensity.mutations import Mutation, parse_mutations
from protsteer.tasks.propensity.tables import SCAN_COLUMNS

ISSUE_COLUMNS = (
    "structure_id model chain resseq icode seq_index wt mt mutant log_odds logp_wt logp_mt p_wt p_mt".split()
)


@pytest.fixture(scope="module")
def setup(tiny_run, tmp_path_factory):
    weights, inputs = tiny_run.weights, tiny_run.inputs
    scan = tmp_path_factory.mktemp("scan") / "scan.tsv"
    assert run_cli("scan", inputs / "head.pdb", "-o", scan, "--weights", weights, "--workers", "0", "-q") == 0
    return weights, inputs, tiny_run.rows("head"), scan


def test_columns_and_one_row_per_mutant(setup):
    _, _, residues, scan = setup
    assert scan.read_text().splitlines()[0].split("\t") == ISSUE_COLUMNS
    assert [c.name for c in SCAN_COLUMNS] == ISSUE_COLUMNS
    rows = list(iter_rows(scan, SCAN_COLUMNS))
    known = [r for r in residues if r["native_aa"] != "X"]
    assert len(rows) == 19 * len(known)
    assert {(r["seq_index"], r["mt"]) for r in rows} == {
        (r["seq_index"], aa) for r in known for aa in AMINO_ACIDS if aa != r["native_aa"]
    }


def test_log_odds_match_the_predicted_probabilities(setup):
    _, _, residues, scan = setup
    by_index = {r["seq_index"]: r for r in residues}
    for row in iter_rows(scan, SCAN_COLUMNS):
        residue = by_index[row["seq_index"]]
        assert row["wt"] == residue["native_aa"] and row["mt"] != row["wt"]
        assert row["mutant"] == f"{row['wt']}{row['seq_index'] + 1}{row['mt']}"
        assert (row["chain"], row["resseq"], row["icode"]) == (
            residue["chain"],
            residue["resseq"],
            residue["icode"],
        )
        assert row["p_wt"] == pytest.approx(residue[f"p_{row['wt']}"], rel=1e-5)
        assert row["p_mt"] == pytest.approx(residue[f"p_{row['mt']}"], rel=1e-5)
        assert row["log_odds"] == pytest.approx(row["logp_mt"] - row["logp_wt"], abs=2e-5)
        assert row["log_odds"] == pytest.approx(math.log(row["p_mt"] / row["p_wt"]), abs=1e-4)
        assert row["logp_wt"] == pytest.approx(residue["logp_native"], abs=1e-5)


def test_positions_restrict_the_scan(setup, tmp_path):
    weights, inputs, residues, scan = setup
    out = tmp_path / "part.tsv"
    assert (
        run_cli(
            "scan",
            inputs / "head.pdb",
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--positions",
            "A:805-807,A:820",
        )
        == 0
    )
    rows = list(iter_rows(out, SCAN_COLUMNS))
    assert sorted({r["resseq"] for r in rows}) == [805, 806, 807, 820]
    full = {(r["resseq"], r["mt"]): r for r in iter_rows(scan, SCAN_COLUMNS)}
    assert all(full[(r["resseq"], r["mt"])] == r for r in rows)
    whole = tmp_path / "whole.tsv"
    scan_chain = ["scan", inputs / "head.pdb", "-o", whole, "--weights", weights, "--workers", "0", "-q"]
    assert run_cli(*scan_chain, "--positions", "A") == 0  # the whole chain: the whole scan
    assert list(iter_rows(whole, SCAN_COLUMNS)) == list(iter_rows(scan, SCAN_COLUMNS))


@pytest.mark.parametrize("selection", ["A:x", "10", "A:20-10", "A:10-20,"])
def test_malformed_positions_are_a_usage_error(setup, tmp_path, capsys, selection):
    weights, inputs, _, _ = setup
    out = tmp_path / "part.tsv"
    code = run_cli("scan", inputs, "-o", out, "--weights", weights, "-q", "--positions", selection)
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "--positions" in err and "Traceback" not in err


def test_mutation_file_keeps_its_columns(setup, tmp_path):
    weights, inputs, residues, scan = setup
    first, second = [r for r in residues if r["native_aa"] != "X"][:2]
    wt, position = first["native_aa"], first["seq_index"] + 1
    other = "A" if wt != "A" else "C"
    wrong = "W" if wt != "W" else "Y"
    wt2, position2 = second["native_aa"], second["seq_index"] + 1
    other2 = "G" if wt2 != "G" else "P"
    mutations = tmp_path / "variants.csv"
    mutations.write_text(
        "mutant,chain,note\n"
        f"{wt}{position}{other},,first\n"
        f"A:{wrong}{position}{other},,mismatch\n"
        f"{wt}999{other},,absent\n"
        "garbage,,bad\n"
        f"{wt}{position}{other}:{wt2}{position2}{other2},,double\n"
        f'"A:{wt}{position}{other}, {wt2}{position2}{other2}",,double with chain\n'
        f"{wt}{position}{other}:{wt}{position}{wrong},,twice\n"
        f"{wt}{position}{other}:{wt2}999{other2},,double absent\n"
    )
    out = tmp_path / "scored.csv"
    assert (
        run_cli(
            "scan",
            inputs / "head.pdb",
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--mutations",
            mutations,
        )
        == 0
    )
    rows = list(iter_rows(out))
    assert (
        list(rows[0])[:3] == ["mutant", "chain", "note"]
        and "scan_chain" in rows[0]
        and "scan_mutant" in rows[0]
    )
    assert [(r["note"], r["scan_status"]) for r in rows] == [
        ("first", "ok"),
        ("mismatch", "wt_mismatch"),
        ("absent", "not_found"),
        ("bad", "invalid_mutant"),
        ("double", "ok"),
        ("double with chain", "ok"),
        ("twice", "invalid_mutant"),
        ("double absent", "not_found"),
    ]
    singles = list(iter_rows(scan, SCAN_COLUMNS))
    reference = next(r for r in singles if r["seq_index"] == first["seq_index"] and r["mt"] == other)
    reference2 = next(r for r in singles if r["seq_index"] == second["seq_index"] and r["mt"] == other2)
    assert float(rows[0]["log_odds"]) == pytest.approx(reference["log_odds"], abs=1e-6)
    assert float(rows[1]["log_odds"]) == pytest.approx(reference["log_odds"], abs=1e-6)
    assert rows[2]["log_odds"] == "" and rows[3]["log_odds"] == ""
    for double in rows[4:6]:  # additive: sums of the single-site scores, sites joined by ':'
        for name in ("log_odds", "logp_wt", "logp_mt"):
            assert float(double[name]) == pytest.approx(reference[name] + reference2[name], abs=1e-5)
        assert float(double["p_mt"]) == pytest.approx(reference["p_mt"] * reference2["p_mt"], rel=1e-4)
        assert double["scan_mutant"] == f"{reference['mutant']}:{reference2['mutant']}"
        assert (double["scan_chain"], double["wt"], double["resseq"]) == ("A:A", f"{wt}:{wt2}", "")
    assert all(r["log_odds"] == "" for r in rows[6:])
    assert all(r["structure_id"] == "head" for r in rows)  # also on rows without a residue
    record = json.loads((tmp_path / "scored.csv.work" / "run.json").read_text())
    assert record["timing"]["residues"] == 2  # only the residues the list names were predicted


def test_author_numbering(setup, tmp_path):
    weights, inputs, residues, scan = setup
    first = next(r for r in residues if r["native_aa"] not in ("X", "A"))
    mutations = tmp_path / "author.txt"
    mutations.write_text(f"# from a ddG table\nmutant\n\nA:{first['native_aa']}{first['resseq']}A\n")
    out = tmp_path / "author.tsv"
    assert (
        run_cli(
            "scan",
            inputs / "head.pdb",
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "-q",
            "--mutations",
            mutations,
            "--numbering",
            "author",
        )
        == 0
    )
    (row,) = iter_rows(out)
    assert row["scan_status"] == "ok" and row["resseq"] == str(first["resseq"])


def test_options_that_do_not_apply_are_usage_errors(setup, tmp_path, capsys):
    weights, inputs, _, _ = setup
    base = ["scan", inputs / "head.pdb", "--weights", weights, "-q"]
    assert run_cli(*base, "-o", tmp_path / "a.tsv", "--numbering", "author") == 2
    assert "--numbering only applies with --mutations" in capsys.readouterr().err
    assert run_cli(*base, "-o", tmp_path / "scan.xlsx") == 2 and not (tmp_path / "scan.xlsx").exists()
    assert "cannot write a .xlsx table" in capsys.readouterr().err
    predict = ["predict", inputs / "head.pdb", "-o", tmp_path / "p", "--weights", weights, "-q"]
    assert run_cli(*predict, "--structure-score", "entropy") == 2
    assert "--structure-score only applies with --write-structure" in capsys.readouterr().err
    assert run_cli(*predict, "--cath-weights", "cath-v2") == 2
    assert "--cath-weights only applies with --tasks cath" in capsys.readouterr().err
    domains = tmp_path / "domains.tsv"
    domains.write_text("structure_id\tdomain_id\tsegments\nhead\tA1\tA:1-5\n")
    assert run_cli(*predict, "--domains", domains) == 2
    assert "--domains only applies with --tasks cath" in capsys.readouterr().err
    assert run_cli(*predict, "--tasks", "propensity,nope") == 2
    assert "--tasks: unknown or empty nope; choose from propensity,cath" in capsys.readouterr().err
    assert run_cli(*predict, "--tasks", "cath") == 2
    assert "--tasks: propensity is required" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()  # refused before any work


def test_empty_mutation_file_is_an_error(setup, tmp_path, capsys):
    weights, inputs, _, _ = setup
    mutations = tmp_path / "empty.txt"
    mutations.write_text("# nothing yet\n\n")
    out = tmp_path / "empty.tsv"
    code = run_cli("scan", inputs / "head.pdb", "-o", out, "--weights", weights, "--mutations", mutations)
    assert code == 1 and f"{mutations}: the mutation file lists no mutants" in capsys.readouterr().err


def test_parse_mutations():
    assert (
        parse_mutations("B:G12V") == parse_mutations("g12v", chain="B") == (Mutation("B", "G", 12, "", "V"),)
    )
    assert parse_mutations("G12V") == (Mutation(None, "G", 12, "", "V"),)
    for bad in ("G0V", "G12AV", "B12V", "", "B:", "A:B:G12V", "G12V:B12V", "garbage"):
        assert parse_mutations(bad) is None, bad
    (author,) = parse_mutations("H:G100AV", numbering="author")
    assert (author.chain, author.position, author.icode, author.mt) == ("H", 100, "A", "V")
    assert parse_mutations("A10G:L20V") == (
        Mutation(None, "A", 10, "", "G"),
        Mutation(None, "L", 20, "", "V"),
    )
    sites = parse_mutations("A:G12V, L20V;B:K5E", chain="C")
    assert [(site.chain, site.position) for site in sites] == [("A", 12), ("A", 20), ("B", 5)]
    assert [site.chain for site in parse_mutations("G12V:B:K5E", chain="C")] == ["C", "B"]


def test_parse_mutations_three_letter_and_hgvs():
    one_letter = parse_mutations("G12V:L20V")
    for text in ("Gly12Val:Leu20Val", "p.[Gly12Val;Leu20Val]", "p.Gly12Val p.LEU20val", "G12Val, Leu20V"):
        assert parse_mutations(text) == one_letter, text
    assert parse_mutations("B:p.(Gly12Val)") == (Mutation("B", "G", 12, "", "V"),)
    (author,) = parse_mutations("H:Gly100AVal", numbering="author")
    assert (author.wt, author.position, author.icode, author.mt) == ("G", 100, "A", "V")
    for bad in ("Xaa12Val", "Gly12Ter", "Gly12=", "Mse12Val", "Gl12Val"):
        assert parse_mutations(bad) is None, bad
