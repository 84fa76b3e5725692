"""Fuzz ``read_structure`` with mutated real files: it must return a consistent structure or raise
``ProtsteerError``, never anything else.

Mutations (seeded, reproducible): truncation, byte flips, byte insertions/deletions, line shuffles, line
drops/duplicates, column-shifted lines, numeric field garbage, gzip wrapping of the mutant, gzip corruption,
and the same on mmCIF / mmJSON renderings of the file (written with gemmi).

    python benchmarks/fuzz_structures.py --cases 10000 --seed 0        # prints the counts; exit 1 on a crash

``tests/test_structure_fuzz.py`` runs a few hundred cases of the same generator in the default test run.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import gemmi
import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure import ParsedStructure, ReadPolicy, read_structure

DEFAULT_FILES = sorted((Path(__file__).resolve().parent.parent / "tests" / "data").glob("*.pdb.gz"))


def renderings(path: Path) -> list[bytes]:
    """The file as plain PDB, as mmCIF and as mmJSON text (the seeds the mutations start from)."""
    pdb = gzip.decompress(path.read_bytes())
    structure = gemmi.read_pdb_string(pdb.decode("latin-1"))
    structure.setup_entities()
    document = structure.make_mmcif_document()
    return [pdb, document.as_string().encode(), document.as_json(mmjson=True).encode()]


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 3, 20, 200))):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _insert_delete(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 5, 50))):
        at = rng.randrange(len(out) + 1)
        if rng.random() < 0.5:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        else:
            del out[at : at + rng.randrange(1, 40)]
    return bytes(out)


def _shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    start = rng.randrange(len(lines))
    window = lines[start : start + rng.choice((5, 50, len(lines)))]
    rng.shuffle(window)
    return b"\n".join(lines[:start] + window + lines[start + len(window) :])


def _drop_duplicate_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    out = []
    for line in lines:
        roll = rng.random()
        if roll < 0.05:
            continue
        out.append(line)
        if roll > 0.97:
            out.append(line)
    return b"\n".join(out)


def _shift_columns(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    for _ in range(rng.choice((1, 10, 100))):
        i = rng.randrange(len(lines))
        lines[i] = (
            b" " * rng.randrange(1, 4) + lines[i] if rng.random() < 0.5 else lines[i][rng.randrange(1, 4) :]
        )
    return b"\n".join(lines)


def _garbage_numbers(data: bytes, rng: random.Random) -> bytes:
    tokens = [b"nan", b"inf", b"-inf", b"1e999", b"?", b".", b"-99999999", b"9" * 30, b"\xff\xfe", b""]
    lines = data.split(b"\n")
    for _ in range(rng.choice((1, 10, 100))):
        i = rng.randrange(len(lines))
        line = bytearray(lines[i])
        if len(line) > 54:
            start = rng.choice((22, 30, 38, 46, 54))
            line[start : start + 8] = rng.choice(tokens).rjust(8)[:8]
        else:
            words = bytes(line).split(b" ")
            words[rng.randrange(len(words))] = rng.choice(tokens)
            line = bytearray(b" ".join(words))
        lines[i] = bytes(line)
    return b"\n".join(lines)


def _corrupt_gzip(data: bytes, rng: random.Random) -> bytes:
    packed = bytearray(gzip.compress(data, compresslevel=1))
    if rng.random() < 0.5:
        return bytes(packed[: rng.randrange(2, len(packed))])
    for _ in range(rng.choice((1, 10))):
        packed[rng.randrange(10, len(packed))] = rng.randrange(256)
    return bytes(packed)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "truncate": _truncate,
    "flip_bytes": _flip_bytes,
    "insert_delete": _insert_delete,
    "shuffle_lines": _shuffle_lines,
    "drop_duplicate_lines": _drop_duplicate_lines,
    "shift_columns": _shift_columns,
    "garbage_numbers": _garbage_numbers,
    "corrupt_gzip": _corrupt_gzip,
}


def mutate(seeds: list[bytes], rng: random.Random) -> tuple[str, bytes]:
    """One mutant: ``(mutation names, bytes)``; sometimes two mutations, sometimes gzip-wrapped."""
    data = rng.choice(seeds)
    names = rng.sample(sorted(MUTATIONS), rng.choice((1, 1, 2)))
    for name in names:
        data = MUTATIONS[name](data, rng) if data else data
    if "corrupt_gzip" not in names and rng.random() < 0.15:
        data = gzip.compress(data, compresslevel=1)
        names.append("gzip")
    return "+".join(names), data


def check_consistent(parsed: ParsedStructure) -> None:
    """Invariants every successful read must satisfy (AssertionError otherwise)."""
    n, r = parsed.n_atoms, parsed.n_residues
    assert r > 0
    assert parsed.coords.shape == (n, 3) and parsed.coords.dtype == np.float32
    for array in (
        parsed.element,
        parsed.atom_name,
        parsed.residue_index,
        parsed.is_sidechain,
        parsed.atom_model,
    ):
        assert array.shape == (n,)
    assert parsed.residue_index.min() >= -1 and parsed.residue_index.max() < r
    assert parsed.backbone.shape == (r, 4, 3) and np.isfinite(parsed.backbone[:, 1]).all()
    assert np.isfinite(parsed.coords).all()
    for column in parsed.residues.to_columns().values():
        assert len(column) == r


def run(files: list[Path], cases: int, seed: int, policy: ReadPolicy | None = None) -> dict[str, object]:
    """Fuzz ``cases`` mutants; returns counts and the failures (mutation, exception) that are not
    ProtsteerError or that break :func:`check_consistent`."""
    rng = random.Random(seed)
    seeds = [data for path in files for data in renderings(path)]
    outcome: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []
    for _ in range(cases):
        name, data = mutate(seeds, rng)
        try:
            parsed = read_structure(data, policy or ReadPolicy(model="all"))
            check_consistent(parsed)
            outcome["parsed"] += 1
        except ProtsteerError as err:
            outcome["ProtsteerError"] += 1
            assert "\n" not in str(err)
        except Exception as err:  # noqa: BLE001 - the point of fuzzing: catch whatever escapes
            failures.append((name, f"{type(err).__name__}: {err}"[:300]))
    return {
        "cases": cases,
        "parsed": outcome["parsed"],
        "errors": outcome["ProtsteerError"],
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.files, args.cases, args.seed)
    seconds = time.perf_counter() - start
    print(
        f"fuzz: {result['cases']} cases from {len(args.files)} files (seed {args.seed}) in {seconds:.1f} s: "
        f"{result['parsed']} parsed, {result['errors']} ProtsteerError, {len(result['failures'])} crashes"
    )
    for name, message in result["failures"][:20]:
        print(f"  crash after {name}: {message}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
