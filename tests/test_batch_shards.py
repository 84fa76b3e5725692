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


def test_merge_format_columns_and_per_input(runs):
    from protsteer.io.tables import iter_rows
    from protsteer.tasks.propensity.tables import RESIDUE_COLUMNS

    chosen = [
        next(c for c in RESIDUE_COLUMNS if c.name == name) for name in ("resseq", "structure_id", "p_A")
    ]

    def read(path):
        return [{c.name: row[c.name] for c in chosen} for row in iter_rows(path, chosen)]

    full = read(runs / "full" / "residues.tsv")
    shards = [runs / f"shard{k}" for k in range(3)]
    out = runs / "merged-jsonl"
    assert (
        run_cli("merge", *shards, "-o", out, "--format", "jsonl", "--columns", "resseq,structure_id,p_A") == 0
    )
    lines = (out / "residues.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == full and list(json.loads(lines[0])) == [
        c.name for c in chosen
    ]

    out = runs / "merged-per-input"
    assert run_cli("merge", *shards, "-o", out, "--per-input") == 0
    tables = sorted((out / "per_input").iterdir())
    ids = sorted({row["structure_id"] for row in full})
    assert [path.name for path in tables] == [f"{structure_id}.residues.tsv" for structure_id in ids]
    merged = [row for path in tables for row in read(path)]
    assert sorted(merged, key=str) == sorted(full, key=str)


def test_scan_shards_merge_into_the_unsharded_scan(runs):
    weights = runs / "tiny.pt"
    inputs = [runs / "in" / name for name in ("head.pdb", "tenascin.pdb.gz", "copy_head.pdb")]
    common = ["--weights", weights, "--workers", "0", "-q", "--positions", "A:810-812"]
    assert run_cli("scan", *inputs, "-o", runs / "scan-full", *common) == 0
    for index in range(2):
        assert run_cli("scan", *inputs, "-o", runs / f"scan{index}", "--shard", f"{index}/2", *common) == 0
    assert run_cli("merge", runs / "scan1", runs / "scan0", "-o", runs / "scan-merged") == 0
    full = (runs / "scan-full" / "scan.tsv").read_text()
    assert (runs / "scan-merged" / "scan.tsv").read_text() == full
    assert len(full.splitlines()) == 1 + 3 * 3 * 19  # 3 positions x 19 mutants in each input
