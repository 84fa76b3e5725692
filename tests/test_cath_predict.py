"""CATH prediction rows (``cath`` table of ``protsteer predict --tasks cath``) and the domains file."""

from __future__ import annotations

import logging
import math

import pytest

from protsteer.errors import ProtsteerError
from protsteer.io.weights import save_weights
from protsteer.networks import build_network
from protsteer.structure import ReadPolicy, read_structure
from protsteer.tasks.cath.predict import (
    COLUMNS,
    SHIPPED_LABELS,
    UserDomain,
    load_predictor,
    predict_domains,
    read_domains_file,
    table_columns,
)
from protsteer.tasks.cath.task import CATH_STEERABLE
from protsteer.voxel import VoxelSpec

SPEC = VoxelSpec(box_size=55.0, voxel_size=5.0, sigma=2.5, channels=("CA",))
LABELS = list(SHIPPED_LABELS)
ISSUE_COLUMNS = [
    "structure_id",
    "model",
    "chain",
    "domain_id",
    "domain_source",
    "segments",
    "n_residues",
    "pred_architecture",
    "pred_architecture_name",
    "p_pred",
    "p_second",
    "architecture_second",
]


@pytest.fixture(scope="module")
def model():
    return build_network({**CATH_STEERABLE, "in_channels": 1, "n_outputs": len(LABELS)}).eval()


def _check_row(row: dict) -> None:
    assert list(row) == [c.name for c in table_columns(LABELS)]
    probabilities = [row[f"p_arch_{label}"] for label in LABELS]
    assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-5)
    assert row["p_pred"] == max(probabilities) and row["p_pred"] >= row["p_second"]
    assert row["p_arch_" + row["pred_architecture"]] == row["p_pred"]
    assert row["p_arch_" + row["architecture_second"]] == row["p_second"]
    assert row["architecture_second"] != row["pred_architecture"]
    assert isinstance(row["pred_architecture"], str) and "." in row["pred_architecture"]
    assert row["pred_architecture_name"]  # every shipped label has a CATH name


def test_column_order_matches_the_issue():
    names = [c.name for c in COLUMNS]
    assert names[: len(ISSUE_COLUMNS)] == ISSUE_COLUMNS
    assert names[len(ISSUE_COLUMNS) :] == [f"p_arch_{label}" for label in SHIPPED_LABELS]
    assert "p_arch_3.40" in names and "p_arch_3.4" not in names


def test_one_row_per_chain_by_default(shared_subset, model):
    structure = read_structure(shared_subset / "structures/acdc_ddg/1rgc.pdb.gz")
    rows = predict_domains(structure, model, LABELS, SPEC)
    assert [(r["chain"], r["domain_id"], r["domain_source"]) for r in rows] == [
        ("A", "A", "whole_chain"),
        ("B", "B", "whole_chain"),
    ]
    assert [r["n_residues"] for r in rows] == [104, 104]
    assert rows[0]["segments"] == "A:1-104" and rows[0]["structure_id"] == structure.structure_id
    assert rows[0]["model"] == structure.model_numbers[0]
    for row in rows:
        _check_row(row)


def test_user_domains_file(shared_subset, model, tmp_path):
    domains_file = tmp_path / "domains.tsv"
    domains_file.write_text(
        "structure_id\tchain\tdomain_id\tsegments\n"
        "1rgc\tA\tA01\tA:1-50,A:90-104\n"
        "1rgc\tB\tB01\tB:10-60\n"
        "other\tA\tX\tA:1-5\n"
    )
    domains = read_domains_file(domains_file)
    assert set(domains) == {"1rgc", "other"} and domains["1rgc"][0].segments == "A:1-50,A:90-104"
    structure = read_structure(shared_subset / "structures/acdc_ddg/1rgc.pdb.gz", structure_id="1rgc")
    rows = predict_domains(structure, model, LABELS, SPEC, domains["1rgc"])
    assert [(r["domain_id"], r["domain_source"], r["n_residues"]) for r in rows] == [
        ("A01", "user", 65),
        ("B01", "user", 51),
    ]
    for row in rows:
        _check_row(row)
    with pytest.raises(ProtsteerError, match="matches no residue"):
        predict_domains(structure, model, LABELS, SPEC, [UserDomain("1rgc", "C", "C01", "C:1-10")])


def test_domains_file_errors(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("structure_id\tchain\tsegments\n1abc\tA\tA:1-5\n")
    with pytest.raises(ProtsteerError, match="domain_id"):
        read_domains_file(path)
    path.write_text("structure_id\tchain\tdomain_id\tsegments\n1abc\tA\tD1\tA:1-5\n1abc\tA\tD1\tA:6-9\n")
    with pytest.raises(ProtsteerError, match="twice"):
        read_domains_file(path)


def test_load_predictor_from_weights_file(shared_subset, model, tmp_path, caplog):
    weights = tmp_path / "cath-test.pt"
    save_weights(
        weights,
        network_config=model.config,
        state_dict=model.state_dict(),
        task="cath",
        labels=LABELS,
        voxel_spec=SPEC.to_dict(),
        read_policy=ReadPolicy().to_dict(),
        metadata={},
    )
    predictor = load_predictor(str(weights), "cpu", None)
    assert [c.name for c in predictor.columns] == [c.name for c in COLUMNS]
    assert predictor.settings["labels"] == LABELS and len(predictor.settings["sha256"]) == 64
    structure = read_structure(shared_subset / "structures/acdc_ddg/1rgc.pdb.gz")
    rows = predictor(structure, "1rgc.pdb.gz")
    assert len(rows) == 2
    reference = predict_domains(structure, model, LABELS, SPEC)
    assert rows[0]["p_pred"] == pytest.approx(reference[0]["p_pred"], abs=1e-6)

    domains_file = tmp_path / "domains.tsv"
    domains_file.write_text(
        "structure_id\tchain\tdomain_id\tsegments\n1rgc\tA\tA01\tA:1-50\n1rgc\tA\tBAD\tA:500-600\n"
    )
    with_domains = load_predictor(str(weights), "cpu", domains_file)
    with caplog.at_level(logging.WARNING, logger="protsteer.tasks.cath.predict"):
        rows = with_domains(structure, "1rgc.pdb.gz")
        assert (
            with_domains(
                read_structure(shared_subset / "structures/acdc_ddg/1rgc.pdb.gz", structure_id="x"), "x.pdb"
            )
            == []
        )
    assert [row["domain_id"] for row in rows] == ["A01"]  # the bad row does not cost the input its others
    assert "1rgc.pdb.gz: cath: domain BAD skipped: " in caplog.text
    assert "x.pdb: cath: no domains of 'x' in the domains file" in caplog.text


def test_orientation_averaging_is_the_mean_probability(shared_subset, model):
    import numpy as np
    import torch

    from protsteer.so3 import orientation_set
    from protsteer.voxel import domain_environment

    structure = read_structure(shared_subset / "structures/acdc_ddg/1rgc.pdb.gz")
    rows = predict_domains(structure, model, LABELS, SPEC, orientations=3)
    chain_a = structure.residues.chain == "A"
    envs = domain_environment(structure, SPEC, residues=chain_a, frame="local")
    with torch.no_grad():
        logits = [model(envs.voxelize(rotations=r[None])).double() for r in orientation_set(3)]
    probabilities = [torch.softmax(values, dim=1)[0] for values in logits]
    expected = torch.stack(probabilities).mean(dim=0)
    got = [rows[0][f"p_arch_{label}"] for label in LABELS]
    assert np.allclose(got, expected.numpy(), atol=1e-6)
    _check_row(rows[0])
    single = predict_domains(structure, model, LABELS, SPEC)[0]
    assert max(abs(single[f"p_arch_{label}"] - p) for label, p in zip(LABELS, got, strict=True)) > 1e-6
