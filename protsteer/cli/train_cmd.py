"""``protsteer train propensity`` and ``protsteer train export`` on the shared training loop.

``protsteer train cath`` lives in :mod:`protsteer.cli.cath_cmds` and is added to the group here.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import click

from protsteer.cli.cath_cmds import train_cath
from protsteer.errors import ProtsteerError


@click.group("train")
def train() -> None:
    """Train a model (propensity or cath), or export a training run as a weights file."""


@train.command("propensity")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data directory with chains.tsv, splits/ and structures/.",
)
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
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Structure cache (default: $XDG_CACHE_HOME/protsteer or ~/.cache/protsteer).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--amp",
    type=click.Choice(["off", "bf16", "fp16"]),
    default="off",
    show_default=True,
    help="Autocast on CUDA.",
)
@click.option("--threads", type=int, default=None, help="Torch CPU threads (default: torch's choice).")
@click.option("--workers", type=int, default=0, show_default=True, help="DataLoader worker processes.")
@click.option(
    "--cache-workers",
    type=int,
    default=2,
    show_default=True,
    help="Processes that parse structures into the cache.",
)
@click.option("--batch-size", type=int, default=32, show_default=True, help="Samples per step (per rank).")
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--weight-decay", type=float, default=1e-4, show_default=True)
@click.option(
    "--schedule", type=click.Choice(["cosine", "onecycle", "constant"]), default="cosine", show_default=True
)
@click.option("--warmup-steps", type=int, default=100, show_default=True)
@click.option("--max-steps", type=int, default=None, help="Total steps (default: --epochs x steps/epoch).")
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--samples-per-epoch", type=int, default=20_000, show_default=True)
@click.option(
    "--time-budget",
    type=float,
    default=None,
    help="Minutes; stop cleanly with a checkpoint when spent (continue with --resume).",
)
@click.option(
    "--val-samples",
    type=int,
    default=5_000,
    show_default=True,
    help="Fixed val subset, spread over families.",
)
@click.option("--val-every", type=int, default=None, help="Steps between validations (default: one epoch).")
@click.option("--checkpoint-every", type=int, default=1000, show_default=True, help="Steps.")
@click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True)
@click.option("--log-every", type=int, default=50, show_default=True, help="Steps between progress lines.")
@click.option(
    "--family-weighting",
    type=click.Choice(["sqrt", "family", "residue"]),
    default="sqrt",
    show_default=True,
    help="Family weight ~ sqrt(size), uniform, or proportional to size.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out.")
def propensity(
    data_dir: Path,
    out_dir: Path,
    arch: str,
    preset: str,
    network_options: str,
    cache_dir: Path | None,
    **options,
) -> None:
    """Train the amino-acid propensity network on --data's train split, select on val.

    \b
    Examples:
      protsteer train propensity --data ../shared/data --out runs/prop --threads 2 --time-budget 60
      protsteer train propensity --data ../shared/data --out runs/prop --resume     # continue
      protsteer train propensity --data ../shared/data --out runs/cnn --arch plain
      torchrun --nproc-per-node 4 cli.py train propensity --data D --out R --device cuda --amp bf16
    """
    from protsteer.tasks.propensity.task import PropensityData, PropensityTask
    from protsteer.tasks.training import TrainConfig, train
    from protsteer.voxel import RESIDUE_SPEC

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        overrides = json.loads(network_options)
    except json.JSONDecodeError as err:
        raise ProtsteerError(f"--network-options is not JSON: {err}") from err
    if not isinstance(overrides, dict):
        raise ProtsteerError("--network-options must be a JSON object")
    data = PropensityData(
        data_dir=data_dir,
        cache_dir=cache_dir or default_cache_dir(),
        spec=RESIDUE_SPEC,
        family_weighting=options.pop("family_weighting"),
        samples_per_epoch=options.pop("samples_per_epoch"),
        val_samples=options.pop("val_samples"),
        cache_workers=options.pop("cache_workers"),
    )
    options["time_budget_min"] = options.pop("time_budget")
    config = TrainConfig(out_dir=out_dir, **options)
    task = PropensityTask(data, {"arch": arch, "preset": preset, **overrides})
    result = train(task, config)
    best = (result.best_metrics or {}).get(task.selection_metric, float("nan"))
    click.echo(
        f"{result.stopped} at step {result.step}/{result.total_steps} in {result.elapsed_s / 60:.1f} min; "
        f"best val {task.selection_metric} {best:.4f} at step {result.best_step}; run dir {result.run_dir}"
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/protsteer`` (or ``~/.cache/protsteer``): a user cache, not the working directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "protsteer"


@train.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
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
    help="'best' (best on val), 'last' (newest step checkpoint) or a checkpoint path.",
)
def export(run_dir: Path, out_path: Path, checkpoint: str) -> None:
    """Export a training run's model as a weights-only file (for predict, scan and evaluate).

    \b
    Example:
      protsteer train export runs/prop -o runs/prop/best-weights.pt
    """
    from protsteer.tasks.training import checkpoint_paths, export_weights

    if checkpoint == "best":
        source = run_dir / "best.pt"
    elif checkpoint == "last":
        steps = checkpoint_paths(run_dir)
        if not steps:
            raise ProtsteerError("no step checkpoint in the run directory", run_dir)
        source = steps[-1]
    else:
        source = Path(checkpoint)
    if not source.is_file():
        raise ProtsteerError("checkpoint not found", source)
    digest = export_weights(source, out_path, run_dir=run_dir)
    click.echo(f"{out_path} sha256 {digest}")


train.add_command(train_cath)
