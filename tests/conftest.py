"""Shared pytest configuration: deterministic, single-threaded torch for reproducible fast tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
TEST_DATA = TESTS_DIR / "data"
SHARED_DATA = (TESTS_DIR.parent.parent / "shared" / "data").resolve()


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


os.environ.setdefault("OMP_NUM_THREADS", "2")
