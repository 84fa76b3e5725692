"""``protsteer merge``: join the output directories of sharded ``predict`` / ``scan`` runs."""

from __future__ import annotations

from pathlib import Path

import click

from protsteer.cli.batch_options import split_columns
from protsteer.io.tables import FORMATS


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument(
    "sources",
    nargs=-1,
    required=True,
    metavar="OUTDIR...",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the merged tables, errors.tsv and run.json.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tsv", show_default=True)
@click.option(
    "--columns", default=None, metavar="COL,COL...", help="Write only these columns, in this order."
)
@click.option("--per-input", is_flag=True, help="One table per input under OUT/per_input/.")
@click.option("--allow-partial", is_flag=True, help="Merge even when shards of an I/N set are missing.")
@click.pass_context
def merge(
    ctx: click.Context,
    sources: tuple[Path, ...],
    out: Path,
    fmt: str,
    columns: str | None,
    per_input: bool,
    allow_partial: bool,
) -> None:
    """Merge shard output directories into OUT, in the order of an unsharded run.

    \b
    Examples:
      # a SLURM job array of 8 shards, then one merge
      protsteer predict structures/ -o run/shard-$SLURM_ARRAY_TASK_ID --shard $SLURM_ARRAY_TASK_ID/8
      protsteer merge run/shard-* -o run/all
      protsteer merge scan-0/ scan-1/ -o scan-all/ --format parquet --columns mutant,log_odds
      protsteer merge run/shard-* -o run/so-far --allow-partial   # while shards are still running
    """
    from protsteer.io.batch import OutputOptions
    from protsteer.io.merge import merge_runs

    summary = merge_runs(
        sources,
        out,
        OutputOptions(fmt=fmt, columns=split_columns(columns), per_input=per_input),
        allow_partial=allow_partial,
        arguments=dict(ctx.params),
    )
    click.echo(f"protsteer: {summary.line()} -> {out}", err=True)
