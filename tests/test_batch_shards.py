"""Shards: --shard 0/3, 1/3, 2/3 merged with ``protsteer merge`` equal the unsharded run."""

from __future__ import annotations

import json
import shutil

import pytest
from predict_helpers import run_cli, tiny_weights, write_corrupt_structures, write_valid_structures


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    weights = tiny_weights(root / "tiny.pt")
    inputs = root / "in"
    write_valid_structures(inputs)
    write_corrupt_structures(inputs)
    for path in sorted(p for p in inputs.iterdir() if p.name in ("head.pdb", "tail.cif")):
        shutil.copy(path, inputs / f"copy_{path.name}")
    common = ["--weights", weights, "--workers", "0", "--batch-size", "8", "-q", "--allow-partial"]
    assert run_cli("predict", inputs, "-o", root / "full", *common) == 0
    for index in range(3):
        assert run_cli("predict", inputs, "-o", root / f"shard{index}", "--shard", f"{index}/3", *common) == 0
    return root


def test_shards_are_disjoint_and_cover_all_inputs(runs):
    ids = [
        {i["structure_id"] for i in json.loads((runs / f"shard{k}" / "run.json").read_text())["inputs"]}
        for k in range(3)
    ]
    full = {i["structure_id"] for i in json.loads((runs / "full" / "run.json").read_text())["inputs"]}
    assert set.union(*ids) == full and sum(map(len, ids)) == len(full) == 5


def test_merged_shards_equal_the_full_run(runs):
    assert run_cli("merge", *(runs / f"shard{k}" for k in (2, 0, 1)), "-o", runs / "merged") == 0
    assert (runs / "merged" / "residues.tsv").read_bytes() == (runs / "full" / "residues.tsv").read_bytes()
    assert (runs / "merged" / "errors.tsv").read_text() == (runs / "full" / "errors.tsv").read_text()
    record = json.loads((runs / "merged" / "run.json").read_text())
    assert record["command"] == "merge" and len(record["inputs"]) == 5


def test_missing_shard_is_an_error_unless_allowed(runs, capsys):
    assert run_cli("merge", runs / "shard0", runs / "shard2", "-o", runs / "partial") == 1
    assert "shards 1 are missing" in capsys.readouterr().err
    assert run_cli("merge", runs / "shard0", runs / "shard2", "-o", runs / "partial", "--allow-partial") == 0


def test_merge_refuses_other_settings(runs, tmp_path, capsys):
    other = tmp_path / "other"
    weights = tiny_weights(tmp_path / "other.pt", seed=3)
    assert (
        run_cli(
            "predict", runs / "in" / "head.pdb", "-o", other, "--weights", weights, "--workers", "0", "-q"
        )
        == 0
    )
    assert run_cli("merge", runs / "full", other, "-o", tmp_path / "merged") == 1
    assert "other settings" in capsys.readouterr().err


def test_merge_output_cannot_be_a_source(runs, capsys):
    assert run_cli("merge", runs / "shard0", "-o", runs / "shard0") == 1
    assert "must not be one of its sources" in capsys.readouterr().err
