"""End-to-end rotational robustness of ``protsteer predict``: the same structures, as they are and rotated.

Every input is written twice with gemmi (mmCIF, so both copies go through the same writer and the same
3-decimal rounding): once as it is and once under a Haar-random rotation plus a random translation (one per
file, seeded). ``run_predict`` (the code behind the CLI) then predicts both directories, and the residue
tables are compared row by row: top-1 agreement and the change of ``logp_native``, for each ``--frames``
setting (``local``: each environment in its residue's backbone frame, the default of predict; ``input``:
the file's axes, i.e. the network's own robustness).

    python benchmarks/rotation_agreement.py                      # 20 test-split files of ../shared/data
    python benchmarks/rotation_agreement.py --count 50 --orientations 8
    python benchmarks/rotation_agreement.py FILE...

The last line per frame reads ``rotation_agreement frame=<f> top1=<x> ...``.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import gemmi
import numpy as np
import torch
from predict_speed import test_split_files  # benchmarks/ is on sys.path when run as a script
from protsteer.models import DEFAULT_WEIGHTS

from protsteer.io.batch import OutputOptions
from protsteer.so3 import random_rotations
from protsteer.tasks.propensity.predict import run_predict
from protsteer.tasks.propensity.runner import BatchRequest

KEY = ("structure_id", "model", "chain", "resseq", "icode")


def write_copies(files: list[Path], out: Path, seed: int) -> tuple[Path, Path]:
    """``out/plain/<stem>.cif`` (as read) and ``out/rotated/<stem>.cif`` (rotated and shifted)."""
    generator = torch.Generator().manual_seed(seed)
    rotations = random_rotations(len(files), generator=generator, dtype=torch.float64).numpy()
    shifts = torch.empty(len(files), 3, dtype=torch.float64).uniform_(-50, 50, generator=generator).numpy()
    plain, rotated = out / "plain", out / "rotated"
    plain.mkdir(parents=True)
    rotated.mkdir()
    for path, rotation, shift in zip(files, rotations, shifts, strict=True):
        stem = path.name.split(".")[0]
        structure = gemmi.read_structure(str(path))
        structure.setup_entities()
        structure.make_mmcif_document().write_file(str(plain / f"{stem}.cif"))
        transform = gemmi.Transform(gemmi.Mat33(rotation.tolist()), gemmi.Vec3(*shift.tolist()))
        for model in structure:
            model.transform_pos_and_adp(transform)
        structure.make_mmcif_document().write_file(str(rotated / f"{stem}.cif"))
    return plain, rotated


def predict_table(directory: Path, out: Path, args: argparse.Namespace, frame: str) -> dict[tuple, dict]:
    request = BatchRequest(
        inputs=[str(directory)],
        outdir=out,
        weights=args.weights,
        device=args.device,
        workers=args.workers,
        orientations=args.orientations,
        frame=frame,
        output=OutputOptions(),
        progress=False,
    )
    run_predict(request)
    with open(out / "residues.tsv", encoding="utf-8") as handle:
        return {tuple(row[k] for k in KEY): row for row in csv.DictReader(handle, delimiter="\t")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="*", type=Path, help="structure files (default: test-split files)")
    parser.add_argument("--count", type=int, default=20, help="test-split files when no FILE is given")
    parser.add_argument("--frames", default="local,input", help="comma-separated predict --frame values")
    parser.add_argument("--orientations", type=int, default=1, help="predict --orientations")
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS["propensity"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rotations")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    files = args.files or test_split_files(args.count)
    with tempfile.TemporaryDirectory() as scratch:
        plain, rotated = write_copies(files, Path(scratch), args.seed)
        for frame in args.frames.split(","):
            before = predict_table(plain, Path(scratch) / f"out-{frame}-plain", args, frame)
            after = predict_table(rotated, Path(scratch) / f"out-{frame}-rotated", args, frame)
            if before.keys() != after.keys():
                raise SystemExit(f"the rotated copies gave other residues ({len(before)} vs {len(after)})")
            agree = np.array([before[k]["pred_aa"] == after[k]["pred_aa"] for k in before])
            change = np.array(
                [abs(float(before[k]["logp_native"]) - float(after[k]["logp_native"])) for k in before]
            )
            print(
                f"rotation_agreement frame={frame} top1={agree.mean():.4f} residues={len(agree)} "
                f"files={len(files)} orientations={args.orientations} "
                f"median_abs_dlogp={np.median(change):.2e} max_abs_dlogp={change.max():.2e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
