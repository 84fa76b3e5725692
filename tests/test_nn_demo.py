"""``protsteer demo``: prints the equivariance table, exit 0 within tolerance and 1 otherwise."""

from __future__ import annotations

from click.testing import CliRunner

from protsteer.cli import cli


def test_demo_passes_and_prints_a_table():
    result = CliRunner().invoke(cli, ["demo", "--grid", "9", "--rotations", "1"])
    assert result.exit_code == 0, result.output
    assert "24 cube rot." in result.output and "SteerableCNN tiny" in result.output
    assert result.output.count(" ok") == 2


def test_demo_fails_when_the_tolerance_cannot_be_met():
    result = CliRunner().invoke(
        cli, ["demo", "--grid", "9", "--rotations", "1", "--continuous-tolerance", "0"]
    )
    assert result.exit_code == 1
    assert "FAILED" in result.output


def test_demo_rejects_a_tiny_grid():
    result = CliRunner().invoke(cli, ["demo", "--grid", "3"])
    assert result.exit_code != 0
    assert "--grid must be >= 7" in str(result.exception) + result.output
