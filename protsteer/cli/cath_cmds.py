"""``protsteer train cath`` and ``protsteer evaluate cath`` (registered in the train / evaluate groups)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from protsteer.cli.training_options import (
    channels_option,
    echo_train_result,
    evaluation_options,
    log_progress,
    parse_network_options,
    train_config,
    training_options,
)
from protsteer.errors import ProtsteerError
from protsteer.models import DEFAULT_WEIGHTS

if TYPE_CHECKING:
    from protsteer.tasks.cath.records import DomainSet

_DATA_HELP = (
    "tsv: data directory holding cath/domains.tsv (or the tsv); npz: the paper's cath_10arch_ca.npz; "
    "clf: directory of structures or CATH dompdb files."
)


def _data_options(function):
    """Options naming the data source (shared by train and evaluate)."""
    for option in reversed(
        [
            click.option(
                "--data", type=click.Path(exists=True, path_type=Path), required=True, help=_DATA_HELP
            ),
            click.option(
                "--source",
                type=click.Choice(["auto", "tsv", "npz", "clf"]),
                default="auto",
                show_default=True,
                help="Data format (auto: npz for a .npz file, clf with --domain-list, else tsv).",
            ),
            click.option(
                "--domain-list",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="CATH domain list (CLF format) for --source clf.",
            ),
            click.option(
                "--boundaries",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="CATH domain boundaries (needed for whole-entry structure files).",
            ),
            click.option(
                "--split-seed",
                type=int,
                default=0,
                show_default=True,
                help="Seed of the topology split for --source clf.",
            ),
        ]
    ):
        function = option(function)
    return function


def _cath_data(
    data: Path, source: str, domain_list: Path | None, boundaries: Path | None, split_seed: int, **fields
):
    from protsteer.tasks.cath.task import CathData, detect_source

    return CathData(
        source=detect_source(data, domain_list) if source == "auto" else source,
        data=data,
        domain_list=domain_list,
        boundaries=boundaries,
        split_seed=split_seed,
        **fields,
    )


@click.command("cath")
@_data_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run directory: checkpoints, best.pt, metrics.jsonl/tsv, train.json.",
)
@click.option("--arch", type=click.Choice(["steerable", "plain"]), default="steerable", show_default=True)
@click.option(
    "--network-options",
    default="{}",
    show_default=True,
    help='JSON overrides of the CATH network defaults, e.g. \'{"preset": "base"}\'.',
)
@click.option("--grid-size", type=int, default=21, show_default=True, help="Voxels per edge.")
@click.option("--voxel-size", type=float, default=3.5, show_default=True, help="Angstrom.")
@click.option("--sigma", type=float, default=1.75, show_default=True, help="Atom Gaussian width, Angstrom.")
@channels_option(("CA:helix", "CA:strand", "CA:coil"))
@click.option(
    "--min-train-domains",
    type=int,
    default=15,
    show_default=True,
    help="Architectures with fewer distinct training domains are left out.",
)
@click.option("--labels", default=None, help="Explicit comma-separated label set, e.g. 1.10,2.60,3.40.")
@click.option(
    "--samples-per-epoch",
    type=int,
    default=0,
    show_default=True,
    help="Draws per epoch (0: the number of distinct training domains).",
)
@click.option(
    "--val-copies",
    type=int,
    default=2,
    show_default=True,
    help="Rows per distinct val domain used in validation (0: all).",
)
@training_options(batch_size=8, epochs=40, checkpoint_every=500, log_every=20)
def train_cath(
    data: Path,
    source: str,
    domain_list: Path | None,
    boundaries: Path | None,
    split_seed: int,
    out_dir: Path,
    arch: str,
    network_options: str,
    grid_size: int,
    voxel_size: float,
    sigma: float,
    channels: tuple[str, ...],
    min_train_domains: int,
    labels: str | None,
    samples_per_epoch: int,
    val_copies: int,
    **options,
) -> None:
    """Train a CATH architecture classifier on whole-domain grids; select on val.

    \b
    Examples:
      protsteer train cath --data ../shared/data --out runs/cath --threads 2 --time-budget 50
      protsteer train cath --data ../shared/data --out runs/cath --resume
      protsteer train cath --data ../shared/data --out runs/cath-plain --arch plain
      protsteer train cath --data cath_10arch_ca.npz --out runs/paper --grid-size 50 --voxel-size 2 \\
        --sigma 1 --channels CA
      protsteer train cath --source clf --data dompdb/ --domain-list cath-domain-list.txt --out runs/clf
    """
    from protsteer.tasks.cath.task import CATH_PLAIN, CATH_STEERABLE, CathTask
    from protsteer.tasks.training import train
    from protsteer.voxel import VoxelSpec

    log_progress()
    overrides = parse_network_options(network_options)
    spec = VoxelSpec(box_size=grid_size * voxel_size, voxel_size=voxel_size, sigma=sigma, channels=channels)
    cath_data = _cath_data(
        data,
        source,
        domain_list,
        boundaries,
        split_seed,
        spec=spec,
        min_train_domains=min_train_domains,
        labels=[label.strip() for label in labels.split(",")] if labels else None,
    )
    network = {**(CATH_STEERABLE if arch == "steerable" else CATH_PLAIN), **overrides}
    config = train_config(out_dir, options)
    task = CathTask(cath_data, network, samples_per_epoch=samples_per_epoch, val_copies=val_copies)
    echo_train_result(task.selection_metric, train(task, config))


@click.command("cath")
@click.option(
    "--weights",
    "weights_list",
    multiple=True,
    default=(DEFAULT_WEIGHTS["cath"],),
    show_default=True,
    help="Registered name or weights file; repeat to compare models (e.g. steerable and plain).",
)
@_data_options
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the tables (default: eval-cath-<split>).",
)
@click.option("--bootstrap", type=int, default=2000, show_default=True, help="Bootstrap resamples for CIs.")
@click.option(
    "--orientations",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Average over this many orientations per domain, as predict --orientations.",
)
@click.option(
    "--frame",
    type=click.Choice(["local", "input"]),
    default="local",
    show_default=True,
    help="local: each domain on its CA atoms' principal axes (as predict); input: each domain "
    "under one seeded random rotation (the expected accuracy over orientations).",
)
@evaluation_options(batch_size=16)
def evaluate_cath(
    weights_list: tuple[str, ...],
    data: Path,
    source: str,
    domain_list: Path | None,
    boundaries: Path | None,
    split_seed: int,
    split: str,
    out_dir: Path | None,
    bootstrap: int,
    orientations: int,
    frame: str,
    device: str,
    threads: int | None,
    batch_size: int,
    seed: int,
) -> None:
    """Accuracy (bootstrap CI over distinct domains), balanced accuracy, CATH-class accuracy, per-architecture
    recall and confusion tables of one or more CATH weights, plus the majority-class baseline.

    \b
    Examples:
      protsteer evaluate cath --data ../shared/data --split test --out eval/cath
      protsteer evaluate cath --weights cath-v2 --weights runs/cath-plain/weights.pt --data ../shared/data
    """
    import torch

    from protsteer.io.weights import distinct_weight_names, load_weights
    from protsteer.structure import ReadPolicy
    from protsteer.tasks.cath.evaluate import MAJORITY, evaluate_model, majority_baseline, write_evaluation
    from protsteer.tasks.cath.task import load_cath_data, read_cath_records
    from protsteer.tasks.device import resolve_device

    log_progress()
    if threads:
        torch.set_num_threads(threads)
    target = resolve_device(device)
    evaluations = {}
    loaded_sets: dict[str, DomainSet] = {}
    records: DomainSet | None = None
    loaded = [load_weights(weights_name, device=target) for weights_name in weights_list]
    for name, weights in zip(distinct_weight_names(loaded), loaded, strict=True):
        if weights.task != "cath":
            raise ProtsteerError(f"weights are for task {weights.task!r}, not cath", weights.path)
        cath_data = _cath_data(
            data,
            source,
            domain_list,
            boundaries,
            split_seed,
            spec=weights.voxel_spec,
            policy=ReadPolicy.from_dict(weights.read_policy),
        )
        records = records if records is not None else read_cath_records(cath_data)
        key = json.dumps([weights.voxel_spec.to_dict(), weights.read_policy], sort_keys=True)
        if key not in loaded_sets:
            loaded_sets[key] = load_cath_data(cath_data, (split,), records)
        evaluations[name] = evaluate_model(
            weights.model,
            list(weights.labels),
            weights.voxel_spec,
            loaded_sets[key],
            target,
            batch_size,
            seed,
            orientations,
            frame,
        )
    assert records is not None  # read with the first weights
    first = next(iter(evaluations.values()))
    evaluations[MAJORITY] = majority_baseline(first, records.split("train"))
    out_dir = out_dir or Path(f"eval-cath-{split}")
    rows = write_evaluation(out_dir, evaluations, bootstrap, seed)
    for row in rows:
        click.echo(
            f"{row['model']}: accuracy {row['accuracy']:.3f} [{row['accuracy_ci_low']:.3f}, "
            f"{row['accuracy_ci_high']:.3f}] balanced {row['balanced_accuracy']:.3f} "
            f"class {row['class_accuracy']:.3f} ({row['n_domains']} domains)"
        )
    click.echo(f"tables in {out_dir}")
