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
