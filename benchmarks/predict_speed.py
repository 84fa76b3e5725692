"""``protsteer predict`` throughput end to end (residues/s), CPU and (when present) CUDA, with the time split
into parse / environments / voxelize / network / write.

    python benchmarks/predict_speed.py                          # 20 test-split files of ../shared/data
    python benchmarks/predict_speed.py --files 50 --batch-size 512 --workers 4
    python benchmarks/predict_speed.py --weights path/to/w.pt FILE...

Each configuration runs ``run_predict`` (the code behind the CLI) into a fresh temporary OUTDIR:

- ``split``: reading in the main process (``--workers 0``), so the stage times add up to the wall time;
- ``pipelined``: reading in worker processes, overlapping with voxelization and the network (the default).

Without ``--weights`` the default shipped propensity weights are used; when they are not installed, an
untrained network of the same family (``--preset``, default ``small``) stands in: speed only, predictions
meaningless. The first call of each device warms up on 2 files (not timed). Numbers are wall-clock seconds
of this process; ``read``/``environments`` of the pipelined run are summed over workers (CPU time, not wall
time).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from protsteer.models import DEFAULT_WEIGHTS

from protsteer.io.batch import OutputOptions
from protsteer.io.weights import available_weights, save_weights
from protsteer.networks import build_network, count_parameters
from protsteer.structure import AMINO_ACIDS, ReadPolicy
from protsteer.tasks.propensity.inference import default_workers
from protsteer.tasks.propensity.predict import run_predict
from protsteer.tasks.propensity.runner import BatchRequest
from protsteer.voxel import RESIDUE_SPEC

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def test_split_files(count: int) -> list[Path]:
    """``count`` files of the test split, spread over sizes (every k-th by residue count)."""
    wanted = set((DATA / "splits" / "test.txt").read_text().split())
    sizes: dict[str, int] = {}
    with open(DATA / "chains.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["chain_key"] in wanted:
                sizes[row["file"]] = sizes.get(row["file"], 0) + int(row["n_residues"])
    ordered = sorted(sizes, key=lambda f: (sizes[f], f))
    step = max(1, len(ordered) // count)
    return [DATA / f for f in ordered[::step][:count]]


def stand_in_weights(directory: Path, preset: str) -> Path:
    """An untrained steerable network with the residue voxel spec (speed measurements only)."""
    torch.manual_seed(0)
    model = build_network(
        {"arch": "steerable", "in_channels": RESIDUE_SPEC.n_channels, "n_outputs": 20, "preset": preset}
    )
    path = directory / f"untrained-{preset}.pt"
    save_weights(
        path,
        network_config=model.config,
        state_dict=model.state_dict(),
        task="propensity",
        labels=list(AMINO_ACIDS),
        voxel_spec=RESIDUE_SPEC.to_dict(),
        read_policy=ReadPolicy().to_dict(),
        metadata={"note": "untrained stand-in for speed benchmarks"},
    )
    return path


def run_once(
    files: list[Path],
    weights: str,
    device: str,
    batch_size: int,
    workers: int,
    precision: str,
    orientations: int = 1,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        request = BatchRequest(
            inputs=[str(f) for f in files],
            outdir=Path(tmp) / "out",
            weights=weights,
            device=device,
            batch_size=batch_size,
            workers=workers,
            precision=precision,
            orientations=orientations,
            output=OutputOptions(),
            progress=False,
        )
        started = time.perf_counter()
        summary = run_predict(request)
        wall = time.perf_counter() - started
        record = json.loads((Path(tmp) / "out" / "run.json").read_text())
    residues = summary.rows.get("residues", 0)
    return {
        "residues": residues,
        "structures": summary.computed,
        "wall_s": wall,
        "residues_per_s": residues / wall,
        "stages": record["timing"]["stage_seconds"],
        "device_name": record["device_name"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument(
        "--files", dest="count", type=int, default=20, help="test-split files when none given"
    )
    parser.add_argument("--weights", default=None)
    parser.add_argument("--preset", default="small", help="stand-in network preset when no weights exist")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 16 on CPU, 512 on CUDA")
    parser.add_argument("--workers", type=int, default=None, help="pipelined run (default: cores - 1)")
    parser.add_argument(
        "--precision",
        default="fp32",
        help="comma-separated subset of fp32,bf16,fp16, run one after the other for in-run ratios "
        "(fp16 only on CUDA)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--orientations", type=int, default=1, help="as predict --orientations")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda only where present")
    parser.add_argument("--modes", default="split,pipelined", help="comma-separated subset")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    files = args.files or test_split_files(args.count)
    workers = default_workers() if args.workers is None else args.workers
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        default = DEFAULT_WEIGHTS["propensity"]
        weights = args.weights or (default if default in available_weights() else None)
        if weights is None:
            weights = str(stand_in_weights(Path(tmp), args.preset))
            print(f"no shipped weights: untrained steerable '{args.preset}' stand-in (speed only)")
        from protsteer.io.weights import load_weights

        model = load_weights(weights).model
        print(f"weights {weights}: {count_parameters(model):,} parameters; {len(files)} files")
        print(
            f"machine: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
        )
        wanted = args.devices.split(",")
        devices = [d for d in ("cpu", "cuda") if d in wanted and (d == "cpu" or torch.cuda.is_available())]
        for device in devices:
            precisions = [p for p in args.precision.split(",") if device == "cuda" or p != "fp16"]
            for precision in precisions:
                run_once(files[:2], weights, device, args.batch_size, 0, precision)  # warm-up
            modes = [(label, n) for label, n in (("split", 0), ("pipelined", workers)) if label in args.modes]
            for (label, n_workers), precision in itertools.product(modes, precisions):
                result = run_once(
                    files, weights, device, args.batch_size, n_workers, precision, args.orientations
                )
                result.update(
                    device=device,
                    mode=label,
                    workers=n_workers,
                    precision=precision,
                    orientations=args.orientations,
                )
                results.append(result)
                stages = " ".join(f"{k}={v:.2f}s" for k, v in result["stages"].items())
                print(
                    f"{device:4s} {label:9s} {precision} workers={n_workers} {result['residues']} residues "
                    f"in {result['wall_s']:.2f} s = {result['residues_per_s']:.0f} residues/s "
                    f"({result['device_name']}); {stages}"
                )
    if len(devices) == 2:
        cpu = max(r["residues_per_s"] for r in results if r["device"] == "cpu")
        gpu = max(r["residues_per_s"] for r in results if r["device"] == "cuda")
        print(f"CUDA / CPU throughput: {gpu / cpu:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
