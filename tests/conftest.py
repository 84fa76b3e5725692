"""Shared pytest configuration: deterministic, single-threaded torch for reproducible fast tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
TEST_DATA = TESTS_DIR / "data"
SHARED_DATA = (TESTS_DIR.parent.parent / "shared" / "data").resolve()
SHARED_SUBSET = TEST_DATA / "shared_subset"


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _native_bf16(monkeypatch):
    """bf16 autocast runs on the CPU in every test, whatever this CPU has (without native bf16 the tool
    falls back to float32: tests/test_precision.py covers that)."""
    from protsteer.tasks import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real structures and labels); skips the test when it is absent."""
    if not (SHARED_DATA / "chains.tsv").exists():
        pytest.skip("../shared/data not available")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_subset() -> Path:
    """tests/data/shared_subset: nine structure files of ../shared/data with its layout (chains.tsv and
    splits/ for the six chains among them), committed, so these tests also run where ../shared is absent."""
    return SHARED_SUBSET


@dataclass(frozen=True)
class TinyRun:
    """One ``protsteer predict`` run with default options, shared by the predict / scan / batch tests (which
    only read it): the tiny network's weights file, the valid example structures and the OUTDIR."""

    weights: Path
    inputs: Path
    out: Path

    def rows(self, structure_id: str | None = None) -> list[dict]:
        """The rows of ``out/residues.tsv`` (those of one structure when ``structure_id`` is given)."""
        from protsteer.io.tables import iter_rows
        from protsteer.tasks.propensity.tables import RESIDUE_COLUMNS

        rows = iter_rows(self.out / "residues.tsv", RESIDUE_COLUMNS)
        return [row for row in rows if structure_id in (None, row["structure_id"])]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """See :class:`TinyRun`; tests must not write into its folders."""
    from predict_helpers import run_cli, tiny_weights, write_valid_structures

    root = tmp_path_factory.mktemp("tiny_run")
    weights = tiny_weights(root / "tiny.pt")
    write_valid_structures(root / "in")
    out = root / "out"
    assert run_cli("predict", root / "in", "-o", out, "--weights", weights, "--workers", "0", "-q") == 0
    return TinyRun(weights, root / "in", out)


os.environ.setdefault("OMP_NUM_THREADS", "2")
