"""The ``protsteer`` command line (a click group whose subcommands load lazily).

Each subcommand lives in its own module of this package and is registered in :data:`COMMANDS`
as ``name -> "module:attribute"``; it is imported only when it runs (or for ``--help`` on it), so
``protsteer --help`` stays fast and does not import torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from protsteer import __version__
from protsteer.errors import ProtsteerError

#: subcommand name -> "protsteer.cli.<module>:<click command>"
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("protsteer.cli.inspect_cmd:inspect", "Summarise structure files and what the policies do."),
    "predict": ("protsteer.cli.predict_cmd:predict", "Amino-acid propensities and CATH architectures."),
    "scan": ("protsteer.cli.scan_cmd:scan", "Score point mutations with log-odds from the propensity model."),
    "train": ("protsteer.cli.train_cmd:train", "Train a model (propensity or cath)."),
    "evaluate": ("protsteer.cli.evaluate_cmd:evaluate", "Evaluate weights on a data split."),
    "merge": ("protsteer.cli.merge_cmd:merge", "Merge the outputs of sharded runs."),
    "demo": ("protsteer.cli.demo_cmd:demo", "Check the steerable layers' equivariance here."),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when the subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name][0].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not self._available(cmd_name):
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="protsteer")
def cli() -> None:
    """protsteer: SE(3)-equivariant 3D steerable CNNs for protein structures.

    \b
    Examples:
      protsteer predict 1abc.cif.gz -o out/        # per-residue amino-acid propensities
      protsteer predict structures/ -o out/        # a whole directory, resumable
      protsteer scan 1abc.pdb -o scan.tsv          # zero-shot mutation scores
      protsteer inspect 1abc.pdb                   # what the reader sees in a file
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning :class:`ProtsteerError` into one line and exit code 1."""
    try:
        exit_code = cli.main(args=argv, prog_name="protsteer", standalone_mode=False)
    except ProtsteerError as err:
        click.echo(f"protsteer: error: {err.one_line()}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("protsteer: aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("protsteer: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as err:  # a file system failure no code path turned into a ProtsteerError
        where = f"{err.filename}: " if err.filename else ""
        click.echo(f"protsteer: error: {where}{err.strerror or err}", err=True)
        sys.exit(1)
    sys.exit(exit_code if isinstance(exit_code, int) else 0)
