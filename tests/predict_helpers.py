"""Helpers for the predict / scan / batch tests: a tiny random propensity network saved through
``save_weights`` (never shipped), small real structures cut from ``examples/1TEN.pdb.gz``, corrupt files,
and an in-process CLI runner."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import gemmi
import torch

from protsteer.cli import main
from protsteer.io.weights import save_weights
from protsteer.networks import build_network
from protsteer.structure import AMINO_ACIDS, ReadPolicy
from protsteer.voxel import VoxelSpec

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "1TEN.pdb.gz"

#: a 9^3 grid keeps the tiny network fast; the real model uses 21^3
TINY_SPEC = VoxelSpec(box_size=9.0, voxel_size=1.0)


def tiny_weights(path: Path, arch: str = "steerable", seed: int = 0) -> Path:
    """A randomly initialised tiny propensity network saved as a weights file (for tests only)."""
    torch.manual_seed(seed)
    model = build_network(
        {"arch": arch, "in_channels": TINY_SPEC.n_channels, "n_outputs": 20, "preset": "tiny"}
    )
    model.eval()
    save_weights(
        path,
        network_config=model.config,
        state_dict=model.state_dict(),
        task="propensity",
        labels=list(AMINO_ACIDS),
        voxel_spec=TINY_SPEC.to_dict(),
        read_policy=ReadPolicy().to_dict(),
        metadata={"note": "random test network, not trained"},
    )
    return path


def _atom_lines(first: int, last: int) -> list[str]:
    lines = gzip.open(EXAMPLE, "rt").read().splitlines()
    return [line for line in lines if line.startswith("ATOM") and first <= int(line[22:26]) <= last]


def write_valid_structures(directory: Path) -> list[Path]:
    """Three different small structures: the example (gzip PDB), a PDB slice, an mmCIF slice."""
    directory.mkdir(parents=True, exist_ok=True)
    whole = directory / "tenascin.pdb.gz"
    whole.write_bytes(EXAMPLE.read_bytes())
    head = directory / "head.pdb"
    head.write_text("\n".join(_atom_lines(802, 830)) + "\nEND\n")
    tail_pdb = "\n".join(_atom_lines(850, 880)) + "\nEND\n"
    structure = gemmi.read_pdb_string(tail_pdb)
    structure.setup_entities()
    tail = directory / "tail.cif"
    tail.write_text(structure.make_mmcif_document().as_string())
    return [whole, head, tail]


def write_corrupt_structures(directory: Path) -> list[Path]:
    """Empty, binary and truncated-gzip structure files."""
    directory.mkdir(parents=True, exist_ok=True)
    empty = directory / "empty.pdb"
    empty.write_bytes(b"")
    binary = directory / "binary.cif"
    binary.write_bytes(bytes(range(256)) * 8)
    truncated = directory / "truncated.pdb.gz"
    truncated.write_bytes(EXAMPLE.read_bytes()[:4000])
    return [empty, binary, truncated]


def run_cli(*args: str | Path) -> int:
    """Run ``protsteer ARGS`` in this process; returns the exit code."""
    try:
        main([str(arg) for arg in args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        logging.getLogger("protsteer").handlers.clear()
    return 0
