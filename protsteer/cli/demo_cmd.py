"""``protsteer demo``: check on this machine that the steerable layers and a network are equivariant."""

from __future__ import annotations

import click

_TOLERANCES = {"float32": 1e-5, "float64": 1e-10}


@click.command("demo")
@click.option(
    "--grid", "grid_size", default=15, show_default=True, help="Grid size G (voxels per side, odd)."
)
@click.option(
    "--rotations",
    "n_continuous",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Number of random continuous rotations (0: the 24 rotations of the cube only).",
)
@click.option(
    "--dtype", type=click.Choice(sorted(_TOLERANCES)), default="float32", show_default=True, help="Precision."
)
@click.option(
    "--continuous-tolerance",
    default=0.1,
    show_default=True,
    help="Largest acceptable mean relative error under continuous rotations (discretisation error).",
)
@click.option("--seed", default=0, show_default=True, help="Seed for weights, inputs and rotations.")
@click.option("--threads", default=None, type=int, help="CPU threads for torch (default: torch's choice).")
def demo(
    grid_size: int, n_continuous: int, dtype: str, continuous_tolerance: float, seed: int, threads: int | None
) -> None:
    """Build a small steerable network and measure its equivariance.

    Checks a stack of steerable layers (fields up to l = 2, feature maps out) and a whole SteerableCNN
    (invariant logits out) on the 24 rotations of the cube, where the error must be at rounding level
    (<= 1e-5 in float32, <= 1e-10 in float64), and on random continuous rotations of smooth inputs, where a
    small discretisation error is expected. Exits 0 when every check passes, 1 otherwise.

    \b
    Examples:
      protsteer demo
      protsteer demo --dtype float64 --rotations 8
      protsteer demo --grid 21 --threads 2
    """
    import torch
    from torch import nn

    from protsteer.errors import ProtsteerError
    from protsteer.networks import SteerableCNN, count_parameters
    from protsteer.nn import (
        FieldType,
        GatedNonlinearity,
        LowPassDownsample3d,
        SteerableBatchNorm3d,
        SteerableConv3d,
        check_equivariance,
        gated_type,
    )

    if grid_size < 7:
        raise ProtsteerError(f"--grid must be >= 7, got {grid_size}")
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    scalars, fields = FieldType([2]), FieldType([4, 2, 1])
    layers = nn.Sequential(
        SteerableConv3d(scalars, gated_type(fields), 5),
        SteerableBatchNorm3d(gated_type(fields)),
        GatedNonlinearity(fields),
        LowPassDownsample3d(fields),
        SteerableConv3d(fields, fields, 5),
    )
    network = SteerableCNN(2, 3, preset="tiny")
    checks = [
        (f"layers {scalars} -> {fields}", layers, scalars, fields),
        (f"SteerableCNN tiny ({count_parameters(network)} params)", network, scalars, FieldType([3])),
    ]
    torch_dtype = getattr(torch, dtype)
    passed = True
    click.echo(f"protsteer demo: grid {grid_size}^3, {dtype}, {n_continuous} random rotations, seed {seed}")
    click.echo(f"{'module':<44} {'24 cube rot. (max)':>20} {'continuous (mean)':>18}  result")
    for name, module, in_type, out_type in checks:
        report = check_equivariance(
            module,
            in_type,
            out_type,
            grid_size=grid_size,
            n_continuous=n_continuous,
            dtype=torch_dtype,
            seed=seed,
        )
        ok = report.passed(_TOLERANCES[dtype], continuous_tolerance)
        passed = passed and ok
        continuous = f"{report.continuous_mean:.2e}" if report.continuous_errors else "-"
        click.echo(f"{name:<44} {report.cube_max:>20.2e} {continuous:>18}  {'ok' if ok else 'FAILED'}")
    click.echo(
        f"tolerances: cube <= {_TOLERANCES[dtype]:.0e} ({dtype}), continuous mean <= {continuous_tolerance}"
    )
    if not passed:
        raise click.exceptions.Exit(1)
