"""Click options shared by the batch commands (predict, scan, merge) and their logging / progress setup."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from tqdm import tqdm

from protsteer.cli.option_stack import stack_options
from protsteer.io.batch import ON_ERROR
from protsteer.io.tables import FORMATS
from protsteer.models import DEFAULT_WEIGHTS

if TYPE_CHECKING:
    from protsteer.tasks.propensity.runner import BatchRequest

#: exit code when some inputs failed (and --allow-partial was not given)
EXIT_PARTIAL = 3
TABLE_SUFFIXES = (".tsv", ".csv", ".jsonl", ".parquet")
#: table suffixes protsteer does not write: `-o scan.xlsx` is an error, not a directory of that name
OTHER_TABLE_SUFFIXES = (".xlsx", ".xls", ".ods", ".txt", ".tab", ".json", ".gz")


def split_columns(value: str | None) -> tuple[str, ...]:
    """``"a,b c"`` -> ``("a", "b", "c")`` (commas or spaces)."""
    return tuple(value.replace(",", " ").split()) if value else ()


input_options = stack_options(
    click.argument("inputs", nargs=-1, required=True, metavar="INPUT..."),
    click.option(
        "--include",
        multiple=True,
        metavar="GLOB",
        help="In directories, only files matching GLOB (repeatable; default: structure "
        "suffixes .pdb .ent .cif .mmcif .mcif .pdbx .mmjson, each also .gz). A GLOB with '/' "
        "matches the path below the directory.",
    ),
    click.option(
        "--exclude", multiple=True, metavar="GLOB", help="In directories, skip files matching GLOB."
    ),
)

output_options = stack_options(
    click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="tsv",
        show_default=True,
        help="Table format (parquet needs pyarrow: pip install 'protsteer[parquet]').",
    ),
    click.option(
        "--columns",
        default=None,
        metavar="COL,COL...",
        help="Write only these columns, in this order (default: all).",
    ),
    click.option(
        "--per-input",
        is_flag=True,
        help="One table per input under OUTDIR/per_input/ instead of one merged table.",
    ),
    click.option(
        "--overwrite",
        is_flag=True,
        help="Recompute everything (default: resume, skipping inputs already done in OUTDIR).",
    ),
    click.option(
        "--on-error",
        type=click.Choice(ON_ERROR),
        default="skip",
        show_default=True,
        help="skip: record a bad input in OUTDIR/errors.tsv and go on; fail: stop at the first one.",
    ),
    click.option(
        "--allow-partial",
        is_flag=True,
        help="Exit 0 even when some inputs failed (not when every input failed).",
    ),
    click.option(
        "--shard",
        default=None,
        metavar="I/N",
        help="Process only shard I of N (0-based) of the sorted inputs; join shards with 'protsteer merge'.",
    ),
)


def _one_weights(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str | None:
    """Callback of a weights option given at most once (click would silently keep the last of several)."""
    if len(values) > 1:
        raise click.BadParameter(
            f"given {len(values)} times; this command runs one model (to combine models, write an ensemble: "
            "protsteer train export A.pt B.pt -o ensemble.pt)"
        )
    return values[0] if values else None


def weights_option(*names: str, default: str | None, help: str) -> Callable[[Callable], Callable]:
    """A ``NAME|PATH`` weights option that refuses to be repeated."""
    return click.option(
        *names,
        multiple=True,
        default=(default,) if default else (),
        metavar="NAME|PATH",
        callback=_one_weights,
        help=f"{help}  [default: {default}]" if default else help,
    )


propensity_weights_option = weights_option(
    "--weights",
    default=DEFAULT_WEIGHTS["propensity"],
    help="Shipped weights name (see models/) or a .pt file (sha256-verified).",
)


def _check_selection(ctx: click.Context, param: click.Parameter, text: str | None) -> str | None:
    """A malformed residue selection is a usage error at once, not one error per input."""
    if text is None:
        return None
    from protsteer.errors import ProtsteerError
    from protsteer.structure.selection import parse_residue_selection

    try:
        parse_residue_selection(text)
    except ProtsteerError as err:
        raise click.BadParameter(err.message) from None
    return text


def positions_option(help: str) -> Callable[[Callable], Callable]:
    """``--positions A:10-20,H:82A,B``: a residue selection (:mod:`protsteer.structure.selection`)."""
    return click.option(
        "--positions", default=None, callback=_check_selection, metavar="A:10-20,H:82A,B", help=help
    )


frame_option = click.option(
    "--frame",
    type=click.Choice(["local", "input"]),
    default="local",
    show_default=True,
    help="Axes of each grid: 'local' turns each residue's environment into the residue's backbone frame "
    "(x along CA->C, y towards N) and each CATH domain onto its principal axes, so predictions do not "
    "depend on how the structure is oriented in the file; 'input' keeps the file's axes (the network "
    "alone is only approximately rotation-invariant).",
)

precision_option = click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16", "fp16"]),
    default="fp32",
    show_default=True,
    help="Network arithmetic: bf16 autocast on CUDA or a CPU with native bf16 (faster there; README, "
    "Performance; other CPUs fall back to fp32), fp16 on CUDA only (a CPU falls back to fp32).",
)

runtime_options = stack_options(
    click.option(
        "--device",
        default="auto",
        show_default=True,
        metavar="auto|cpu|cuda[:N]",
        help="Where the network runs; auto = the first CUDA device when present, else CPU.",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help="Residues per network batch (default: 16 on CPU, 512 on CUDA; halved automatically on "
        "out-of-memory). Every batch has this size (the last one is padded), so results do not depend on "
        "which residues share a batch.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=0),
        default=None,
        help="Processes that read structures in parallel (default: CPU cores - 1, at most 8; "
        "0 = read in the main process).",
    ),
    precision_option,
    click.option(
        "--orientations",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Average the probabilities over this many orientations of each environment (the input one "
        "and fixed random rotations): averages out the network's discretisation error, K times slower.",
    ),
    frame_option,
)

logging_options = stack_options(
    click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="No progress bar and no warnings: errors and the one-line summary only.",
    ),
    click.option(
        "-v",
        "--verbose",
        count=True,
        help="-v: info messages (device, resume, skipped residues); -vv: debug.",
    ),
    click.option(
        "--log-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Also write the log (always at info level or more verbose) to this file.",
    ),
)


class _TqdmHandler(logging.StreamHandler):
    """Writes log lines through ``tqdm.write`` so they do not break a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


def setup_logging(quiet: bool, verbose: int, log_file: Path | None) -> None:
    """Send protsteer's log records to stderr (warnings; -v info; -vv debug; -q errors) and optionally to a
    file (info, or debug with -vv)."""
    by_verbosity = {0: logging.WARNING, 1: logging.INFO}
    console_level = logging.ERROR if quiet else by_verbosity.get(verbose, logging.DEBUG)
    root = logging.getLogger("protsteer")
    root.handlers.clear()
    console = _TqdmHandler(sys.stderr)
    console.setFormatter(logging.Formatter("protsteer: %(message)s"))
    console.setLevel(console_level)
    root.addHandler(console)
    levels = [console_level]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        root.addHandler(handler)
        levels.append(handler.level)
    root.setLevel(min(levels))


def request_from_options(
    ctx: click.Context, options: dict[str, Any], out: Path | None = None
) -> BatchRequest:
    """A :class:`~protsteer.tasks.propensity.runner.BatchRequest` from the shared options (and sets up
    logging). ``out``: a table path (suffix .tsv/.csv/.jsonl/.parquet: the merged table goes there, work
    files to ``OUT.work/``) or a directory; default ``options["outdir"]``."""
    from protsteer.io.batch import OutputOptions
    from protsteer.io.inputs import parse_shard
    from protsteer.io.tables import format_from_path
    from protsteer.tasks.propensity.runner import BatchRequest

    setup_logging(options["quiet"], options["verbose"], options["log_file"])
    fmt, target = options["fmt"], None
    outdir = options.get("outdir") or out
    if outdir is None:
        raise click.UsageError("missing the output: -o/--out")
    if out is not None and out.suffix.lower() in OTHER_TABLE_SUFFIXES and not out.is_dir():
        raise click.UsageError(
            f"cannot write a {out.suffix} table ({out}): use {', '.join(TABLE_SUFFIXES)} or a directory"
        )
    if out is not None and out.suffix.lower() in TABLE_SUFFIXES:
        target, outdir = out, out.with_name(out.name + ".work")
        implied = format_from_path(out)
        if ctx.get_parameter_source("fmt") == click.core.ParameterSource.COMMANDLINE and fmt != implied:
            raise click.UsageError(f"--format {fmt} contradicts the suffix of {out}")
        fmt = implied
        if options["per_input"]:
            raise click.UsageError("--per-input needs an output directory, not a table path")
    return BatchRequest(
        inputs=options["inputs"],
        outdir=outdir,
        weights=options["weights"],
        device=options["device"],
        batch_size=options["batch_size"],
        workers=options["workers"],
        precision=options["precision"],
        orientations=options["orientations"],
        frame=options["frame"],
        output=OutputOptions(
            fmt=fmt, columns=split_columns(options["columns"]), per_input=options["per_input"], target=target
        ),
        include=options["include"],
        exclude=options["exclude"],
        shard=parse_shard(options["shard"]) if options["shard"] else None,
        overwrite=options["overwrite"],
        on_error=options["on_error"],
        progress=not options["quiet"],
        arguments=dict(ctx.params),
    )


def given_on_command_line(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (its parameter name) rather than taking its default."""
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


def finish_batch(summary, request: BatchRequest, allow_partial: bool) -> None:
    """Print the summary line; exit with :data:`EXIT_PARTIAL` when inputs failed, unless allowed and at least
    one input succeeded."""
    location = request.output.target or request.outdir
    click.echo(f"protsteer: {summary.line()} -> {location}", err=True)
    if summary.failed:
        errors = request.outdir / "errors.tsv"
        click.echo(f"protsteer: {summary.failed} input(s) failed: see {errors}", err=True)
        if not allow_partial or summary.resumed + summary.computed == 0:
            raise SystemExit(EXIT_PARTIAL)
