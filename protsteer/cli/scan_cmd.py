"""``protsteer scan``: log-odds scores of point mutations from the propensity model."""

from __future__ import annotations

from pathlib import Path

import click

from protsteer.cli.batch_options import (
    finish_batch,
    given_on_command_line,
    input_options,
    logging_options,
    output_options,
    positions_option,
    propensity_weights_option,
    request_from_options,
    runtime_options,
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@input_options
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The table (scan.tsv / .csv / .jsonl / .parquet; its work files go to OUT.work/) or a "
    "directory (scan.<format>, run.json, errors.tsv inside).",
)
@propensity_weights_option
@positions_option(
    "Scan only these residues (author numbering: chain:resseq[icode], ranges, whole chains as B or B:)."
)
@click.option(
    "--mutations",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Score only these mutants: a table with a 'mutant' column ([CHAIN:]G12V, position = "
    "seq_index + 1; also Gly12Val and HGVS p.Gly12Val; multi-point A10G:L20V or p.[Gly12Val;Leu20Val] "
    "scored as the sum over sites) or one mutant per line; all its columns are kept.",
)
@click.option(
    "--numbering",
    type=click.Choice(["seq_index", "author"]),
    default="seq_index",
    show_default=True,
    help="Positions in --mutations: seq_index + 1 (as in the 'mutant' column of scan output) or author "
    "residue numbers with insertion code (H:G100AV), as in most ddG tables.",
)
@output_options
@runtime_options
@logging_options
@click.pass_context
def scan(
    ctx: click.Context,
    out: Path,
    positions: str | None,
    mutations: Path | None,
    numbering: str,
    **options,
) -> None:
    """Score every single-point mutant of INPUT (or those of --positions / --mutations).

    \b
    One row per (residue, mutant amino acid != wild type): structure_id model chain resseq icode
    seq_index wt mt mutant log_odds logp_wt logp_mt p_wt p_mt, where mutant = {wt}{seq_index+1}{mt} and
    log_odds = ln p(mt) - ln p(wt) from the residue's environment with its own side chain removed.
    POSITIVE log_odds = the model PREFERS the mutant; this is the opposite sign of ddG-style scores
    (positive ddG = destabilising), so correlate log_odds with -ddG.

    \b
    Examples:
      protsteer scan 1abc.pdb -o scan.tsv
      protsteer scan 1abc.pdb --positions A:10-20,A:45 -o scan.tsv
      protsteer scan 1abc.pdb --positions B -o scan.tsv      # every residue of chain B
      protsteer scan 1abc.pdb --mutations variants.tsv -o scored.tsv
      protsteer scan 1abc.pdb --mutations dms.csv -o scored.csv  # A10G:L20V rows: additive
      protsteer scan 1abc.pdb -o scan.tsv --orientations 8  # average 8 orientations (8x the time)
    """
    from protsteer.tasks.propensity.scan import run_scan

    if mutations is None and given_on_command_line(ctx, "numbering"):
        raise click.UsageError("--numbering only applies with --mutations")
    request = request_from_options(ctx, options, out=out)
    summary = run_scan(request, positions=positions, mutations=mutations, numbering=numbering)
    finish_batch(summary, request, options["allow_partial"])
