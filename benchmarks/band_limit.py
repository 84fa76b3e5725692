"""The band-limit trade-off: basis size vs equivariance error under continuous rotations, per band limit.

For each band limit ("conservative": J_max = 2r, "compromise": J_max = 2r + 1) and kernel size, prints the
number of basis elements per (l_in, l_out) pair and the mean relative equivariance error of a single
SteerableConv3d under random continuous rotations (check_equivariance: smooth blob inputs, output probed at
the grid centre), averaged over random weights. Exactness on the 24 cube rotations holds for both limits.

Usage:
    python benchmarks/band_limit.py [--seeds 4] [--rotations 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from protsteer.nn import BAND_LIMITS, FieldType, SteerableConv3d, basis_orders, check_equivariance

PAIRS = [(0, 1), (1, 1), (1, 2), (2, 2), (2, 3), (3, 3)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=4, help="random weight draws per configuration")
    parser.add_argument("--rotations", type=int, default=8, help="continuous rotations per draw")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--blob-sigma", type=float, default=1.5, help="width of the input blobs (voxels)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"continuous-rotation error of one SteerableConv3d (mean over {args.seeds} weight draws x "
        f"{args.rotations} rotations; inputs: Gaussian blobs, sigma {args.blob_sigma} voxels, grid 21^3)"
    )
    print(
        f"{'kernel':>6} {'l_in->l_out':>11}" + "".join(f"{b + ' n':>16}{b + ' err':>18}" for b in BAND_LIMITS)
    )
    totals: dict[tuple[int, str], list[float]] = {}
    for kernel_size in (5, 7):
        for l_in, l_out in PAIRS:
            cells = ""
            for band_limit in BAND_LIMITS:
                n = len(basis_orders(l_in, l_out, kernel_size, band_limit))
                errors = []
                for seed in range(args.seeds):
                    torch.manual_seed(seed)
                    t_in, t_out = FieldType([0] * l_in + [2]), FieldType([0] * l_out + [2])
                    conv = SteerableConv3d(t_in, t_out, kernel_size, band_limit=band_limit)
                    report = check_equivariance(
                        conv,
                        t_in,
                        t_out,
                        grid_size=21,
                        n_continuous=args.rotations,
                        dtype=torch.float64,
                        seed=seed,
                        blob_sigma=args.blob_sigma,
                    )
                    errors.append(report.continuous_mean)
                error = statistics.mean(errors)
                totals.setdefault((kernel_size, band_limit), []).append(error)
                cells += f"{n:>16}{error:>18.4f}"
            print(f"{kernel_size:>6} {f'{l_in}->{l_out}':>11}{cells}")
    for (kernel_size, band_limit), errors in sorted(totals.items()):
        print(f"kernel {kernel_size} {band_limit}: mean error over pairs {statistics.mean(errors):.4f}")


if __name__ == "__main__":
    main()
