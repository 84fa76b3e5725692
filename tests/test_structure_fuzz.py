"""Fuzzing the reader with mutated real files: a consistent structure or a ProtsteerError, nothing else.

The mutation generator lives in ``benchmarks/fuzz_structures.py`` (which also runs >= 10,000 cases from the
command line); here a few hundred seeded cases run in every test run, and 10,000 under ``-m slow``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_structures.py"
DATA = Path(__file__).resolve().parent / "data"


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_structures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzzer():
    assert SCRIPT.exists(), f"{SCRIPT} is the fuzzer these tests run"
    return load_fuzzer()


def test_fuzz_a_few_hundred_mutants(fuzzer):
    files = sorted(DATA.glob("*.pdb.gz"))
    result = fuzzer.run(files, cases=300, seed=20240531)
    assert result["failures"] == []
    assert result["parsed"] + result["errors"] == 300
    assert result["parsed"] > 20 and result["errors"] > 100  # both outcomes are exercised


def test_every_mutation_changes_its_input(fuzzer):
    import random

    seed = fuzzer.renderings(DATA / "1LVE.pdb.gz")[0]
    rng = random.Random(1)
    for name, mutation in fuzzer.MUTATIONS.items():
        assert any(mutation(seed, rng) != seed for _ in range(5)), name


@pytest.mark.slow
def test_fuzz_ten_thousand_mutants(fuzzer, capsys):
    files = sorted(DATA.glob("*.pdb.gz"))
    result = fuzzer.run(files, cases=10_000, seed=0)
    with capsys.disabled():
        print(
            f"\nfuzz: {result['cases']} cases, {result['parsed']} parsed, {result['errors']} ProtsteerError"
        )
    assert result["failures"] == []
