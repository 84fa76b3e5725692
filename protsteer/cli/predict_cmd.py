"""``protsteer predict``: per-residue amino-acid propensities for many structures (resumable batch)."""

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
    weights_option,
)
from protsteer.tasks.propensity.tables import STRUCTURE_SCORES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@input_options
@click.option(
    "-o",
    "--out",
    "outdir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory: residues.tsv, run.json, errors.tsv (+ parts/ and manifest.jsonl for resuming).",
)
@propensity_weights_option
@positions_option(
    "Predict only these residues (author numbering: chain:resseq[icode], ranges, whole chains as B or "
    "B:); the environments still hold every atom of the structure."
)
@click.option(
    "--tasks",
    default="propensity",
    show_default=True,
    metavar="propensity[,cath]",
    help="What to predict; cath adds a per-domain CATH architecture table.",
)
@click.option(
    "--domains",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Domain boundaries for --tasks cath (passed to the CATH predictor).",
)
@weights_option("--cath-weights", default=None, help="Weights for --tasks cath.")
@click.option(
    "--write-structure",
    is_flag=True,
    help="Also write OUTDIR/structures/<id>.cif with a per-residue score as B-factor.",
)
@click.option(
    "--structure-score",
    type=click.Choice(STRUCTURE_SCORES),
    default="logp_native",
    show_default=True,
    help="The score --write-structure puts in the B-factor column.",
)
@output_options
@runtime_options
@logging_options
@click.pass_context
def predict(
    ctx: click.Context,
    positions: str | None,
    tasks: str,
    domains: Path | None,
    cath_weights: str | None,
    write_structure: bool,
    structure_score: str,
    **options,
) -> None:
    """Amino-acid propensities of every residue of every INPUT.

    \b
    INPUT: structure files (PDB/mmCIF, .gz ok), directories (searched recursively), @list.txt (one path
    per line), or - (paths on standard input).

    \b
    Output (OUTDIR/residues.tsv, one row per residue): structure_id file model chain resseq icode
    seq_index resname native_aa flag p_A..p_Y pred_aa p_pred p_native logp_native rank_native entropy
    (natural logs; entropy in nats; rank_native 1 = the native is the most probable amino acid).

    \b
    Rerunning the same command resumes: inputs already done are skipped. Bad inputs are listed in
    OUTDIR/errors.tsv; the exit code is 3 when any input failed (0 with --allow-partial).

    \b
    Examples:
      protsteer predict 1abc.cif.gz -o out/
      protsteer predict structures/ --include '*.pdb.gz' -o out/ --device cuda --batch-size 1024
      protsteer predict @list.txt -o out/ --shard 0/4      # then: protsteer merge out*/ -o all/
      protsteer predict structures/ -o out/ --weights propensity-v2   # CPU: ~5x faster, less accurate
      protsteer predict 1abc.pdb -o out/ --frame input   # grids in the file's axes, not each residue's frame
      protsteer predict complex.cif -o out/ --positions A,B:30-60   # chain A and residues 30-60 of B
    """
    from protsteer.errors import ProtsteerError
    from protsteer.tasks.propensity.predict import check_task_options, parse_tasks, run_predict

    if not write_structure and given_on_command_line(ctx, "structure_score"):
        raise click.UsageError("--structure-score only applies with --write-structure")
    try:
        task_names = parse_tasks(tasks)
        check_task_options(task_names, domains, cath_weights)
    except ProtsteerError as err:
        raise click.UsageError(str(err)) from None
    request = request_from_options(ctx, options)
    summary = run_predict(
        request,
        positions=positions,
        tasks=task_names,
        domains=domains,
        cath_weights=cath_weights,
        write_structure=write_structure,
        structure_score=structure_score,
    )
    finish_batch(summary, request, options["allow_partial"])
