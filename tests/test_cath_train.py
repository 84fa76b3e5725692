"""A tiny CATH training run through the shared loop, export and evaluation, on a synthetic paper npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_cath_data import write_paper_npz  # tests/ is on sys.path (pytest prepend mode)
from test_structure_nasty import atom_line, pdb_text

from protsteer.cli import cli, main


def _synthetic_npz(path, per_split: int = 2) -> None:
    """Two shape classes: compact helices (1.10) and extended strands (2.60), in all ten splits."""
    rng = np.random.default_rng(0)
    proteins, labels, sizes = [], [], []
    for _ in range(10):
        for k in range(per_split):
            n = 40 + 5 * k
            t = np.arange(n)
            helix = np.stack([2.3 * np.cos(t * 1.75), 2.3 * np.sin(t * 1.75), 1.5 * t - 0.75 * n], axis=1)
            strand = np.stack([3.3 * t - 1.65 * n, 0.8 * (t % 2), np.zeros(n)], axis=1)
            for shape, label in ((helix, (1, 10)), (strand, (2, 60))):
                proteins.append(shape + rng.normal(scale=0.3, size=shape.shape))
                labels.append(label)
        sizes.append(2 * per_split)
    write_paper_npz(path, proteins, labels, sizes)


def test_train_export_evaluate_on_paper_npz(tmp_path):
    npz = tmp_path / "cath_synthetic.npz"
    _synthetic_npz(npz)
    run = tmp_path / "run"
    network = '{"preset": "tiny", "stages": [[2, 1], [4, 2]], "blocks": [0, 1], "head_hidden": 8}'
    common = [
        "--data",
        str(npz),
        "--grid-size",
        "11",
        "--voxel-size",
        "4",
        "--sigma",
        "2",
        "--channels",
        "CA",
        "--min-train-domains",
        "1",
        "--threads",
        "1",
        "--network-options",
        network,
        "--batch-size",
        "4",
        "--warmup-steps",
        "1",
        "--log-every",
        "1",
    ]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["train", "cath", "--out", str(run), "--max-steps", "4", *common], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "best val balanced_accuracy" in result.output
    assert (run / "best.pt").is_file()
    header = (run / "metrics.tsv").read_text().splitlines()[0].split("\t")
    assert {"balanced_accuracy", "accuracy", "class_accuracy", "loss"} <= set(header)

    result = runner.invoke(
        cli,
        ["train", "cath", "--out", str(run), "--max-steps", "6", "--resume", *common],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    steps = [line.split("\t")[0] for line in (run / "metrics.tsv").read_text().splitlines()[1:]]
    assert steps == ["4", "6"]  # resumed at step 4, validated at the end

    weights = tmp_path / "cath-test.pt"
    result = runner.invoke(cli, ["train", "export", str(run), "-o", str(weights)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from protsteer.io.weights import load_weights

    loaded = load_weights(weights)
    assert loaded.task == "cath" and loaded.labels == ["1.10", "2.60"]
    assert loaded.voxel_spec.grid_size == 11 and loaded.voxel_spec.channels == ("CA",)

    out = tmp_path / "eval"
    result = runner.invoke(
        cli,
        [
            "evaluate",
            "cath",
            "--weights",
            str(weights),
            "--data",
            str(npz),
            "--out",
            str(out),
            "--bootstrap",
            "50",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    summary = (out / "summary.tsv").read_text().splitlines()
    assert summary[0].startswith("model\tn_domains\tn_rows\taccuracy\taccuracy_ci_low")
    rows = {line.split("\t")[0]: line.split("\t") for line in summary[1:]}
    assert set(rows) == {"cath-test", "majority_class"}
    assert rows["majority_class"][1] == "8"  # splits 8-9: 2 x 4 proteins
    assert float(rows["majority_class"][3]) == pytest.approx(0.5)  # balanced test set
    confusion = (out / "confusion_cath-test.tsv").read_text().splitlines()
    assert confusion[0] == "true\tpred_1.10\tpred_2.60" and len(confusion) == 3
    assert sum(int(v) for line in confusion[1:] for v in line.split("\t")[1:]) == 8

    # two weights (the same file under two names), averaged over orientations, in the input frame
    twin = tmp_path / "cath-twin.pt"
    twin.write_bytes(weights.read_bytes())
    twin.with_name("cath-twin.pt.sha256").write_bytes(weights.with_name("cath-test.pt.sha256").read_bytes())
    out2 = tmp_path / "eval2"
    evaluate = ["evaluate", "cath", "--weights", str(weights), "--weights", str(twin), "--data", str(npz)]
    options = ["--out", str(out2), "--bootstrap", "20", "--orientations", "2", "--frame", "input"]
    result = runner.invoke(cli, [*evaluate, *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows2 = {
        line.split("\t")[0]: line.split("\t") for line in (out2 / "summary.tsv").read_text().splitlines()[1:]
    }
    assert set(rows2) == {"cath-test", "cath-twin", "majority_class"}
    assert rows2["cath-test"][1:] == rows2["cath-twin"][1:]  # the same network scores the same


def test_secondary_structure_channels_train_and_predict(tmp_path):
    """A model trained on helix/strand/coil CA channels keeps them in its weights, and predict recomputes
    the states for a real structure file."""
    npz = tmp_path / "cath_synthetic.npz"
    _synthetic_npz(npz, per_split=1)
    run, weights = tmp_path / "run", tmp_path / "cath-ss.pt"
    network = '{"preset": "tiny", "stages": [[2, 1], [4, 2]], "blocks": [0, 1], "head_hidden": 8}'
    runner = CliRunner()
    channels = "CA:helix,CA:strand,CA:coil"
    result = runner.invoke(
        cli,
        [
            "train",
            "cath",
            "--out",
            str(run),
            "--data",
            str(npz),
            "--grid-size",
            "11",
            "--voxel-size",
            "4",
            "--sigma",
            "2",
            "--channels",
            channels,
            "--min-train-domains",
            "1",
            "--threads",
            "1",
            "--network-options",
            network,
            "--batch-size",
            "4",
            "--max-steps",
            "2",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["train", "export", str(run), "-o", str(weights)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from protsteer.io.weights import load_weights

    loaded = load_weights(weights)
    assert loaded.voxel_spec.channels == ("CA:helix", "CA:strand", "CA:coil")
    assert loaded.network_config["in_channels"] == 3

    example = Path(__file__).resolve().parents[1] / "examples" / "1TEN.pdb.gz"
    out = tmp_path / "predicted"
    result = runner.invoke(
        cli,
        [
            "predict",
            str(example),
            "-o",
            str(out),
            "--tasks",
            "propensity,cath",
            "--cath-weights",
            str(weights),
            "--weights",
            "propensity-v2",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    header, *rows = (out / "cath.tsv").read_text().splitlines()
    assert len(rows) == 1  # one chain
    cells = dict(zip(header.split("\t"), rows[0].split("\t"), strict=True))
    # the command computes the secondary-structure channels as the library does for this structure
    from protsteer.structure import ReadPolicy, read_structure
    from protsteer.tasks.cath.predict import predict_domains

    structure = read_structure(example, ReadPolicy.from_dict(loaded.read_policy))
    (expected,) = predict_domains(structure, loaded.model, list(loaded.labels), loaded.voxel_spec)
    for label in loaded.labels:
        assert float(cells[f"p_arch_{label}"]) == pytest.approx(expected[f"p_arch_{label}"], abs=2e-6)
    assert cells["pred_architecture"] == expected["pred_architecture"]


def test_export_several_runs_as_an_ensemble(tmp_path, capsys):
    """Runs of one task and input (here a steerable and a plain network) export as one ensemble whose
    probabilities are the mean of the members'; runs with another input are refused with one line."""
    import torch

    from protsteer.io.weights import load_weights

    npz = tmp_path / "cath_synthetic.npz"
    _synthetic_npz(npz, per_split=1)
    runner = CliRunner()

    def train(name: str, *options: str) -> Path:
        run = tmp_path / name
        args = [
            "train",
            "cath",
            "--out",
            str(run),
            "--data",
            str(npz),
            "--voxel-size",
            "4",
            "--sigma",
            "2",
            "--channels",
            "CA",
            "--min-train-domains",
            "1",
            "--threads",
            "1",
            "--batch-size",
            "4",
            "--max-steps",
            "2",
            *options,
        ]
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return run

    tiny = '{"preset": "tiny", "stages": [[2, 1], [4, 2]], "blocks": [0, 1], "head_hidden": 8}'
    steerable = train("s", "--grid-size", "11", "--network-options", tiny)
    small_plain = '{"preset": "tiny", "stages": [2, 4], "blocks": [0, 1], "head_hidden": 8}'
    plain = train(
        "p", "--grid-size", "11", "--arch", "plain", "--seed", "1", "--network-options", small_plain
    )
    paths = {name: tmp_path / f"{name}.pt" for name in ("s", "p", "both")}
    for name, runs in (("s", [steerable]), ("p", [plain]), ("both", [steerable, plain])):
        result = runner.invoke(
            cli, ["train", "export", *map(str, runs), "-o", str(paths[name])], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
    assert "ensemble of 2 sources" in result.output
    members = [load_weights(paths["s"]).model, load_weights(paths["p"]).model]
    ensemble = load_weights(paths["both"])
    assert ensemble.network_config["arch"] == "ensemble" and ensemble.labels == ["1.10", "2.60"]
    assert len(ensemble.metadata["members"]) == 2
    x = torch.randn(3, 1, 11, 11, 11)
    with torch.no_grad():
        expected = torch.stack([m(x).softmax(dim=1) for m in members]).mean(dim=0)
        assert torch.allclose(ensemble.model(x).softmax(dim=1), expected, atol=1e-6)

    # weights files are sources too; an ensemble among them contributes its members
    result = runner.invoke(
        cli,
        ["train", "export", str(paths["both"]), str(paths["s"]), "-o", str(tmp_path / "three.pt")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    three = load_weights(tmp_path / "three.pt")
    assert len(three.network_config["members"]) == 3
    with torch.no_grad():
        expected = (2 * members[0](x).softmax(dim=1) + members[1](x).softmax(dim=1)) / 3
        assert torch.allclose(three.model(x).softmax(dim=1), expected, atol=1e-6)

    # --temperature divides the ensemble's log mean probabilities: T = 0.5 squares them (renormalised)
    result = runner.invoke(
        cli,
        ["train", "export", str(steerable), str(plain), "--temperature", "0.5", "-o", str(tmp_path / "t.pt")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    tempered = load_weights(tmp_path / "t.pt")
    assert tempered.network_config["temperature"] == 0.5
    with torch.no_grad():
        mean = torch.stack([m(x).softmax(dim=1) for m in members]).mean(dim=0)
        sharpened = mean**2 / (mean**2).sum(dim=1, keepdim=True)
        assert torch.allclose(tempered.model(x).softmax(dim=1), sharpened, atol=1e-6)
        assert torch.equal(tempered.model(x).argmax(dim=1), ensemble.model(x).argmax(dim=1))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export", str(steerable), "--temperature", "0.5", "-o", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "a temperature applies to an ensemble" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.pt").exists()

    other = train("o", "--grid-size", "9", "--network-options", tiny)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export", str(steerable), str(other), "-o", str(tmp_path / "x.pt")])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "cannot ensemble: its voxel_spec differs" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.pt").exists()

    # --checkpoint: a step checkpoint path of one run, "last", and the errors
    step = sorted((steerable / "checkpoints").glob("step-*.pt"))[-1]
    result = runner.invoke(
        cli,
        ["train", "export", str(steerable), "--checkpoint", str(step), "-o", str(tmp_path / "step.pt")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert load_weights(tmp_path / "step.pt").metadata["step"] == 2
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export", str(steerable), str(plain), "--checkpoint", str(step), "-o", "y.pt"])
    assert (
        exit_.value.code == 2
        and "--checkpoint PATH takes exactly one run directory" in capsys.readouterr().err
    )
    for path in (steerable / "checkpoints").glob("step-*.pt"):
        path.unlink()
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export", str(steerable), "--checkpoint", "last", "-o", str(tmp_path / "z.pt")])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and f"{steerable}: no step checkpoint in the run directory" in err
    with pytest.raises(SystemExit) as exit_:
        main(["train", "export", str(steerable), "--checkpoint", str(step), "-o", str(tmp_path / "z.pt")])
    assert exit_.value.code == 1 and f"{step}: checkpoint not found" in capsys.readouterr().err


def _ca_pdb(traces: dict[str, np.ndarray]) -> bytes:
    """PDB text of CA-only chains: chain id -> [n, 3] coordinates (Angstrom), residues numbered from 1."""
    lines = [
        atom_line(0, "CA", "ALA", chain, i + 1, x, y, z, "C")
        for chain, trace in traces.items()
        for i, (x, y, z) in enumerate(trace)
    ]
    return pdb_text(lines)


def _trace(shape: str, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n)
    if shape == "helix":
        trace = np.stack([2.3 * np.cos(t * 1.75), 2.3 * np.sin(t * 1.75), 1.5 * t - 0.75 * n], axis=1)
    else:
        trace = np.stack([3.3 * t - 1.65 * n, 0.8 * (t % 2), np.zeros(n)], axis=1)
    return trace + rng.normal(scale=0.3, size=trace.shape)


def test_train_and_evaluate_on_a_cath_domain_list(tmp_path):
    """``--source clf``: a CATH domain list, dompdb files and whole entries cut with ``--boundaries``,
    ``--labels`` (a third architecture left out), ``--val-copies`` and ``--split-seed``, through train,
    export and evaluate."""
    from protsteer.tasks.cath.data_clf import assign_topology_splits

    rng = np.random.default_rng(1)
    structures = tmp_path / "dompdb"
    structures.mkdir()
    clf, bounds, topology_of_domain = [], [], {}
    for k in range(6):  # six topologies per architecture; two copies (one S35 cluster) + one other domain
        for arch, shape in (("1.10", "helix"), ("2.60", "strand"), ("3.40", "helix")):
            c, a = arch.split(".")
            topology = f"{arch}.{k + 1}"
            ids = [f"{k + 1}{c}{a}{chain}01" for chain in "ABC"]  # PDB id, chain, domain number
            for d, (domain, s35) in enumerate(zip(ids, (1, 1, 2), strict=True)):
                clf.append(f"{domain} {c} {a} {k + 1} 1 {s35} 1 1 {d + 1} 1 40 2.0")
                topology_of_domain[domain] = topology
            for domain in ids[:2]:  # dompdb files: the whole file is the domain
                (structures / f"{domain}.pdb").write_bytes(_ca_pdb({"A": _trace(shape, 40, rng)}))
            # a whole entry named by its PDB id; the domain is residues 11-50 of chain C
            entry = {"C": _trace(shape, 60, rng), "D": _trace("strand", 30, rng)}
            (structures / f"{ids[2][:4]}.pdb").write_bytes(_ca_pdb(entry))
            bounds.append(f"{ids[2]} {topology}.1 C.11-50")
    (tmp_path / "list.txt").write_text("# CLF\n" + "\n".join(clf) + "\n")
    (tmp_path / "bounds.txt").write_text("\n".join(bounds) + "\n")

    split_seed = 2
    splits = assign_topology_splits(sorted(topology_of_domain.values()), seed=split_seed)
    in_split = {
        split: [d for d, t in topology_of_domain.items() if splits[t] == split and not t.startswith("3.40")]
        for split in ("train", "val", "test")
    }
    assert all(in_split.values())  # the fixture reaches all three splits
    from protsteer.tasks.cath.task import CathData, load_cath_data
    from protsteer.voxel import VoxelSpec

    data = CathData(
        source="clf",
        data=structures,
        domain_list=tmp_path / "list.txt",
        boundaries=tmp_path / "bounds.txt",
        split_seed=split_seed,
        spec=VoxelSpec(box_size=44.0, voxel_size=4.0, sigma=2.0, channels=("CA",)),
    )
    test_domains = load_cath_data(data, ("test",))
    assert {len(c) for c in test_domains.coords} == {40}  # whole entries (90 CA) cut to residues 11-50

    source = ["--source", "clf", "--data", str(structures), "--domain-list", str(tmp_path / "list.txt")]
    source += ["--boundaries", str(tmp_path / "bounds.txt"), "--split-seed", str(split_seed)]
    spec = ["--grid-size", "11", "--voxel-size", "4", "--sigma", "2", "--channels", "CA"]
    network = '{"preset": "tiny", "stages": [[2, 1], [4, 2]], "blocks": [0, 1], "head_hidden": 8}'
    run = tmp_path / "run"
    train = ["train", "cath", *source, *spec, "--out", str(run), "--labels", "1.10,2.60", "--val-copies", "1"]
    train += ["--network-options", network, "--threads", "1", "--batch-size", "4", "--max-steps", "2"]
    runner = CliRunner()
    result = runner.invoke(cli, train, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    described = json.loads((run / "train.json").read_text())["describe"]
    assert described["labels"] == ["1.10", "2.60"]
    dropped = sum(splits[f"3.40.{k + 1}"] == "train" for k in range(6)) * 2  # distinct (S35) domains
    assert described["dropped_architectures"] == {"3.40": dropped} and dropped > 0
    assert described["data"]["source"] == "clf" and described["data"]["split_seed"] == split_seed
    assert described["train_rows"] == len(in_split["train"])
    assert described["val_rows"] == len(in_split["val"]) * 2 // 3  # one row per S35 cluster

    weights = tmp_path / "cath-clf.pt"
    result = runner.invoke(cli, ["train", "export", str(run), "-o", str(weights)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = tmp_path / "eval"
    evaluate = [
        "evaluate",
        "cath",
        "--weights",
        str(weights),
        *source,
        "--out",
        str(out),
        "--bootstrap",
        "10",
    ]
    result = runner.invoke(cli, evaluate, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {
        line.split("\t")[0]: line.split("\t") for line in (out / "summary.tsv").read_text().splitlines()[1:]
    }
    n_test_clusters = len(in_split["test"]) * 2 // 3
    assert set(rows) == {"cath-clf", "majority_class"}
    assert rows["cath-clf"][1:3] == [str(n_test_clusters), str(len(in_split["test"]))]  # domains, rows
