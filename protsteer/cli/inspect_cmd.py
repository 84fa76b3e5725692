"""``protsteer inspect``: what the reader sees in structure files, as a TSV table (no model is loaded)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from protsteer.errors import ProtsteerError
from protsteer.io.inputs import expand_inputs
from protsteer.io.tables import Column, write_table
from protsteer.structure import RESIDUE_COLUMNS, ReadPolicy, read_structure
from protsteer.structure.policy import ModelPolicy
from protsteer.structure.summary import SUMMARY_COLUMNS, SUMMARY_INT_COLUMNS, summarize

_RESIDUE_INT_COLUMNS = frozenset({"model", "resseq", "seq_index"})
_TSV_UNSAFE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _model_choice(value: str) -> ModelPolicy:
    if value == "first":
        return "first"
    if value == "all":
        return "all"
    try:
        return int(value)
    except ValueError as err:
        raise click.BadParameter(f"must be first, all or a model number, not {value!r}") from err


def read_policy_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Click options for every :class:`ReadPolicy` field (defaults = the training policy)."""
    options: list[Decorator] = [
        click.option(
            "--model",
            "policy_model",
            default="first",
            show_default=True,
            metavar="first|all|N",
            help="Which model(s) to read: the first, all (one row per model), or model number N.",
        ),
        click.option(
            "--altloc",
            "policy_altloc",
            type=click.Choice(["occupancy", "first"]),
            default="occupancy",
            show_default=True,
            help="Alternative locations: highest occupancy (ties: first) or first.",
        ),
        click.option(
            "--hetero",
            "policy_hetero",
            type=click.Choice(["cofactors", "all", "metals", "none"]),
            default="cofactors",
            show_default=True,
            help="Non-protein atoms kept as context: cofactors = all but buffer/crystallisation "
            "agents (metal ions always kept); all; metals only; none.",
        ),
        click.option("--keep-waters", "policy_waters", is_flag=True, help="Keep waters as context atoms."),
        click.option("--keep-hydrogens", "policy_hydrogens", is_flag=True, help="Keep hydrogen atoms."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def read_policy_from_options(options: dict[str, Any]) -> ReadPolicy:
    """Pop the :func:`read_policy_options` values out of ``options`` and build the policy."""
    try:
        model = _model_choice(options.pop("policy_model"))
    except click.BadParameter as err:
        raise ProtsteerError(f"--model {err.message}") from err
    return ReadPolicy(
        model=model,
        altloc=options.pop("policy_altloc"),
        hetero=options.pop("policy_hetero"),
        keep_waters=options.pop("policy_waters"),
        keep_hydrogens=options.pop("policy_hydrogens"),
    )


@click.command(
    "inspect",
    epilog="""\b
Examples:
  protsteer inspect 1abc.cif.gz                    # one summary row
  protsteer inspect structures/ > summary.tsv      # every structure file below a directory
  zcat 1abc.pdb.gz | protsteer inspect -           # a structure on standard input
  protsteer inspect --model all 2k9q.pdb           # NMR: one row per model
  protsteer inspect --residues 1abc.pdb            # the residue table (numbering, flags)
  protsteer inspect @files.txt -o summary.parquet  # a list of inputs, written as parquet

\b
Summary columns: structure_id model format compressed models_in_file chains (CHAIN:residues,...)
n_chains n_residues n_atoms context_atoms (ligand/metal/skipped-residue atoms kept) nonstandard (NAME:count)
unknown (native X) insertion_codes chain_breaks (CA-CA > 4.2 A) numbering_gaps missing_sidechain
missing_backbone altloc_residues microhetero_residues altloc_atoms_removed skipped (residues without CA)
skipped_residues hydrogens_removed waters_removed hetero_kept hetero_removed repairs policy path.
A bad file prints 'protsteer: error: <file>: <reason>' on stderr; the others go on; exit code 1.""",
)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@read_policy_options
@click.option(
    "--residues", "per_residue", is_flag=True, help="Print the residue table instead of the summary."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the table here (.tsv .csv .jsonl .parquet) instead of standard output.",
)
def inspect(inputs: tuple[str, ...], per_residue: bool, output: Path | None, **options: Any) -> None:
    """Summarise structure files and what the reading policies do with them.

    INPUT is a structure file (PDB, mmCIF or mmJSON, plain or gzipped, recognised by content), a directory
    (searched recursively for .pdb .ent .cif .mmcif and their .gz), @LIST (one input per line) or - (one
    structure read from standard input).
    """
    policy = read_policy_from_options(options)
    columns = RESIDUE_COLUMNS if per_residue else SUMMARY_COLUMNS
    integers = _RESIDUE_INT_COLUMNS if per_residue else SUMMARY_INT_COLUMNS
    failures: list[str] = []
    rows = _rows(inputs, policy, per_residue, failures)
    if output is None:
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(str(row[name]).translate(_TSV_UNSAFE) for name in columns))
    else:
        schema = [Column(name, "int" if name in integers else "str") for name in columns]
        write_table(output, schema, rows)
    if failures:
        sys.exit(1)  # SystemExit: click's non-standalone main() would swallow an Exit(1)


def _rows(
    inputs: tuple[str, ...], policy: ReadPolicy, per_residue: bool, failures: list[str]
) -> Iterator[dict]:
    """Table rows for every input; failures are reported on stderr and collected, never raised."""
    for source, structure_id in _sources(inputs, failures):
        label = "-" if isinstance(source, bytes) else str(source)
        try:
            structure = read_structure(source, policy, structure_id)
        except ProtsteerError as err:
            message = err.message if err.path is None else err.one_line()
            _report(f"{label}: {message}" if err.path is None else message, failures)
            continue
        if per_residue:
            columns = structure.residues.to_columns()
            yield from (
                dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
            )
        else:
            yield from summarize(structure)


def _sources(inputs: tuple[str, ...], failures: list[str]) -> Iterator[tuple[Path | bytes, str | None]]:
    """``(path or stdin bytes, structure_id)`` per input, in the order given (directories sorted)."""
    for spec in inputs:
        if spec == "-":
            with click.open_file("-", "rb") as stdin:
                data = stdin.read()
            yield data, "stdin"
            continue
        found = expand_inputs([spec])
        for missing in found.missing:
            _report(f"{missing}: no such file or directory", failures)
        for duplicate in found.duplicates:  # skipped as predict skips them, but never silently
            click.echo(
                f"protsteer: warning: {duplicate.path}: duplicate of {duplicate.kept} ({duplicate.reason}),"
                " skipped",
                err=True,
            )
        if Path(spec).is_dir() and not found.files:
            _report(f"{spec}: no structure files found in directory", failures)
        for item in found.files:
            yield item.path, item.structure_id


def _report(line: str, failures: list[str]) -> None:
    failures.append(line)
    click.echo(f"protsteer: error: {line}", err=True)
    sys.stderr.flush()
