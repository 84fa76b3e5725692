"""``protsteer evaluate propensity``: accuracy tables of propensity weights on a data split."""

from __future__ import annotations

from pathlib import Path

import click

from protsteer.cli.batch_options import frame_option, propensity_weights_option
from protsteer.cli.cath_cmds import evaluate_cath
from protsteer.cli.training_options import evaluation_options, log_progress


@click.group("evaluate")
def evaluate() -> None:
    """Evaluate weights on a data split."""


@evaluate.command("propensity")
@propensity_weights_option
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Data directory with chains.tsv, splits/ and structures/.",
)
@click.option("--split", default="test", show_default=True, help="Split name (splits/<split>.txt).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the tables (default: eval-<weights>-<split>).",
)
@click.option(
    "--max-residues",
    type=int,
    default=10_000,
    show_default=True,
    help="Residues evaluated, spread evenly over families; 0 = the whole split.",
)
@click.option("--no-rotations", is_flag=True, help="Skip the rotational-robustness pass (halves the time).")
@click.option(
    "--orientations",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Average over this many orientations per environment, as predict --orientations (K times slower).",
)
@frame_option
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Structure cache (default: $XDG_CACHE_HOME/protsteer or ~/.cache/protsteer).",
)
@evaluation_options(
    batch_size=None, batch_help="Residues per network call (default: 16 on CPU, 512 on CUDA)."
)
def propensity(
    weights: str,
    data_dir: Path,
    split: str,
    out_dir: Path | None,
    max_residues: int,
    no_rotations: bool,
    orientations: int,
    frame: str,
    cache_dir: Path | None,
    device: str,
    threads: int | None,
    batch_size: int | None,
    seed: int,
) -> None:
    """Top-1/top-3/log-loss per residue and averaged per family, per-amino-acid accuracy, the 20x20
    confusion, and top-1 agreement under random rotations, written as TSV tables plus summary.json.

    \b
    Examples:
      protsteer evaluate propensity --data ../shared/data --split test --out eval/test
      protsteer evaluate propensity --weights runs/prop/best-weights.pt --data ../shared/data --split val
      protsteer evaluate propensity --data ../shared/data --split val --orientations 4
    """
    import torch

    from protsteer.cli.train_cmd import default_cache_dir
    from protsteer.io.provenance import base_record, write_run_json
    from protsteer.io.weights import load_weights
    from protsteer.tasks.propensity.evaluate import evaluate_propensity, write_evaluation
    from protsteer.tasks.propensity.runner import DEFAULT_BATCH_SIZE
    from protsteer.tasks.training import resolve_device

    log_progress()
    if threads:
        torch.set_num_threads(threads)
    resolved = resolve_device(device)
    batch_size = batch_size or DEFAULT_BATCH_SIZE[resolved.type]
    loaded = load_weights(weights, resolved)
    out_dir = out_dir or Path(f"eval-{loaded.name}-{split}")
    record = base_record(
        "evaluate propensity",
        {
            "weights": weights,
            "data": str(data_dir),
            "split": split,
            "max_residues": max_residues,
            "rotations": not no_rotations,
            "orientations": orientations,
            "frame": frame,
            "device": str(resolved),
            "batch_size": batch_size,
            "seed": seed,
        },
    )
    evaluation = evaluate_propensity(
        loaded,
        data_dir,
        split,
        cache_dir or default_cache_dir(),
        max_residues=max_residues or None,
        rotations=not no_rotations,
        batch_size=batch_size,
        device=resolved,
        seed=seed,
        orientations=orientations,
        frame=frame,
    )
    write_evaluation(evaluation, out_dir)
    write_run_json(out_dir, {**record, "weights_sha256": loaded.sha256, "summary": evaluation.summary})
    summary = evaluation.summary
    line = (
        f"{split}: {summary['evaluated_residues']} residues in {summary['families']} families: "
        f"top1 {summary['per_residue']['top1']:.4f} (family macro {summary['family_macro']['top1']:.4f}), "
        f"top3 {summary['per_residue']['top3']:.4f}, log-loss {summary['per_residue']['log_loss']:.4f}"
    )
    if "rotation" in summary:
        line += f", network top1 agreement under random rotations {summary['rotation']['top1_agreement']:.4f}"
    click.echo(f"{line}; tables in {out_dir}")


evaluate.add_command(evaluate_cath)
