"""End to end on a miniature data directory built from real files: train -> resume -> export -> evaluate."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from click.testing import CliRunner
from predict_helpers import run_cli

from protsteer.cli import cli
from protsteer.errors import ProtsteerError
from protsteer.io.weights import load_weights

SPLIT_CHAINS = {
    "train": ["covariation/PF00249__1GUU_A:A", "covariation/PF00327__1BXY_A:A"],
    "val": ["covariation/PF00542__1CTF_A:A"],
    "test": ["covariation/PF00018__2O9S_A:A", "covariation/PF00240__2BWF_A:A"],
}
TINY = '{"stages": [[4, 2], [4, 2]], "blocks": [0, 1], "head_hidden": 16}'


@pytest.fixture(scope="module")
def mini_data(shared_subset, tmp_path_factory):
    """chains.tsv, splits/ and the structure files of five small chains of the shared data."""
    root = tmp_path_factory.mktemp("mini_data")
    wanted = {key for keys in SPLIT_CHAINS.values() for key in keys}
    lines = (shared_subset / "chains.tsv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split("\t")[0] in wanted]
    (root / "chains.tsv").write_text("\n".join(kept) + "\n")
    (root / "splits").mkdir()
    for split, keys in SPLIT_CHAINS.items():
        (root / "splits" / f"{split}.txt").write_text("\n".join(keys) + "\n")
    for line in kept[1:]:
        relative = line.split("\t")[2]
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_subset / relative, root / relative)
    return root


def _train_args(data, run, cache, *extra):
    options = (
        "--preset tiny --batch-size 4 --samples-per-epoch 16 --val-samples 24 --threads 1 --cache-workers 1 "
        "--warmup-steps 1"
    )
    paths = ["--data", str(data), "--out", str(run), "--cache-dir", str(cache)]
    return ["train", "propensity", *paths, "--network-options", TINY, *options.split(), *extra]


def test_train_resume_export_evaluate(mini_data, tmp_path):
    runner = CliRunner()
    run, cache = tmp_path / "run", tmp_path / "cache"
    result = runner.invoke(cli, _train_args(mini_data, run, cache, "--max-steps", "8"))
    assert result.exit_code == 0 and "completed at step 8/8" in result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [4, 8] and all(0 <= row["top1"] <= 1 for row in rows)
    train_json = json.loads((run / "train.json").read_text())
    assert train_json["describe"]["train_families"] == 2 and train_json["describe"]["val_residues"] == 24

    result = runner.invoke(cli, _train_args(mini_data, run, cache, "--max-steps", "12", "--resume"))
    assert result.exit_code == 0 and "completed at step 12/12" in result.output

    weights_path = tmp_path / "w.pt"
    result = runner.invoke(cli, ["train", "export", str(run), "-o", str(weights_path)])
    assert result.exit_code == 0 and weights_path.with_name("w.pt.sha256").exists()
    loaded = load_weights(weights_path)
    assert loaded.task == "propensity" and "".join(loaded.labels) == "ACDEFGHIKLMNPQRSTVWY"
    all_rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in all_rows] == [4, 8, 12]
    best = max(all_rows, key=lambda row: row["top1"])
    assert loaded.metadata["step"] == best["step"]
    assert loaded.metadata["val_metrics"]["top1"] == pytest.approx(best["top1"])
    last_path = tmp_path / "last.pt"
    result = runner.invoke(cli, ["train", "export", str(run), "-o", str(last_path), "--checkpoint", "last"])
    assert result.exit_code == 0
    last = load_weights(last_path).metadata
    assert last["step"] == 12 and last["val_metrics"]["top1"] == pytest.approx(all_rows[-1]["top1"])

    out = tmp_path / "eval"
    paths = [
        "--weights",
        str(weights_path),
        "--data",
        str(mini_data),
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    options = "--split test --max-residues 40 --threads 1".split()
    result = runner.invoke(cli, ["evaluate", "propensity", *paths, *options])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluated_residues"] == 40 and summary["families"] == 2
    assert 0 <= summary["rotation"]["top1_agreement"] <= 1
    confusion = (out / "confusion.tsv").read_text().splitlines()
    assert len(confusion) == 21 and sum(int(x) for line in confusion[1:] for x in line.split("\t")[1:]) == 40
    per_family = (out / "per_family.tsv").read_text().splitlines()
    assert len(per_family) == 3
    calibration = [line.split("\t") for line in (out / "calibration.tsv").read_text().splitlines()]
    assert calibration[0] == ["bin_low", "bin_high", "n", "mean_confidence", "accuracy"]
    assert len(calibration) == 11 and sum(int(row[2]) for row in calibration[1:]) == 40
    assert 0 <= summary["calibration"]["ece"] <= 1
    assert 0.1 <= summary["calibration"]["temperature"] <= 10
    assert summary["calibration"]["log_loss_at_temperature"] <= summary["per_residue"]["log_loss"] + 1e-6
    assert "best temperature" in result.output

    averaged = tmp_path / "eval-orientations"
    paths[paths.index(str(out))] = str(averaged)
    result = runner.invoke(cli, ["evaluate", "propensity", *paths, *options, "--orientations", "3"])
    assert result.exit_code == 0, result.output
    summary3 = json.loads((averaged / "summary.json").read_text())
    assert summary3["orientations"] == 3 and 0 <= summary3["rotation"]["top1_agreement"] <= 1
    assert summary3["per_residue"]["log_loss"] != summary["per_residue"]["log_loss"]

    compared = tmp_path / "eval-compare"
    paths = ["--weights", str(weights_path), "--weights", str(last_path), "--data", str(mini_data)]
    paths += ["--out", str(compared), "--cache-dir", str(cache)]
    result = runner.invoke(cli, ["evaluate", "propensity", *paths, *options, "--no-rotations"])
    assert result.exit_code == 0, result.output
    lines = (compared / "comparison.tsv").read_text().splitlines()
    header, first, second = (line.split("\t") for line in lines)
    row = dict(zip(header, second, strict=True))
    assert dict(zip(header, first, strict=True))["d_top1"] == ""  # the reference row
    assert row["model"] == "last" and row["vs"] == "w" and int(row["residues"]) == 40
    assert float(row["d_top1_ci_low"]) <= float(row["d_top1"]) <= float(row["d_top1_ci_high"])
    for name in ("w", "last"):
        assert json.loads((compared / name / "summary.json").read_text())["evaluated_residues"] == 40
    assert "last - w: top1" in result.output


def test_train_refuses_bad_data_dir_with_one_line(tmp_path, capsys):
    args = [
        "train",
        "propensity",
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--max-steps",
        "1",
    ]
    assert run_cli(*args) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("protsteer: error: ") and "chains.tsv" in error[0]


def test_resolve_device_cpu_and_unavailable_cuda():
    from protsteer.errors import ProtsteerError
    from protsteer.tasks.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ProtsteerError, match="CUDA"):
            resolve_device("cuda:0")
    with pytest.raises(ProtsteerError):
        resolve_device("tpu")


def test_packed_training_data_trains_without_the_structure_files(mini_data, tmp_path):
    """benchmarks/carry_training_data.py (how a borrowed GPU gets the data): pack, unpack, train."""
    import importlib.util
    from pathlib import Path

    import numpy as np

    from protsteer.structure.policy import ReadPolicy
    from protsteer.tasks.propensity.cache import ATOM_ARRAYS, RESIDUE_ARRAYS, StructureStore, cache_root

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "carry_training_data.py"
    spec = importlib.util.spec_from_file_location("carry_training_data", script)
    carry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(carry)
    carry.pack(mini_data, tmp_path / "cache", tmp_path / "pack", ["train", "val"], workers=1)
    assert not (tmp_path / "pack" / "structures").exists()  # no structure files travel
    carry.unpack(tmp_path / "pack", tmp_path / "cache2")

    files = sorted(
        {line.split("\t")[2] for line in (tmp_path / "pack" / "chains.tsv").read_text().splitlines()[1:]}
    )
    files = [f for f in files if (cache_root(tmp_path / "cache2", ReadPolicy()) / f"{f}.npz").exists()]
    assert len(files) == 3  # the train and val files
    original = StructureStore.load(cache_root(tmp_path / "cache", ReadPolicy()), files)
    unpacked = StructureStore.load(cache_root(tmp_path / "cache2", ReadPolicy()), files)
    assert np.abs(original.coords - unpacked.coords).max() <= 0.0051
    for key in ATOM_ARRAYS + RESIDUE_ARRAYS:
        if key not in ("coords", "virtual_cb"):
            assert np.array_equal(getattr(original, key), getattr(unpacked, key)), key
    assert np.array_equal(original.virtual_cb, unpacked.virtual_cb, equal_nan=True)

    args = _train_args(tmp_path / "pack", tmp_path / "run", tmp_path / "cache2", "--max-steps", "2")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "best.pt").exists()


SPLIT_CHANNELS = "C:backbone,N:backbone,O:backbone,C:sidechain,N:sidechain,O:sidechain,S,other,all:hetero"


def test_train_with_other_channels_then_predict_uses_them(mini_data, tmp_path):
    runner = CliRunner()
    run, cache, weights_path = tmp_path / "run", tmp_path / "cache", tmp_path / "split.pt"
    args = _train_args(mini_data, run, cache, "--max-steps", "4", "--channels", SPLIT_CHANNELS)
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli, ["train", "export", str(run), "-o", str(weights_path)]).exit_code == 0
    loaded = load_weights(weights_path)
    assert loaded.voxel_spec.channels == tuple(SPLIT_CHANNELS.split(","))
    assert loaded.network_config["in_channels"] == 9

    first_file = sorted((mini_data / "structures").rglob("*.*"))[0]
    out = tmp_path / "pred"
    result = runner.invoke(
        cli, ["predict", str(first_file), "--weights", str(weights_path), "-o", str(out), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    rows = (out / "residues.tsv").read_text().splitlines()
    assert len(rows) > 10 and rows[0].startswith("structure_id\tfile")


def test_train_rejects_an_unknown_channel_in_one_line(mini_data, tmp_path, capsys):
    run, cache = tmp_path / "run", tmp_path / "cache"
    args = _train_args(mini_data, run, cache, "--max-steps", "1", "--channels", "C,Q")
    assert run_cli(*args) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("protsteer: error: ")
    assert "unknown voxel channel 'Q'" in error[0]


def test_train_propensity_default_channels_are_the_residue_spec():
    from protsteer.cli.train_cmd import PROPENSITY_CHANNELS
    from protsteer.voxel import RESIDUE_SPEC

    assert PROPENSITY_CHANNELS == RESIDUE_SPEC.channels


def test_weight_average_is_what_export_writes(mini_data, tmp_path):
    runner = CliRunner()
    run, cache = tmp_path / "run", tmp_path / "cache"
    result = runner.invoke(cli, _train_args(mini_data, run, cache, "--max-steps", "4", "--ema-decay", "0.5"))
    assert result.exit_code == 0, result.output
    assert "raw_top1" in (run / "metrics.tsv").read_text().splitlines()[0].split("\t")
    checkpoint = torch.load(sorted((run / "checkpoints").glob("step-*.pt"))[-1], weights_only=False)
    for which, path in (("last", tmp_path / "last.pt"), ("best", tmp_path / "best.pt")):
        result = runner.invoke(cli, ["train", "export", str(run), "-o", str(path), "--checkpoint", which])
        assert result.exit_code == 0, result.output
    exported = load_weights(tmp_path / "last.pt")
    state = exported.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in checkpoint["ema"]["model"].items())
    assert not all(torch.equal(state[k], v) for k, v in checkpoint["model"].items())
    assert exported.metadata["weight_average"] == {"decay": 0.5, "updates": 4}
    best = torch.load(run / "best.pt", weights_only=False)
    best_state = load_weights(tmp_path / "best.pt").model.state_dict()
    assert all(torch.equal(best_state[k], v) for k, v in best["model"].items())


def test_train_plain_whole_box_residue_weighting_then_evaluate_in_the_input_frame(mini_data, tmp_path):
    """--arch plain, --crop-radius 0 (every atom of the box), --family-weighting, then evaluate with --frame
    input and --precision bf16: each choice reaches the run's records and the exported weights."""
    runner = CliRunner()
    run, cache = tmp_path / "run", tmp_path / "cache"
    args = _train_args(mini_data, run, cache, "--max-steps", "2", "--arch", "plain")
    args[args.index("--network-options") + 1] = '{"preset": "tiny"}'
    args += ["--crop-radius", "0", "--family-weighting", "residue"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "train.json").read_text())["describe"]["family_weighting"] == "residue"
    weights_path = tmp_path / "plain.pt"
    assert runner.invoke(cli, ["train", "export", str(run), "-o", str(weights_path)]).exit_code == 0
    loaded = load_weights(weights_path)
    assert loaded.network_config["arch"] == "plain" and loaded.voxel_spec.crop_radius is None

    out = tmp_path / "eval"
    evaluate = ["evaluate", "propensity", "--weights", str(weights_path), "--data", str(mini_data)]
    options = ["--out", str(out), "--cache-dir", str(cache), "--split", "test", "--max-residues", "20"]
    result = runner.invoke(
        cli, [*evaluate, *options, "--frame", "input", "--precision", "bf16", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["frame"], summary["precision"], summary["evaluated_residues"]) == ("input", "bf16", 20)


@pytest.mark.parametrize("orientation", ["local", "random"])
def test_orientation_local_trains_on_the_unrotated_grids_predict_sees(mini_data, tmp_path, orientation):
    from protsteer.tasks.propensity.data import EnvironmentDataset
    from protsteer.tasks.propensity.task import PropensityData, PropensityTask
    from protsteer.voxel import RESIDUE_SPEC

    data = PropensityData(
        mini_data, tmp_path / "cache", RESIDUE_SPEC, val_samples=8, cache_workers=1, orientation=orientation
    )
    task = PropensityTask(data, {"arch": "steerable", "preset": "tiny"})
    val = task.val_dataset()
    batch = task.collate([val[i] for i in range(4)])
    grids = [
        task.prepare_batch(batch, torch.device("cpu"), torch.Generator().manual_seed(s))[0] for s in (1, 2)
    ]
    if orientation == "local":
        assert torch.equal(grids[0], grids[1])  # no augmentation: the same grids whatever the generator
        local = EnvironmentDataset(*task._val, RESIDUE_SPEC, frame="local")
        assert torch.equal(torch.as_tensor(val[0][0]), torch.as_tensor(local[0][0]))  # predict's frame
        assert task.describe()["orientation"] == "local"
    else:
        assert not torch.allclose(grids[0], grids[1])
    with pytest.raises(ProtsteerError, match="orientation must be one of random, local"):
        PropensityData(mini_data, tmp_path / "cache", RESIDUE_SPEC, orientation="sideways")
