"""Pseudo-scalar (chirality) invariants: rotation-invariant, odd under reflections, zero for mirror-symmetric
inputs, and they tell the two mirror-image Tetris pieces apart under continuous rotations."""

from __future__ import annotations

import pytest
import torch

from protsteer.networks.tetris import TETRIS_SHAPES, tetris_grids
from protsteer.nn import PseudoscalarInvariants
from protsteer.nn.pseudoscalar import shell_direction_kernels
from protsteer.so3 import cube_rotations, random_rotations, rotate_grid


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_exactly_invariant_on_the_24_cube_rotations(dtype, tolerance):
    module = PseudoscalarInvariants([1, 2, 3, 4])
    x = torch.rand(3, 2, 11, 11, 11, dtype=dtype)
    reference = module(x)
    assert reference.shape == (3, 4) and reference.dtype == dtype
    assert bool((reference.abs() <= 1).all()) and float(reference.abs().max()) > 1e-3
    for R in cube_rotations():
        assert float((module(rotate_grid(x, R.to(dtype))) - reference).abs().max()) <= tolerance


def test_a_reflection_negates_the_invariants_and_a_symmetric_input_gives_zero():
    module = PseudoscalarInvariants([1, 2, 3, 4])
    x = torch.rand(3, 2, 11, 11, 11, dtype=torch.float64)
    reference = module(x)
    for axis in (2, 3, 4):
        assert torch.allclose(module(x.flip(axis)), -reference, rtol=0, atol=1e-12)
    symmetric = x + x.flip(4)  # mirror-symmetric about the plane z = centre
    assert float(module(symmetric).abs().max()) < 1e-12


def test_shell_kernels_point_outwards_at_their_radius():
    kernels = shell_direction_kernels([2.0, 3.0], width=0.5)  # [2, 3, k, k, k]
    centre = kernels.shape[-1] // 2
    assert kernels.shape[:2] == (2, 3)
    # the x component along the +x axis peaks at distance 2 for the first shell, 3 for the second
    along_x = kernels[:, 0, centre:, centre, centre]
    assert along_x.argmax(dim=1).tolist() == [2, 3]
    assert torch.allclose(kernels.flatten(1).norm(dim=1), torch.ones(2, dtype=torch.float64))


def test_bad_radii_are_rejected():
    with pytest.raises(ValueError, match="three positive shell radii"):
        PseudoscalarInvariants([2, 3])


def test_the_tetris_mirror_pair_has_opposite_invariants_under_continuous_rotations():
    module = PseudoscalarInvariants([2, 3, 4, 5, 6])
    rotations = random_rotations(6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grids, labels = tetris_grids(rotations, grid_size=21, unit=3.0, sigma=1.2)
    values = module(grids)
    names = list(TETRIS_SHAPES)
    left = values[labels == names.index("chiral_left")]
    right = values[labels == names.index("chiral_right")]
    others = values[(labels != names.index("chiral_left")) & (labels != names.index("chiral_right"))]
    scale = left.abs().mean()
    # one sign per hand in every orientation, the opposite one for the mirror image, achiral shapes near 0
    assert bool((left < 0).all() or (left > 0).all())
    assert float(((left + right.mean(dim=0)).abs() / scale).max()) < 0.05
    assert float((others.abs() / scale).max()) < 0.05
