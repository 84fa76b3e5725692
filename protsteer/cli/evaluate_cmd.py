"""``protsteer evaluate propensity``: accuracy tables of propensity weights on a data split."""

from __future__ import annotations

from pathlib import Path

import click

from protsteer.cli.batch_options import frame_option, precision_option
from protsteer.cli.cath_cmds import evaluate_cath
from protsteer.cli.training_options import (
    evaluation_options,
    log_progress,
    propensity_data_option,
    structure_cache_option,
)
from protsteer.models import DEFAULT_WEIGHTS


@click.group("evaluate")
def evaluate() -> None:
    """Evaluate weights on a data split."""


@evaluate.command("propensity")
@click.option(
    "--weights",
    "weights_list",
    multiple=True,
    default=(DEFAULT_WEIGHTS["propensity"],),
    show_default=True,
    metavar="NAME|PATH",
    help="Shipped weights name (see models/) or a .pt file (sha256-verified); repeat to compare models on "
    "the same residues (tables per model in OUT/<name>/, the comparison in OUT/comparison.tsv).",
)
@propensity_data_option
@click.option("--split", default="test", show_default=True, help="Split name (splits/<split>.txt).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the tables (default: eval-<weights>-<split>, or eval-compare-<split>).",
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
@precision_option
@structure_cache_option
@evaluation_options(
    batch_size=None, batch_help="Residues per network call (default: 16 on CPU, 512 on CUDA)."
)
def propensity(
    weights_list: tuple[str, ...],
    data_dir: Path,
    split: str,
    out_dir: Path | None,
    max_residues: int,
    no_rotations: bool,
    orientations: int,
    frame: str,
    precision: str,
    cache_dir: Path | None,
    device: str,
    threads: int | None,
    batch_size: int | None,
    seed: int,
) -> None:
    """Top-1/top-3/log-loss per residue and averaged per family, per-amino-acid accuracy, the 20x20
    confusion, and top-1 agreement under random rotations, written as TSV tables plus summary.json.
    With several --weights, every model is scored on the same residues and comparison.tsv gives each
    model's difference from the first in top-1 and log-loss, with a 95 % interval from a bootstrap over
    families (paired: the residues' shared difficulty cancels).

    \b
    Examples:
      protsteer evaluate propensity --data ../shared/data --split test --out eval/test
      protsteer evaluate propensity --weights runs/prop/best-weights.pt --data ../shared/data --split val
      protsteer evaluate propensity --data ../shared/data --split val --orientations 4
      protsteer evaluate propensity --weights runs/a/best-weights.pt --weights runs/b/best-weights.pt \\
        --data ../shared/data --split val --out eval/a-vs-b
    """
    import torch

    from protsteer.cli.train_cmd import default_cache_dir
    from protsteer.io.provenance import base_record, write_run_json
    from protsteer.io.tables import write_table
    from protsteer.io.weights import distinct_weight_names, load_weights
    from protsteer.tasks.device import resolve_device
    from protsteer.tasks.propensity.evaluate import (
        COMPARISON_COLUMNS,
        compare_evaluations,
        evaluate_propensity,
        write_evaluation,
    )
    from protsteer.tasks.propensity.runner import DEFAULT_BATCH_SIZE

    log_progress()
    if threads:
        torch.set_num_threads(threads)
    resolved = resolve_device(device)
    batch_size = batch_size or DEFAULT_BATCH_SIZE[resolved.type]
    files = [load_weights(weights, resolved) for weights in weights_list]
    loaded = dict(zip(distinct_weight_names(files), zip(weights_list, files, strict=True), strict=True))
    single = len(loaded) == 1
    out_dir = out_dir or Path(f"eval-{next(iter(loaded)) if single else 'compare'}-{split}")
    arguments = {
        "weights": list(weights_list),
        "data": str(data_dir),
        "split": split,
        "max_residues": max_residues,
        "rotations": not no_rotations,
        "orientations": orientations,
        "frame": frame,
        "precision": precision,
        "device": str(resolved),
        "batch_size": batch_size,
        "seed": seed,
    }
    evaluations = {}
    for name, (weights, weights_file) in loaded.items():
        model_dir = out_dir if single else out_dir / name
        evaluation = evaluate_propensity(
            weights_file,
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
            precision=precision,
        )
        write_evaluation(evaluation, model_dir)
        record = {
            **base_record("evaluate propensity", {**arguments, "weights": weights}),
            "weights_sha256": weights_file.sha256,
            "summary": evaluation.summary,
        }
        write_run_json(model_dir, record)
        evaluations[name] = evaluation
        click.echo(f"{name}: {_summary_line(split, evaluation.summary)}")
    if single:
        click.echo(f"tables in {out_dir}")
        return
    rows = compare_evaluations(evaluations, seed=seed)
    write_table(out_dir / "comparison.tsv", COMPARISON_COLUMNS, rows)
    write_run_json(out_dir, {**base_record("evaluate propensity", arguments), "comparison": rows})
    for row in rows[1:]:
        if row["d_top1"] is None:
            click.echo(f"{row['model']} - {row['vs']}: other residues (another read policy?), not paired")
            continue
        click.echo(
            f"{row['model']} - {row['vs']}: top1 {row['d_top1']:+.4f} "
            f"[{row['d_top1_ci_low']:+.4f}, {row['d_top1_ci_high']:+.4f}], log-loss {row['d_log_loss']:+.4f} "
            f"[{row['d_log_loss_ci_low']:+.4f}, {row['d_log_loss_ci_high']:+.4f}] (95 % family bootstrap)"
        )
    click.echo(f"tables in {out_dir} (comparison.tsv, one folder per model)")


def _summary_line(split: str, summary: dict) -> str:
    calibration = summary["calibration"]
    line = (
        f"{split}: {summary['evaluated_residues']} residues in {summary['families']} families: "
        f"top1 {summary['per_residue']['top1']:.4f} (family macro {summary['family_macro']['top1']:.4f}), "
        f"top3 {summary['per_residue']['top3']:.4f}, log-loss {summary['per_residue']['log_loss']:.4f}, "
        f"calibration error {calibration['ece']:.4f} (best temperature {calibration['temperature']:.3f}: "
        f"log-loss {calibration['log_loss_at_temperature']:.4f})"
    )
    if "rotation" in summary:
        line += f", network top1 agreement under random rotations {summary['rotation']['top1_agreement']:.4f}"
    return line


evaluate.add_command(evaluate_cath)
