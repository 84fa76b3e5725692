"""CATH grid and network costs, and rotation robustness, measured in one run (ratios are what matter).

For each grid (the default 21^3 x 3.5 A, 27^3 x 3 A, and optionally the paper's 50^3 x 2 A) prints the
time of one training step (forward + backward, batch 8) of the steerable and plain CATH networks and of
voxelizing the batch. Then, for trained weights (``--weights``, optional), the mean total-variation distance
between the class probabilities of a domain in its file orientation and under random continuous rotations.

    python benchmarks/cath_grid.py --threads 1
    python benchmarks/cath_grid.py --threads 1 --weights models/cath-v1.pt --weights runs/cath-plain/w.pt \
        --data ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from protsteer.networks import build_network, count_parameters
from protsteer.tasks.cath.task import CATH_PLAIN, CATH_STEERABLE, collate_domains, domain_grids
from protsteer.voxel import VoxelSpec

GRIDS = {
    "21x3.5A (default)": VoxelSpec(box_size=73.5, voxel_size=3.5, sigma=1.75, channels=("CA",)),
    "27x3A": VoxelSpec(box_size=81.0, voxel_size=3.0, sigma=1.5, channels=("CA",)),
    "50x2A (paper)": VoxelSpec(box_size=100.0, voxel_size=2.0, sigma=1.0, channels=("CA",)),
}


def step_seconds(network: torch.nn.Module, grids: torch.Tensor, repeats: int) -> float:
    network.train()
    network(grids).sum().backward()  # warm-up (kernel caches)
    start = time.perf_counter()
    for _ in range(repeats):
        network(grids).sum().backward()
    return (time.perf_counter() - start) / repeats


def costs(include_paper: bool, repeats: int) -> None:
    rng = np.random.default_rng(0)
    items = [(rng.normal(scale=12.0, size=(150, 3)).astype(np.float32), np.zeros(150, np.int64), 0)] * 8
    batch = collate_domains(items)
    print("grid\tnetwork\tparameters\tstep_s(batch 8)\tvoxelize_s")
    for name, spec in GRIDS.items():
        if "paper" in name and not include_paper:
            continue
        start = time.perf_counter()
        grids = domain_grids(batch, spec, torch.device("cpu"), torch.Generator().manual_seed(0))
        voxel_s = time.perf_counter() - start
        for label, config in (("steerable", CATH_STEERABLE), ("plain", CATH_PLAIN)):
            network = build_network({**config, "in_channels": 1, "n_outputs": 10})
            seconds = step_seconds(network, grids, repeats)
            print(f"{name}\t{label}\t{count_parameters(network)}\t{seconds:.3f}\t{voxel_s:.4f}", flush=True)


def rotation_robustness(weights: list[str], data: Path, n_domains: int, n_rotations: int) -> None:
    from protsteer.io.weights import load_weights
    from protsteer.tasks.cath.task import CathData, load_cath_data

    for name in weights:
        loaded = load_weights(name)
        domains = load_cath_data(CathData(source="tsv", data=data, spec=loaded.voxel_spec), ("val",))
        domains = domains.subset(list(range(0, len(domains), max(1, len(domains) // n_domains))))
        items = [(c, ch, 0) for c, ch in zip(domains.coords, domains.channel, strict=True)]
        batch = collate_domains(items)
        with torch.no_grad():
            reference = torch.softmax(loaded.model(domain_grids(batch, loaded.voxel_spec, "cpu", None)), 1)
            distances, agreements = [], []
            for r in range(n_rotations):
                generator = torch.Generator().manual_seed(r)
                rotated = torch.softmax(
                    loaded.model(domain_grids(batch, loaded.voxel_spec, "cpu", generator)), 1
                )
                distances.append(0.5 * (rotated - reference).abs().sum(1))
                agreements.append((rotated.argmax(1) == reference.argmax(1)).float())
        distance, agree = torch.cat(distances).mean(), torch.cat(agreements).mean()
        print(f"{name}\tmean TV distance {distance:.4f}\ttop-1 agreement with unrotated {agree:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--paper-grid", action="store_true", help="also time the 50^3 grid (slow on CPU)")
    parser.add_argument("--weights", action="append", default=[])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--rotations", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    costs(args.paper_grid, args.repeats)
    if args.weights:
        rotation_robustness(args.weights, args.data, args.domains, args.rotations)


if __name__ == "__main__":
    main()
