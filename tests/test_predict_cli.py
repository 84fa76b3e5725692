"""``protsteer predict``: table schema and semantics, errors, run.json, --write-structure, the CATH hook."""

from __future__ import annotations

import json
import math
import sys
import types

import gemmi
import numpy as np
import pytest
import torch
from predict_helpers import EXAMPLE, run_cli, write_corrupt_structures, write_valid_structures

from protsteer.io.tables import Column, iter_rows
from protsteer.structure import AMINO_ACIDS
from protsteer.tasks.propensity.tables import RESIDUE_COLUMNS

ISSUE_COLUMNS = (
    "structure_id file model chain resseq icode seq_index resname native_aa flag "
    + " ".join(f"p_{aa}" for aa in AMINO_ACIDS)
    + " pred_aa p_pred p_native logp_native rank_native entropy"
).split()


@pytest.fixture(scope="module")
def weights(tiny_run):
    return tiny_run.weights


@pytest.fixture(scope="module")
def valid_dir(tiny_run):
    return tiny_run.inputs


@pytest.fixture(scope="module")
def predicted(tiny_run):
    return tiny_run.out


def test_header_is_exactly_the_documented_column_order(predicted):
    header = (predicted / "residues.tsv").read_text().splitlines()[0].split("\t")
    assert header == ISSUE_COLUMNS
    assert [c.name for c in RESIDUE_COLUMNS] == ISSUE_COLUMNS


def test_probabilities_and_summaries_are_consistent(predicted):
    rows = list(iter_rows(predicted / "residues.tsv", RESIDUE_COLUMNS))
    assert len(rows) == 89 + 28 + 31
    for row in rows:
        p = np.array([row[f"p_{aa}"] for aa in AMINO_ACIDS])
        assert abs(p.sum() - 1) < 1e-4
        assert row["pred_aa"] == AMINO_ACIDS[int(p.argmax())]
        assert row["p_pred"] == pytest.approx(p.max(), rel=1e-5)
        assert row["entropy"] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-4)
        if row["native_aa"] == "X":
            assert row["p_native"] is None and row["rank_native"] is None
            continue
        p_native = p[AMINO_ACIDS.index(row["native_aa"])]
        assert row["p_native"] == pytest.approx(p_native, rel=1e-5)
        assert row["logp_native"] == pytest.approx(math.log(p_native), abs=1e-5)
        assert row["rank_native"] == 1 + int((p > p_native * (1 + 1e-5)).sum())
    first = rows[0]
    assert (first["structure_id"], first["chain"], first["icode"], first["seq_index"]) == ("head", "A", "", 0)


def test_rows_follow_sorted_inputs_and_file_order(predicted):
    rows = list(iter_rows(predicted / "residues.tsv", RESIDUE_COLUMNS))
    ids = [row["structure_id"] for row in rows]
    assert list(dict.fromkeys(ids)) == ["head", "tail", "tenascin"]
    tenascin = [row["seq_index"] for row in rows if row["structure_id"] == "tenascin"]
    assert tenascin == list(range(89))


def test_run_json_records_weights_inputs_and_device(predicted, weights):
    record = json.loads((predicted / "run.json").read_text())
    assert record["status"] == "complete" and record["command"] == "predict"
    assert record["weights"]["sha256"] == weights.with_name("tiny.pt.sha256").read_text().split()[0]
    assert record["device"] == "cpu" and record["version"]
    assert {"torch", "numpy", "gemmi", "python"} <= set(record["libraries"])
    assert sorted(i["structure_id"] for i in record["inputs"]) == ["head", "tail", "tenascin"]
    assert all(len(i["sha256"]) == 64 for i in record["inputs"])
    assert record["summary"]["failed"] == 0
    stages = record["timing"]["stage_seconds"]
    assert {"read", "environments", "voxelize", "network", "write", "commit"} <= set(stages)
    assert stages["commit"] > 0  # the background writer stored three inputs


def test_corrupt_files_are_listed_and_set_the_exit_code(tmp_path, valid_dir, weights, capsys):
    inputs = tmp_path / "mixed"
    write_valid_structures(inputs)
    bad = write_corrupt_structures(inputs)
    assert run_cli("predict", inputs, "-o", tmp_path / "out", "--weights", weights, "--workers", "1") == 3
    errors = list(iter_rows(tmp_path / "out" / "errors.tsv"))
    assert sorted(e["file"] for e in errors) == sorted(str(p) for p in bad)
    assert all(e["stage"] == "read" and e["error_type"] and e["message"] for e in errors)
    rows = list(iter_rows(tmp_path / "out" / "residues.tsv"))
    assert {r["structure_id"] for r in rows} == {"head", "tail", "tenascin"}
    assert "3 failed" in capsys.readouterr().err
    assert (
        run_cli(
            "predict",
            inputs,
            "-o",
            tmp_path / "out",
            "--weights",
            weights,
            "--workers",
            "0",
            "--allow-partial",
            "-q",
        )
        == 0
    )
    only_bad = ["predict", *bad, "-o", tmp_path / "bad-out", "--weights", weights, "--workers", "0", "-q"]
    assert run_cli(*only_bad, "--allow-partial") == 3  # nothing succeeded: never exit 0
    assert f"see {tmp_path / 'bad-out' / 'errors.tsv'}" in capsys.readouterr().err


def test_on_error_fail_stops_with_one_line(tmp_path, weights, capsys):
    write_corrupt_structures(tmp_path / "bad")
    code = run_cli(
        "predict",
        tmp_path / "bad",
        "-o",
        tmp_path / "out",
        "--weights",
        weights,
        "--workers",
        "0",
        "--on-error",
        "fail",
        "-q",
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("protsteer: error: ") and "--on-error fail" in err[-1]
    assert len(list(iter_rows(tmp_path / "out" / "errors.tsv"))) == 1


def test_tampered_weights_are_refused(tmp_path, valid_dir, weights, capsys):
    bad = tmp_path / "tampered.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "tampered.pt.sha256").write_text(weights.with_name("tiny.pt.sha256").read_text())
    assert run_cli("predict", valid_dir, "-o", tmp_path / "out", "--weights", bad) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sha256 mismatch" in err[0]


def test_missing_cuda_is_a_clear_error(tmp_path, valid_dir, weights, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    assert run_cli("predict", valid_dir, "-o", out, "--weights", weights, "--device", "cuda") == 1
    assert "CUDA is not available" in capsys.readouterr().err


def test_write_structure_puts_scores_in_bfactors(tmp_path, valid_dir, weights):
    out = tmp_path / "out"
    assert (
        run_cli(
            "predict",
            valid_dir / "head.pdb",
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "--write-structure",
            "--structure-score",
            "entropy",
            "-q",
        )
        == 0
    )
    rows = {(r["chain"], r["resseq"]): r["entropy"] for r in iter_rows(out / "residues.tsv", RESIDUE_COLUMNS)}
    structure = gemmi.read_structure(str(out / "structures" / "head.cif"))
    seen = 0
    for residue in structure[0]["A"]:
        expected = rows.get(("A", residue.seqid.num), 0.0)
        assert all(atom.b_iso == pytest.approx(expected, abs=1e-3) for atom in residue)
        seen += ("A", residue.seqid.num) in rows
    assert seen == len(rows)


def test_positions_predict_the_selected_residues_in_the_full_environment(
    tmp_path, valid_dir, predicted, weights
):
    """--positions: the rows of those residues only, with the values of an unrestricted run (the
    environments keep every atom); a whole chain is all of it; a chain a file lacks is that file's error."""
    full = {
        (r["structure_id"], r["resseq"]): r
        for r in iter_rows(predicted / "residues.tsv", RESIDUE_COLUMNS)
        if r["structure_id"] == "tenascin"
    }
    base = ["predict", valid_dir / "tenascin.pdb.gz", "--weights", weights, "--workers", "0", "-q"]
    out = tmp_path / "some"
    assert run_cli(*base, "-o", out, "--positions", "A:810-815,A:850", "--write-structure") == 0
    rows = list(iter_rows(out / "residues.tsv", RESIDUE_COLUMNS))
    assert [r["resseq"] for r in rows] == [810, 811, 812, 813, 814, 815, 850]
    for row in rows:
        reference = full[("tenascin", row["resseq"])]
        assert row["seq_index"] == reference["seq_index"] and row["pred_aa"] == reference["pred_aa"]
        for aa in AMINO_ACIDS:
            assert row[f"p_{aa}"] == pytest.approx(reference[f"p_{aa}"], abs=1e-5)
    structure = gemmi.read_structure(str(out / "structures" / "tenascin.cif"))
    scored = {r["resseq"]: r["logp_native"] for r in rows}
    for residue in structure[0]["A"]:  # the others get 0
        expected = scored.get(residue.seqid.num, 0.0)
        assert all(atom.b_iso == pytest.approx(expected, abs=1e-3) for atom in residue)

    whole = tmp_path / "whole"
    assert run_cli(*base, "-o", whole, "--positions", "A") == 0
    assert len(list(iter_rows(whole / "residues.tsv"))) == len(full)

    assert run_cli(*base, "-o", tmp_path / "typo", "--positions", "Z") == 3
    (error,) = iter_rows(tmp_path / "typo" / "errors.tsv")
    assert error["stage"] == "select" and "chain Z matches no residue" in error["message"]
    assert run_cli(*base, "-o", tmp_path / "bad", "--positions", "A:20-10") == 2  # before any work
    assert not (tmp_path / "bad").exists()


def test_cath_without_predictor_is_a_clear_error(tmp_path, valid_dir, weights, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "protsteer.tasks.cath.predict", None)
    assert (
        run_cli(
            "predict", valid_dir, "-o", tmp_path / "out", "--weights", weights, "--tasks", "propensity,cath"
        )
        == 1
    )
    assert "CATH prediction is not available" in capsys.readouterr().err


def test_cath_hook_adds_its_table(tmp_path, valid_dir, weights, monkeypatch):
    calls = []

    def load_predictor(weights_name, device, domains, orientations, frame):
        def predictor(structure, file):
            calls.append(structure.structure_id)
            return [
                {
                    "structure_id": structure.structure_id,
                    "domain": f"{domains.name}:1",
                    "n_residues": structure.n_residues,
                }
            ]

        predictor.settings = {"weights_sha256": "0" * 64}
        return predictor

    fake = types.ModuleType("protsteer.tasks.cath.predict")
    fake.TABLE = "domains"
    fake.COLUMNS = [Column("structure_id"), Column("domain"), Column("n_residues", "int")]
    fake.load_predictor = load_predictor
    monkeypatch.setitem(sys.modules, "protsteer.tasks.cath.predict", fake)
    domains = tmp_path / "domains.tsv"
    domains.write_text("x\n")
    out = tmp_path / "out"
    assert (
        run_cli(
            "predict",
            valid_dir,
            "-o",
            out,
            "--weights",
            weights,
            "--workers",
            "0",
            "--tasks",
            "propensity,cath",
            "--domains",
            domains,
            "-q",
        )
        == 0
    )
    table = list(iter_rows(out / "domains.tsv", fake.COLUMNS))
    assert table == [
        {"structure_id": s, "domain": "domains.tsv:1", "n_residues": n}
        for s, n in (("head", 28), ("tail", 31), ("tenascin", 89))
    ]
    assert sorted(calls) == ["head", "tail", "tenascin"]
    assert (out / "residues.tsv").exists()


def test_backbone_frame_makes_predictions_independent_of_the_file_orientation(tmp_path, weights):
    structure = gemmi.read_structure(str(write_valid_structures(tmp_path / "in")[1]))  # head.pdb
    structure.setup_entities()
    (tmp_path / "plain").mkdir()
    (tmp_path / "turned").mkdir()
    structure.make_mmcif_document().write_file(str(tmp_path / "plain" / "head.cif"))
    rotation = gemmi.Mat33([[0.36, 0.48, -0.8], [-0.8, 0.6, 0.0], [0.48, 0.64, 0.6]])
    structure[0].transform_pos_and_adp(gemmi.Transform(rotation, gemmi.Vec3(30.0, -12.0, 4.0)))
    structure.make_mmcif_document().write_file(str(tmp_path / "turned" / "head.cif"))

    def logp(folder: str, frame: str) -> np.ndarray:
        out = tmp_path / f"out-{folder}-{frame}"
        code = run_cli("predict", tmp_path / folder, "-o", out, "--weights", weights, "--frame", frame, "-q")
        assert code == 0
        rows = list(iter_rows(out / "residues.tsv"))
        return np.array([[float(row[f"p_{aa}"]) for aa in AMINO_ACIDS] for row in rows])

    local = np.abs(np.log(logp("plain", "local")) - np.log(logp("turned", "local"))).max()
    assert local < 5e-3  # 3-decimal coordinates in the files: only rounding differs
    # control: in the file's axes, the (random, untrained) network does see the rotation
    assert np.abs(np.log(logp("plain", "input")) - np.log(logp("turned", "input"))).max() > 10 * local
    run = json.loads((tmp_path / "out-plain-local" / "run.json").read_text())
    assert run["arguments"]["frame"] == "local"


def test_repeated_weights_are_refused_not_silently_dropped(tmp_path, weights, capsys):
    """click keeps the last of a repeated option; a user comparing two models would get one without notice."""
    for option in ("--weights", "--cath-weights"):
        code = run_cli("predict", EXAMPLE, "-o", tmp_path / "out", option, weights, option, weights)
        err = capsys.readouterr().err
        assert code == 2 and f"'{option}': given 2 times" in err and "train export" in err
    assert not (tmp_path / "out").exists()


def test_quick_start_runs_the_shipped_default_weights(tmp_path):
    """The README quick start: the default propensity and CATH weights on the bundled example."""
    out = tmp_path / "example-out"
    assert run_cli("predict", EXAMPLE, "--tasks", "propensity,cath", "-o", out, "-q") == 0
    rows = list(iter_rows(out / "residues.tsv", RESIDUE_COLUMNS))
    assert len(rows) == 89  # chain A 803-891 of the tenascin FN3 domain
    for row in rows:
        assert math.isclose(sum(row[f"p_{aa}"] for aa in AMINO_ACIDS), 1.0, abs_tol=1e-4)
    accuracy = np.mean([row["pred_aa"] == row["native_aa"] for row in rows])
    assert accuracy > 0.25  # the shipped network, not chance (0.05) or a composition prior (0.09)
    with (out / "cath.tsv").open() as handle:
        header, *domains = [line.rstrip("\n").split("\t") for line in handle]
    assert len(domains) == 1 and domains[0][header.index("segments")] == "A:803-891"
    cells = dict(zip(header, domains[0], strict=True))
    p_arch = [float(value) for name, value in cells.items() if name.startswith("p_arch_")]
    assert len(p_arch) >= 2 and math.isclose(sum(p_arch), 1.0, abs_tol=1e-4)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
