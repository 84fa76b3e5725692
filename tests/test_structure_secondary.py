"""Secondary structure from CA geometry: ideal helices and sheets, unpaired extended chains, chain breaks,
missing CAs, a real beta sandwich, and the helix/strand/coil voxel channels built on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protsteer.errors import ProtsteerError
from protsteer.structure import COIL, HELIX, STRAND, ca_secondary_structure, read_structure
from protsteer.structure.secondary import structure_secondary_structure
from protsteer.tasks.cath.atoms import atoms_from_names
from protsteer.voxel import VoxelSpec, domain_environment, residue_environments

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "1TEN.pdb.gz"
SS_CHANNELS = ("CA:helix", "CA:strand", "CA:coil")


def ideal_helix(n: int) -> np.ndarray:
    """Alpha-helix CA trace: radius 2.3 A, 100 degrees and 1.5 A rise per residue."""
    turn = np.deg2rad(100.0) * np.arange(n)
    return np.stack([2.3 * np.cos(turn), 2.3 * np.sin(turn), 1.5 * np.arange(n)], axis=1)


def extended(n: int, offset: float = 0.0) -> np.ndarray:
    """Extended (beta) CA trace along x: 3.3 A per residue, zigzag of +-0.9 A, at z = offset."""
    i = np.arange(n)
    return np.stack([3.3 * i, 0.9 * (-1.0) ** i, np.full(n, offset)], axis=1)


def test_ideal_helix_is_helix():
    assert (ca_secondary_structure(ideal_helix(12)) == HELIX).all()


def test_paired_extended_chains_are_strands_and_a_lone_one_is_coil():
    sheet = np.concatenate([extended(8), extended(8, offset=4.8)[::-1]])
    segment = np.array(["A"] * 8 + ["B"] * 8)
    assert (ca_secondary_structure(sheet, segment) == STRAND).all()
    assert (ca_secondary_structure(extended(8)) == COIL).all()  # extended but unpaired


def test_chain_breaks_and_missing_cas_end_windows():
    helix = ideal_helix(12)
    broken = helix.copy()
    broken[6:] += [0.0, 0.0, 20.0]  # a gap after residue 5: two runs of 6, each still helical
    assert (ca_secondary_structure(broken) == HELIX).all()
    short = helix.copy()
    short[4] = np.nan  # runs of 4 and 7: the short one has no full window
    states = ca_secondary_structure(short)
    assert (states[:5] == COIL).all() and (states[5:] == HELIX).all()
    labels = np.array(["A"] * 3 + ["B"] * 9)  # a chain boundary splits the windows too
    assert (ca_secondary_structure(helix, labels)[:3] == COIL).all()
    assert (ca_secondary_structure(helix[:4]) == COIL).all()


def test_beta_sandwich_is_mostly_strand():
    structure = read_structure(EXAMPLE)  # tenascin FN3 domain, CATH 2.60
    states = structure_secondary_structure(structure)
    assert len(states) == structure.n_residues
    assert (states == STRAND).mean() > 0.4
    assert (states == HELIX).mean() < 0.1


def test_secondary_structure_channels_split_the_ca_channel():
    structure = read_structure(EXAMPLE)
    ca_only = VoxelSpec(box_size=73.5, voxel_size=3.5, sigma=1.75, channels=("CA",))
    split = VoxelSpec(box_size=73.5, voxel_size=3.5, sigma=1.75, channels=SS_CHANNELS)
    assert split.uses_secondary_structure and not ca_only.uses_secondary_structure
    whole = domain_environment(structure, ca_only).voxelize()
    parts = domain_environment(structure, split).voxelize()
    assert parts.shape[1] == 3
    assert np.allclose(parts.sum(dim=1).numpy(), whole[:, 0].numpy(), atol=1e-5)
    states = structure_secondary_structure(structure)
    counts = np.bincount(domain_environment(structure, split).channel, minlength=3)
    assert counts.tolist() == [(states == HELIX).sum(), (states == STRAND).sum(), (states == COIL).sum()]


def test_ca_only_positions_get_the_same_channels():
    coords, channel, _ = atoms_from_names(
        ideal_helix(10), np.array(["CA"] * 10), VoxelSpec(channels=SS_CHANNELS)
    )
    assert len(coords) == 10 and (channel == 0).all()  # all in CA:helix


def test_residue_environments_reject_secondary_structure_channels():
    structure = read_structure(EXAMPLE)
    with pytest.raises(ProtsteerError, match="needs secondary structure"):
        residue_environments(structure, VoxelSpec(channels=("C", "CA:helix")))
