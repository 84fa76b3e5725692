"""Click options of the shared training loop and of evaluation, used by each task's train / evaluate command.

Task-specific options (data, network, sampling) stay in each command; per-task defaults are arguments.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from protsteer.cli.option_stack import Decorator, stack_options
from protsteer.errors import ProtsteerError

if TYPE_CHECKING:
    from protsteer.tasks.training import TrainConfig, TrainResult

_device_option = click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."
)
_threads_option = click.option(
    "--threads", type=int, default=None, help="Torch CPU threads (default: torch's choice)."
)

#: ``--data`` of the propensity train / evaluate commands (the layout of ../shared/data)
propensity_data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data directory with chains.tsv, splits/ and structures/.",
)
#: ``--cache-dir`` of the propensity train / evaluate commands
structure_cache_option = click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Structure cache (default: $XDG_CACHE_HOME/protsteer or ~/.cache/protsteer).",
)


def training_options(*, batch_size: int, epochs: int, checkpoint_every: int, log_every: int) -> Decorator:
    """The training-loop options (device, amp, threads, workers, optimizer, schedule, length, validation,
    checkpoints, seed, resume); turn the parsed values into a config with :func:`train_config`.

    Args are the per-task defaults of ``--batch-size``, ``--epochs``, ``--checkpoint-every`` (steps) and
    ``--log-every`` (steps).
    """
    return stack_options(
        _device_option,
        click.option(
            "--amp",
            type=click.Choice(["off", "bf16", "fp16"]),
            default="off",
            show_default=True,
            help="Autocast: bf16 on CUDA or a CPU with native bf16 (other CPUs fall back to float32), fp16 "
            "on CUDA only.",
        ),
        _threads_option,
        click.option(
            "--workers", type=int, default=0, show_default=True, help="DataLoader worker processes."
        ),
        click.option(
            "--batch-size",
            type=int,
            default=batch_size,
            show_default=True,
            help="Samples per step (per rank).",
        ),
        click.option("--lr", type=float, default=2e-3, show_default=True),
        click.option("--weight-decay", type=float, default=1e-4, show_default=True),
        click.option(
            "--schedule",
            type=click.Choice(["cosine", "onecycle", "constant"]),
            default="cosine",
            show_default=True,
        ),
        click.option("--warmup-steps", type=int, default=100, show_default=True),
        click.option(
            "--max-steps", type=int, default=None, help="Total steps (default: --epochs x steps/epoch)."
        ),
        click.option("--epochs", type=int, default=epochs, show_default=True),
        click.option(
            "--time-budget",
            type=float,
            default=None,
            help="Minutes; stop cleanly with a checkpoint when spent (continue with --resume).",
        ),
        click.option(
            "--val-every", type=int, default=None, help="Steps between validations (default: one epoch)."
        ),
        click.option(
            "--checkpoint-every", type=int, default=checkpoint_every, show_default=True, help="Steps."
        ),
        click.option("--checkpoint-minutes", type=float, default=10.0, show_default=True),
        click.option(
            "--log-every",
            type=int,
            default=log_every,
            show_default=True,
            help="Steps between progress lines.",
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out."),
        click.option(
            "--init-weights",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            default=None,
            help="Start from the network weights of this checkpoint or weights file (fine-tuning; "
            "optimizer and schedule start afresh; the network options must match).",
        ),
        click.option(
            "--ema-decay",
            type=float,
            default=0.0,
            show_default=True,
            help="Keep an exponential moving average of the weights (e.g. 0.999); validation, best.pt and "
            "export use it, and metrics.tsv also logs the raw weights (raw_*). 0: off.",
        ),
    )


def log_progress() -> None:
    """Log records (info and up) to stderr with timestamps: the progress log of training and evaluation."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def train_config(out_dir: Path, options: dict[str, Any]) -> TrainConfig:
    """The :class:`~protsteer.tasks.training.TrainConfig` of the values parsed by :func:`training_options`."""
    from protsteer.tasks.training import TrainConfig

    fields = dict(options)
    fields["time_budget_min"] = fields.pop("time_budget")
    return TrainConfig(out_dir=out_dir, **fields)


def evaluation_options(*, batch_size: int | None, batch_help: str | None = None) -> Decorator:
    """``--device``, ``--threads``, ``--batch-size`` (default ``batch_size``; ``None`` with ``batch_help``
    saying what the command picks) and ``--seed`` of evaluation."""
    return stack_options(
        _device_option,
        _threads_option,
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=batch_size,
            show_default=batch_size is not None,
            help=batch_help,
        ),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random rotations."),
    )


def channels_option(default: tuple[str, ...]) -> Decorator:
    """``--channels``: comma-separated voxel channel names (:mod:`protsteer.voxel.spec`) -> a tuple."""

    def parse(ctx: click.Context, param: click.Parameter, text: str) -> tuple[str, ...]:
        channels = tuple(name.strip() for name in text.split(",") if name.strip())
        if not channels:
            raise click.BadParameter("needs at least one channel name")
        return channels

    return click.option(
        "--channels",
        default=",".join(default),
        show_default=True,
        callback=parse,
        help="Comma-separated voxel channels (protsteer.voxel names: CA, C, N, O, S, other, all, optionally "
        "qualified :backbone, :sidechain, :hetero, or, for CATH domain grids, by secondary structure from CA "
        "geometry: :helix, :strand, :coil).",
    )


def parse_network_options(text: str) -> dict[str, Any]:
    """``--network-options`` JSON -> dict of network overrides; ProtsteerError unless a JSON object."""
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProtsteerError(f"--network-options is not JSON: {err}") from err
    if not isinstance(overrides, dict):
        raise ProtsteerError("--network-options must be a JSON object")
    return overrides


def echo_train_result(selection_metric: str, result: TrainResult) -> None:
    """One line: why training stopped, at which step, and the best val value of ``selection_metric``."""
    best = (result.best_metrics or {}).get(selection_metric, float("nan"))
    click.echo(
        f"{result.stopped} at step {result.step}/{result.total_steps} in {result.elapsed_s / 60:.1f} min; "
        f"best val {selection_metric} {best:.4f} at step {result.best_step}; run dir {result.run_dir}"
    )
