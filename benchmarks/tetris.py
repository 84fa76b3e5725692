"""The paper's 3D Tetris experiment: train on ONE orientation per shape, test on random continuous rotations.

8 shapes of 4 cubes (two mirror images). Training set: each shape in ONE orientation, the same fixed generic
rotation for all shapes (``--orientation axis`` uses the axis-aligned one); optional random sub-voxel
translations (``--jitter``; translations only, never rotations). Test set: every shape under >= 100
Haar-random rotations of its point set, voxelised with Gaussians (no grid resampling, no rot90). A steerable
CNN (by default with pseudo-scalar chirality invariants, ``--pseudoscalar-radii``) and a plain 3D CNN of
comparable parameter count are trained the same way in the same run, with the paper's recipe at half
its learning rate: the 8 grids as one batch, Adam at lr 0.05 for 100 steps, then x 0.98 per step, 250 steps; a
network that still misclassifies a training shape is retrained from a new initialisation, up to ``--attempts``
times (a choice made on the training shapes only). ``--data-seed`` draws a different training orientation and
test set, ``--first-seed`` different initialisations. Each cube is one Gaussian blob at its centre, or with
``--fill n`` a solid cube of ``n^3`` blobs (the paper's code voxelises solid cubes). The last line reads
``tetris steerable_acc=<x> cnn_acc=<y>``.

Usage:
    python benchmarks/tetris.py [--rotations 100] [--grid 21] [--threads 2] [--seeds 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from protsteer.networks import PlainCNN3d, SteerableCNN, count_parameters
from protsteer.networks.tetris import TETRIS_SHAPES, fit_tetris, tetris_grids
from protsteer.so3 import random_rotations

STEERABLE = {
    "preset": "tiny",
    "stages": [[4, 4, 2, 1], [8, 4, 2]],
    "blocks": [0, 2],
    "input_downsample": False,
}
PLAIN = {"preset": "tiny", "stages": [2, 4], "blocks": [0, 2], "input_downsample": False}


def per_shape_accuracy(
    network: torch.nn.Module, grids: torch.Tensor, labels: torch.Tensor, batch: int = 64
) -> torch.Tensor:
    """``[8]`` fraction of each shape's ``grids`` classified correctly (eval mode, in batches)."""
    network.eval()
    with torch.no_grad():
        predictions = torch.cat(
            [network(grids[i : i + batch]).argmax(dim=1) for i in range(0, len(grids), batch)]
        )
    correct = (predictions == labels).float()
    return torch.stack([correct[labels == shape].mean() for shape in range(len(TETRIS_SHAPES))])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rotations", type=int, default=100, help="random test rotations per shape")
    parser.add_argument("--grid", type=int, default=21, help="grid size G (odd)")
    parser.add_argument("--unit", type=float, default=3.0, help="cube spacing in voxels")
    parser.add_argument("--sigma", type=float, default=1.6, help="Gaussian width per cube in voxels")
    parser.add_argument("--fill", type=int, default=1, help="points per cube edge (1: one blob per cube)")
    parser.add_argument("--steps", type=int, default=250, help="most training steps")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate")
    parser.add_argument(
        "--decay-start", type=int, default=100, help="multiply the lr by --decay every step after this one"
    )
    parser.add_argument("--decay", type=float, default=0.98, help="per-step lr decay after --decay-start")
    parser.add_argument(
        "--target-loss", type=float, default=0.0, help="stop once every shape is right below this (0: never)"
    )
    parser.add_argument(
        "--dropout", type=float, default=0.1, help="dropout before the last layer of both heads"
    )
    parser.add_argument("--no-batch-norm", action="store_true", help="build both networks without batch norm")
    parser.add_argument(
        "--pool-window", choices=["cube", "ball"], default="ball", help="steerable global pooling"
    )
    parser.add_argument(
        "--jitter", type=float, default=0.0, help="random training translations in [-j, j]^3 voxels (0: none)"
    )
    parser.add_argument("--copies", type=int, default=1, help="translated copies of each shape per step")
    parser.add_argument(
        "--orientation",
        choices=["generic", "axis"],
        default="generic",
        help="training orientation: one fixed generic rotation (default, as the paper) or axis-aligned",
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="independent trainings per network (mean reported)"
    )
    parser.add_argument("--first-seed", type=int, default=0, help="initialisation seed of the first training")
    parser.add_argument(
        "--data-seed",
        type=int,
        default=1234,
        help="seed of the training orientation and the test rotations (change it for a fresh test set)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="initialisations per seed: retrain from a new one while a training shape is misclassified",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--band-limit", default=None, help="band limit of the steerable kernels (default: preset's)"
    )
    parser.add_argument(
        "--pseudoscalar-radii",
        default="2,3,4,5,6",
        help="shell radii (voxels) of the steerable network's chirality invariants (docs/nn.md); 'none'",
    )
    parser.add_argument(
        "--steerable", default="{}", help="JSON overrides of the steerable network (stages, blocks ...)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    steerable_options = dict(
        STEERABLE, dropout=args.dropout, batch_norm=not args.no_batch_norm, pool_window=args.pool_window
    )
    if args.band_limit:
        steerable_options["band_limit"] = args.band_limit
    if args.pseudoscalar_radii != "none":
        steerable_options["pseudoscalar_radii"] = [float(r) for r in args.pseudoscalar_radii.split(",")]
    steerable_options.update(json.loads(args.steerable))
    plain_options = dict(PLAIN, dropout=args.dropout, batch_norm=not args.no_batch_norm)
    generator = torch.Generator().manual_seed(args.data_seed)
    orientation = (
        random_rotations(1, generator=generator, dtype=torch.float64)[0]
        if args.orientation == "generic"
        else torch.eye(3, dtype=torch.float64)
    )
    train_x, train_y = tetris_grids(orientation[None], args.grid, args.unit, args.sigma, fill=args.fill)
    rotations = random_rotations(args.rotations, generator=generator, dtype=torch.float64)
    test_x, test_y = tetris_grids(rotations, args.grid, args.unit, args.sigma, fill=args.fill)
    print(
        f"tetris: train 8 shapes in one orientation ({args.orientation}), test {test_x.shape[0]} grids "
        f"({args.rotations} random rotations)"
    )
    print(f"grid {args.grid}^3, unit {args.unit} voxels, sigma {args.sigma} voxels, {args.threads} threads")
    print(f"steerable: {steerable_options}; plain: {plain_options}")

    builders = {
        "steerable": lambda: SteerableCNN(1, 8, **steerable_options),
        "cnn": lambda: PlainCNN3d(1, 8, **plain_options),
    }
    results = {}
    for name, build in builders.items():
        scores = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.perf_counter()
            for attempt in range(args.attempts):  # re-initialise while the training shapes are not fitted
                torch.manual_seed(seed + 1000 * attempt)
                network = build()
                steps = fit_tetris(
                    network,
                    args.grid,
                    args.unit,
                    args.sigma,
                    orientation=orientation,
                    jitter=args.jitter,
                    copies=args.copies,
                    max_steps=args.steps,
                    lr=args.lr,
                    target_loss=args.target_loss,
                    fill=args.fill,
                    decay_start=args.decay_start,
                    decay=args.decay,
                )
                train_acc = float(per_shape_accuracy(network, train_x, train_y).mean())
                if train_acc == 1.0:
                    break
            per_shape = per_shape_accuracy(network, test_x, test_y)
            test_acc = float(per_shape.mean())
            scores.append(test_acc)
            print(
                f"{name:<10} seed {seed}: {count_parameters(network)} params, attempt {attempt + 1}, "
                f"{steps} steps, train acc {train_acc:.3f}, test acc {test_acc:.4f}, "
                f"{time.perf_counter() - start:.0f} s"
            )
            print(
                "    per shape: "
                + ", ".join(f"{n} {a:.2f}" for n, a in zip(TETRIS_SHAPES, per_shape.tolist(), strict=True))
            )
        results[name] = sum(scores) / len(scores)
    print(f"tetris steerable_acc={results['steerable']:.4f} cnn_acc={results['cnn']:.4f}")


if __name__ == "__main__":
    main()
