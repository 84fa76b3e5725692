"""Where a trained propensity network loses rotation invariance: pooled invariants after every layer.

For a sample of residue environments (spread over the families of a split), each environment is voxelized
twice: as it is and under one Haar-random rotation of its atoms. After every layer of the network's feature
stack, both feature maps are pooled to invariants (``GlobalInvariantPool`` over the whole grid and over the
inscribed ball) and the median relative difference is printed, then the same for the logits, with the
top-1 agreement.

    python benchmarks/rotation_error.py --weights propensity-v1 --residues 256
    python benchmarks/rotation_error.py --weights runs/prop/weights.pt --split val --threads 2

An exactly invariant pipeline gives 0 everywhere; what is left comes from sampling the atoms on the grid,
from the box (content entering or leaving its corners) and from the network's own discretisation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from protsteer.models import DEFAULT_WEIGHTS

from protsteer.io.weights import load_weights
from protsteer.nn import GlobalInvariantPool
from protsteer.structure.policy import ReadPolicy
from protsteer.tasks.propensity.data import EnvironmentDataset, collate_environments, spread_subset
from protsteer.tasks.propensity.task import PropensityData, environment_grids, load_split

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def median_relative_difference(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Median over rows of ``|other - reference| / |reference|`` (``[N, D]`` inputs)."""
    norms = reference.norm(dim=1).clamp_min(1e-12)
    return float(((other - reference).norm(dim=1) / norms).median())


def layer_invariants(
    model: torch.nn.Module, grids: torch.Tensor
) -> list[tuple[str, int, dict[str, torch.Tensor]]]:
    """``(layer name, grid size, {"cube": [N, k], "ball": [N, k]})`` after every layer with an
    ``out_type``."""
    rows = []
    features = grids
    with torch.no_grad():
        for index, layer in enumerate(model.features):
            features = layer(features)
            field_type = getattr(layer, "out_type", None)
            if field_type is None:
                continue
            pooled = {
                window: GlobalInvariantPool(field_type, window=window)(features)
                for window in ("cube", "ball")
            }
            rows.append((f"{index} {type(layer).__name__}", features.shape[-1], pooled))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS["propensity"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"), help="structure cache")
    parser.add_argument("--split", default="val")
    parser.add_argument("--residues", type=int, default=256)
    parser.add_argument("--seed", type=int, default=5, help="seed of the random rotations")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    weights = load_weights(args.weights)
    data = PropensityData(
        data_dir=args.data,
        cache_dir=args.cache,
        spec=weights.voxel_spec,
        policy=ReadPolicy.from_dict(weights.read_policy),
        cache_workers=1,
    )
    store, samples = load_split(data, args.split)
    samples = spread_subset(samples, args.residues, 1)
    dataset = EnvironmentDataset(store, samples, weights.voxel_spec)
    batch = collate_environments([dataset[i] for i in range(len(dataset))])
    cpu = torch.device("cpu")
    plain, _ = environment_grids(batch, weights.voxel_spec, cpu, None)
    rotated, _ = environment_grids(batch, weights.voxel_spec, cpu, torch.Generator().manual_seed(args.seed))
    model = weights.model.eval()

    print(f"{weights.name}: {len(samples)} {args.split} residues, voxel spec {weights.voxel_spec}")
    print("layer                              grid   cube-pooled   ball-pooled   (median relative change)")
    for (name, size, before), (_, _, after) in zip(
        layer_invariants(model, plain), layer_invariants(model, rotated), strict=True
    ):
        cube = median_relative_difference(before["cube"], after["cube"])
        ball = median_relative_difference(before["ball"], after["ball"])
        print(f"{name:34s} {size:4d}   {cube:11.4f}   {ball:11.4f}")
    with torch.no_grad():
        logits_plain, logits_rotated = model(plain), model(rotated)
    agreement = float((logits_plain.argmax(1) == logits_rotated.argmax(1)).float().mean())
    print(
        f"logits: median relative change {median_relative_difference(logits_plain, logits_rotated):.4f}, "
        f"top-1 agreement {agreement:.3f}"
    )


if __name__ == "__main__":
    main()
