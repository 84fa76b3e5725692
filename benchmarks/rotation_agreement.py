"""End-to-end rotational robustness of ``protsteer predict``: the same structures, as they are and rotated.

Every input is written twice with gemmi (mmCIF, so both copies go through the same writer and the same
3-decimal rounding): once as it is and once under a Haar-random rotation plus a random translation (one per
file, seeded). ``run_predict`` (the code behind the CLI) then predicts both directories, and the residue
tables are compared row by row: top-1 agreement and the change of ``logp_native``, for each ``--frames``
setting (``local``: each environment in its residue's backbone frame, the default of predict; ``input``:
the file's axes, i.e. the network's own robustness). With ``--cath`` the CATH table (one row per chain) is
compared too: agreement of ``pred_architecture`` and the change of ``p_pred``.

    python benchmarks/rotation_agreement.py                      # 20 test-split files of ../shared/data
    python benchmarks/rotation_agreement.py --count 50 --orientations 8
    python benchmarks/rotation_agreement.py FILE...

One line per frame reads ``rotation_agreement frame=<f> top1=<x> ...`` (and ``cath_agreement ...``).
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
from protsteer.structure.source import decompress, detect_format, parse_gemmi, strip_atom_tails
from protsteer.tasks.propensity.predict import run_predict
from protsteer.tasks.propensity.runner import BatchRequest

KEYS = {
    "residues": ("structure_id", "model", "chain", "resseq", "icode"),
    "cath": ("structure_id", "model", "chain", "domain_id"),
}


def gemmi_structure(path: Path) -> gemmi.Structure:
    """The file as gemmi reads it; PDB files with garbage charge columns as protsteer reads them."""
    try:
        return gemmi.read_structure(str(path))
    except RuntimeError:
        content, _ = decompress(path.read_bytes(), 1 << 32, str(path))
        return parse_gemmi(strip_atom_tails(content), detect_format(content), str(path))


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
        structure = gemmi_structure(path)
        structure.setup_entities()
        structure.make_mmcif_document().write_file(str(plain / f"{stem}.cif"))
        transform = gemmi.Transform(gemmi.Mat33(rotation.tolist()), gemmi.Vec3(*shift.tolist()))
        for model in structure:
            model.transform_pos_and_adp(transform)
        structure.make_mmcif_document().write_file(str(rotated / f"{stem}.cif"))
    return plain, rotated


def predict_tables(
    directory: Path, out: Path, args: argparse.Namespace, frame: str
) -> dict[str, dict[tuple, dict]]:
    """``{table: {row key: row}}`` of one predict run (``residues``, and ``cath`` with ``--cath``)."""
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
    tables = ("residues", "cath") if args.cath else ("residues",)
    run_predict(request, tasks=("propensity", "cath") if args.cath else ("propensity",))
    result = {}
    for table in tables:
        with open(out / f"{table}.tsv", encoding="utf-8") as handle:
            rows = csv.DictReader(handle, delimiter="\t")
            result[table] = {tuple(row[k] for k in KEYS[table]): row for row in rows}
    return result


def compare(before: dict[tuple, dict], after: dict[tuple, dict], label: str, value: str) -> tuple[float, str]:
    """Agreement of the ``label`` column and a summary of the change of the ``value`` column."""
    if before.keys() != after.keys():
        raise SystemExit(f"the rotated copies gave other rows ({len(before)} vs {len(after)})")
    agree = np.array([before[k][label] == after[k][label] for k in before])
    change = np.array([abs(float(before[k][value]) - float(after[k][value])) for k in before])
    return agree.mean(), (
        f"rows={len(agree)} median_abs_d{value}={np.median(change):.2e} max_abs_d{value}={change.max():.2e}"
    )


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
    parser.add_argument("--cath", action="store_true", help="also compare the CATH table (predict --tasks)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    files = args.files or test_split_files(args.count)
    with tempfile.TemporaryDirectory() as scratch:
        plain, rotated = write_copies(files, Path(scratch), args.seed)
        for frame in args.frames.split(","):
            before = predict_tables(plain, Path(scratch) / f"out-{frame}-plain", args, frame)
            after = predict_tables(rotated, Path(scratch) / f"out-{frame}-rotated", args, frame)
            agree, detail = compare(before["residues"], after["residues"], "pred_aa", "logp_native")
            setting = f"frame={frame} files={len(files)} orientations={args.orientations}"
            print(f"rotation_agreement {setting} top1={agree:.4f} {detail}", flush=True)
            if args.cath:
                agree, detail = compare(before["cath"], after["cath"], "pred_architecture", "p_pred")
                print(f"cath_agreement {setting} top1={agree:.4f} {detail}", flush=True)


if __name__ == "__main__":
    main()
