"""``protsteer train propensity`` and ``protsteer train export`` on the shared training loop.

``protsteer train cath`` lives in :mod:`protsteer.cli.cath_cmds` and is added to the group here.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from protsteer.cli.cath_cmds import train_cath
from protsteer.cli.training_options import (
    channels_option,
    echo_train_result,
    log_progress,
    parse_network_options,
    propensity_data_option,
    structure_cache_option,
    train_config,
    training_options,
)
from protsteer.errors import ProtsteerError

#: the default channels of ``train propensity``: those of ``protsteer.voxel.RESIDUE_SPEC``, which --help does
#: not import (a test keeps them equal)
PROPENSITY_CHANNELS = ("C", "N", "O", "S", "other")


@click.group("train")
def train() -> None:
    """Train a model (propensity or cath), or export a training run as a weights file."""


@train.command("propensity")
@propensity_data_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run directory: checkpoints, best.pt, metrics.jsonl/tsv, train.json.",
)
@click.option("--arch", type=click.Choice(["steerable", "plain"]), default="steerable", show_default=True)
@click.option("--preset", default="small", show_default=True, help="Network preset of protsteer.networks.")
@click.option(
    "--network-options",
    default="{}",
    show_default=True,
    help="JSON overrides of the preset, e.g. '{\"blocks\": [0, 1, 1]}'.",
)
@structure_cache_option
@click.option(
    "--cache-workers",
    type=int,
    default=2,
    show_default=True,
    help="Processes that parse structures into the cache.",
)
@click.option("--samples-per-epoch", type=int, default=20_000, show_default=True)
@click.option(
    "--val-samples",
    type=int,
    default=5_000,
    show_default=True,
    help="Fixed val subset, spread over families.",
)
@click.option(
    "--family-weighting",
    type=click.Choice(["sqrt", "family", "residue"]),
    default="sqrt",
    show_default=True,
    help="Family weight ~ sqrt(size), uniform, or proportional to size.",
)
@click.option(
    "--orientation",
    type=click.Choice(["random", "local"]),
    default="random",
    show_default=True,
    help="random: every training environment turned by a fresh random rotation; local: every environment "
    "in its residue's backbone frame, unrotated (the grids predict uses).",
)
@click.option(
    "--crop-radius",
    type=float,
    default=9.0,
    show_default=True,
    help="Keep atoms within this many Angstrom of the virtual C-beta (0: the whole 21 A box).",
)
@channels_option(PROPENSITY_CHANNELS)
@training_options(batch_size=32, epochs=20, checkpoint_every=1000, log_every=50)
def propensity(
    data_dir: Path,
    out_dir: Path,
    arch: str,
    preset: str,
    network_options: str,
    cache_dir: Path | None,
    cache_workers: int,
    samples_per_epoch: int,
    val_samples: int,
    family_weighting: str,
    orientation: str,
    crop_radius: float,
    channels: tuple[str, ...],
    **options,
) -> None:
    """Train the amino-acid propensity network on --data's train split, select on val.

    \b
    Examples:
      protsteer train propensity --data ../shared/data --out runs/prop --threads 2 --time-budget 60
      protsteer train propensity --data ../shared/data --out runs/prop --resume     # continue
      protsteer train propensity --data ../shared/data --out runs/cnn --arch plain
      protsteer train propensity --data ../shared/data --out runs/bb \\
        --channels C:backbone,N:backbone,O:backbone,C:sidechain,N:sidechain,O:sidechain,S,other,all:hetero
      protsteer train propensity --data ../shared/data --out runs/ft --init-weights old-run/best.pt
      torchrun --nproc-per-node 4 cli.py train propensity --data D --out R --device cuda --amp bf16
    """
    from protsteer.tasks.propensity.task import PropensityData, PropensityTask
    from protsteer.tasks.training import train
    from protsteer.voxel import RESIDUE_SPEC

    log_progress()
    overrides = parse_network_options(network_options)
    data = PropensityData(
        data_dir=data_dir,
        cache_dir=cache_dir or default_cache_dir(),
        spec=dataclasses.replace(
            RESIDUE_SPEC, crop_radius=crop_radius if crop_radius > 0 else None, channels=channels
        ),
        family_weighting=family_weighting,
        orientation=orientation,
        samples_per_epoch=samples_per_epoch,
        val_samples=val_samples,
        cache_workers=cache_workers,
    )
    config = train_config(out_dir, options)
    task = PropensityTask(data, {"arch": arch, "preset": preset, **overrides})
    echo_train_result(task.selection_metric, train(task, config))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/protsteer`` (or ``~/.cache/protsteer``): a user cache, not the working directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "protsteer"


@train.command("export")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Weights file to write (a .sha256 sidecar is written next to it).",
)
@click.option(
    "--checkpoint",
    default="best",
    show_default=True,
    help="Of a run directory: 'best' (best on val), 'last' (newest step checkpoint) or a checkpoint path "
    "(one run only).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Ensembles only: divide the log mean probabilities by this (below 1 sharpens; the mean of several "
    "models is underconfident). Fit it on val: 'protsteer evaluate propensity --split val' prints the best "
    "temperature of a model. The ranking of the amino acids does not change.",
)
def export(sources: tuple[str, ...], out_path: Path, checkpoint: str, temperature: float) -> None:
    """Export a training run's model as a weights-only file (for predict, scan and evaluate).

    SOURCES are run directories (their --checkpoint) or existing weights (a file, or a shipped name such as
    propensity-v3). Several sources (e.g. one recipe with different --seed) are exported as one ensemble: the
    mean of their class probabilities. Their task, labels, voxel channels and read policy must agree.

    \b
    Examples:
      protsteer train export runs/prop -o runs/prop/best-weights.pt
      protsteer train export runs/cath-s0 runs/cath-s1 runs/cath-s2 -o cath-ensemble.pt
      protsteer train export propensity-v3 propensity-v2 -o propensity-v2v3.pt
      protsteer train export propensity-v3 runs/wide --temperature 0.9 -o propensity-v3-wide.pt
    """
    from protsteer.tasks.export import export_ensemble_weights
    from protsteer.tasks.run_files import checkpoint_paths

    run_dirs = [Path(source) for source in sources if Path(source).is_dir()]
    if checkpoint not in ("best", "last") and (len(sources) > 1 or not run_dirs):
        raise click.UsageError("--checkpoint PATH takes exactly one run directory")
    members: list[tuple[Path, Path | None] | str] = []
    for source in sources:
        run_dir = Path(source)
        if not run_dir.is_dir():
            members.append(source)  # a weights file or name, verified when read
            continue
        if checkpoint == "best":
            checkpoint_path = run_dir / "best.pt"
        elif checkpoint == "last":
            steps = checkpoint_paths(run_dir)
            if not steps:
                raise ProtsteerError("no step checkpoint in the run directory", run_dir)
            checkpoint_path = steps[-1]
        else:
            checkpoint_path = Path(checkpoint)
        if not checkpoint_path.is_file():
            raise ProtsteerError("checkpoint not found", checkpoint_path)
        members.append((checkpoint_path, run_dir))
    digest = export_ensemble_weights(members, out_path, temperature=temperature)
    ensemble = f" (ensemble of {len(sources)} sources)" if len(sources) > 1 else ""
    click.echo(f"{out_path} sha256 {digest}{ensemble}")


train.add_command(train_cath)
