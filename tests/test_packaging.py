"""Packaging: every package directory ships in a non-editable install (pyproject lists them explicitly)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "protsteer").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= listed, f"packages missing from pyproject.toml: {sorted(on_disk - listed)}"
    assert "protsteer.models" in listed
    assert config["tool"]["setuptools"]["package-dir"]["protsteer.models"] == "models"


def test_cli_exit_code_propagates():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "no-such-command"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_cli_script_finds_the_shipped_weights_without_an_install(tmp_path):
    """``python cli.py`` from a bare checkout (no install: PYTHONPATH only) lists the shipped models."""
    import os
    import subprocess
    import sys

    # a Python that sees the dependencies but not this project's install: drop the editable finder/.pth
    code = (
        "import sys, runpy; "
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('protsteer')]; "
        "sys.argv = ['cli.py', 'predict', '--help']; "
        f"runpy.run_path({str(ROOT / 'cli.py')!r}, run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    assert "propensity-v" in result.stdout


def test_help_of_every_command_does_not_import_torch(tmp_path):
    """The commands load lazily (README, "Layout"): help and usage errors answer without importing torch."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from protsteer.cli import main\n"
        "for command in (['--help'], ['predict', '--help'], ['scan', '--help'], ['inspect', '--help'],\n"
        "        ['merge', '--help'], ['demo', '--help'], ['train', 'propensity', '--help'],\n"
        "        ['train', 'cath', '--help'], ['train', 'export', '--help'],\n"
        "        ['evaluate', 'propensity', '--help'], ['evaluate', 'cath', '--help']):\n"
        "    try:\n"
        "        main(command)\n"
        "    except SystemExit as exit_:\n"
        "        assert not exit_.code, (command, exit_.code)\n"
        "print('torch' in sys.modules)\n"
    )
    # run outside the checkout: import the installed package (the checkout has no protsteer/models)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def _leaf_commands(group, path=()):
    """(command path, command) of every command below a (lazily loading) click group."""
    import click

    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_help_has_examples_one_per_line():
    """Each command's --help ends with examples; a wrapped example keeps its backslash and line break
    (a bare backslash-newline in a docstring would join the two lines)."""
    import re

    from click.testing import CliRunner

    from protsteer.cli import cli

    commands = list(_leaf_commands(cli))
    assert len(commands) >= 10
    for path, _ in commands:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        examples = result.output.split("Examples:")[-1].split("Options:")[0]
        assert "Examples:" in result.output and "protsteer" in examples, path
        lines = [line for line in examples.splitlines() if line.strip()]
        assert not any(re.search(r"\S {3,}--", line) for line in lines), (path, lines)
