"""CATH network invariance on the 24 cube rotations, domain grids and segment selection on real files."""

from __future__ import annotations

import numpy as np
import torch

from protsteer.networks import build_network
from protsteer.so3 import cube_rotations, rotate_grid
from protsteer.structure import read_structure
from protsteer.tasks.cath.atoms import domain_mask, structure_atoms
from protsteer.tasks.cath.task import CATH_PLAIN, CATH_SPEC, CATH_STEERABLE, collate_domains, domain_grids

LYSOZYME = "structures/acdc_ddg/107l.pdb.gz"  # T4 lysozyme, CATH 1swyA00 (1.10), chain A 1-162


def _domain_grid(shared_subset) -> torch.Tensor:
    structure = read_structure(shared_subset / LYSOZYME)
    coords, channel, n_residues, _ = structure_atoms(structure, CATH_SPEC, "A:1-162")
    assert n_residues == 162 and len(coords) == 162  # one CA entry per residue
    np.testing.assert_allclose(coords.mean(axis=0), 0, atol=1e-4)  # centred on the CA centroid
    batch = collate_domains([(coords, channel, 0)])
    return domain_grids(batch, CATH_SPEC, torch.device("cpu"), None)


def test_steerable_cath_net_is_invariant_to_the_24_cube_rotations(shared_subset):
    grid = _domain_grid(shared_subset)
    assert grid.shape == (1, 3, 21, 21, 21) and grid.sum() > 0  # CA split into helix / strand / coil
    rotated = torch.cat([rotate_grid(grid, R) for R in cube_rotations()])
    assert not torch.allclose(rotated[0], rotated[5])  # the rotations do move the domain
    # train mode (batch statistics; at initialisation eval-mode outputs barely depend on the input)
    steerable = build_network({**CATH_STEERABLE, "in_channels": 3, "n_outputs": 10, "dropout": 0.0}).train()
    plain = build_network({**CATH_PLAIN, "in_channels": 3, "n_outputs": 10, "dropout": 0.0}).train()
    with torch.no_grad():
        logits = steerable(rotated)
        plain_logits = plain(rotated)
    assert (logits - logits[0]).abs().max() <= 1e-4 * logits.abs().max()
    # control: the plain CNN is not invariant, so the comparison above can fail
    assert (plain_logits - plain_logits[0]).abs().max() > 1e-2 * plain_logits.abs().max()


def test_segments_with_insertion_codes_and_blank_chain(shared_subset):
    # DB5.5 unbound files have a blank chain id; domains.tsv writes it as "_"
    structure = read_structure(shared_subset / "structures/db55/1E96_r_u.pdb.gz")
    residues = structure.residues
    assert set(residues.chain.tolist()) == {""}
    # the file starts 1A, 2A, 1, 2, ..., 181: a range runs in file order from its first address
    mask = domain_mask(structure, "_:1A-181")
    first = np.flatnonzero(mask)[0]
    assert mask.sum() == 183 and (residues.resseq[first], residues.icode[first]) == (1, "A")
    without_code = domain_mask(structure, "_:1-181")
    assert without_code.sum() == 181 and not without_code[:2].any()
    assert domain_mask(structure, "_:2A-181").sum() == 182
    whole = domain_mask(structure, chain="_")
    assert whole.sum() == len(residues) and (mask <= whole).all()


def test_segments_select_insertion_code_ranges(shared_subset):
    import gzip

    text = gzip.decompress((shared_subset / LYSOZYME).read_bytes()).decode()
    lines = [line for line in text.splitlines() if line.startswith("ATOM")]
    # renumber residues 10..12 of chain A as 9A, 9B, 9C (insertion codes)
    renumbered = []
    for line in lines:
        resseq = int(line[22:26])
        if 10 <= resseq <= 12:
            line = f"{line[:22]}{9:4d}{'ABC'[resseq - 10]}{line[27:]}"
        renumbered.append(line)
    structure = read_structure(("\n".join(renumbered) + "\nEND\n").encode())
    mask = domain_mask(structure, "A:9A-9C")
    assert mask.sum() == 3 and list(structure.residues.icode[mask]) == ["A", "B", "C"]
    two_segments = domain_mask(structure, "A:1-9B,A:100-110")
    assert two_segments.sum() == 11 + 11  # 1..8, 9, 9A, 9B (file order), then 100..110
