"""Rotations: the cube group, Haar-random rotations, axis-angle matrices, exact grid rotation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from protsteer.so3 import cube_rotations, quaternion_to_matrix, random_rotations, rotate_grid, rotation_matrix

X, Y, Z = torch.eye(3, dtype=torch.float64)
QUARTER_TURN_Z = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def assert_rotations(matrices: torch.Tensor, tolerance: float) -> None:
    gram = matrices @ matrices.transpose(-1, -2)
    torch.testing.assert_close(
        gram, torch.eye(3, dtype=matrices.dtype).expand_as(gram), atol=tolerance, rtol=0
    )
    torch.testing.assert_close(
        torch.linalg.det(matrices),
        torch.ones(matrices.shape[:-2], dtype=matrices.dtype),
        atol=tolerance,
        rtol=0,
    )


def test_cube_rotations_form_the_octahedral_group():
    rotations = cube_rotations()
    assert rotations.shape == (24, 3, 3) and rotations.dtype == torch.float64
    assert torch.equal(rotations[0], torch.eye(3, dtype=torch.float64))
    assert_rotations(rotations, 0.0)
    assert set(rotations.abs().sum(-1).flatten().tolist()) == {1.0}
    keys = {tuple(matrix.flatten().tolist()) for matrix in rotations}
    assert len(keys) == 24
    for first, second in itertools.product(rotations, repeat=2):
        assert tuple((first @ second).flatten().tolist()) in keys
    assert torch.equal(cube_rotations(), rotations)  # deterministic order


def test_cube_rotations_returns_a_copy():
    cube_rotations().zero_()
    assert torch.equal(cube_rotations()[0], torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_rotations_are_rotations(dtype):
    rotations = random_rotations(100, dtype=dtype)
    assert rotations.shape == (100, 3, 3) and rotations.dtype == dtype
    assert_rotations(rotations, 1e-6 if dtype == torch.float32 else 1e-12)


def test_random_rotations_generator_is_reproducible():
    first = random_rotations(5, generator=torch.Generator().manual_seed(3))
    second = random_rotations(5, generator=torch.Generator().manual_seed(3))
    third = random_rotations(5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, second)
    assert not torch.allclose(first, third)


def test_random_rotations_are_haar_distributed():
    """Haar moments: E[R] = 0, E[R_ij^2] = 1/3; the rotation angle has density (1 - cos a) / pi."""
    rotations = random_rotations(20000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert rotations.mean(0).abs().max() < 0.02
    torch.testing.assert_close((rotations**2).mean(0), torch.full((3, 3), 1 / 3).double(), atol=0.02, rtol=0)
    angles = torch.arccos(((rotations.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    # CDF of the angle: (a - sin a) / pi; half the mass lies below the root of a - sin a = pi / 2.
    median = 2.3098814600100575
    assert abs(float((angles < median).double().mean()) - 0.5) < 0.02
    assert abs(median - math.sin(median) - math.pi / 2) < 1e-12


def test_quaternion_to_matrix_ignores_length_and_sign():
    quaternions = torch.randn(10, 4, dtype=torch.float64)
    torch.testing.assert_close(quaternion_to_matrix(3 * quaternions), quaternion_to_matrix(quaternions))
    torch.testing.assert_close(quaternion_to_matrix(-quaternions), quaternion_to_matrix(quaternions))


def test_rotation_matrix_is_right_handed():
    torch.testing.assert_close(rotation_matrix(Z, math.pi / 2) @ X, Y)
    torch.testing.assert_close(rotation_matrix(X, math.pi / 2) @ Y, Z)
    torch.testing.assert_close(rotation_matrix(Y, math.pi / 2) @ Z, X)
    torch.testing.assert_close(rotation_matrix([0, 0, 5], math.pi / 2), QUARTER_TURN_Z)


def test_rotation_matrix_properties():
    axes = torch.randn(20, 3, dtype=torch.float64)
    angles = torch.rand(20, dtype=torch.float64) * 2 * math.pi
    rotations = rotation_matrix(axes, angles)
    assert rotations.shape == (20, 3, 3)
    assert_rotations(rotations, 1e-12)
    torch.testing.assert_close(torch.einsum("rij,rj->ri", rotations, axes), axes)  # the axis is fixed
    traces = rotations.diagonal(dim1=-2, dim2=-1).sum(-1)
    torch.testing.assert_close(traces, 1 + 2 * torch.cos(angles))
    torch.testing.assert_close(rotation_matrix(axes, -angles), rotations.transpose(-1, -2))
    assert rotation_matrix(torch.tensor([0.0, 0.0, 1.0]), 0.3).dtype == torch.float32
    with pytest.raises(ValueError):
        rotation_matrix([0, 0, 0], 1.0)


@pytest.mark.parametrize("shape", [(5, 5, 5), (2, 4, 5, 6, 7), (3, 1, 4, 4, 4)])
def test_rotate_grid_quarter_turn_is_rot90(shape):
    grid = torch.randn(shape)
    assert torch.equal(rotate_grid(grid, QUARTER_TURN_Z), torch.rot90(grid, 1, (-3, -2)))
    quarter_turn_x = rotation_matrix(X, math.pi / 2)
    assert torch.equal(rotate_grid(grid, quarter_turn_x), torch.rot90(grid, 1, (-2, -1)))


@pytest.mark.parametrize("shape", [(5, 5, 5), (4, 6, 7)])
def test_rotate_grid_moves_voxels_by_the_formula(shape):
    """out[R (i - c) + c] = in[i] for every voxel i and every cube rotation R."""
    grid = torch.randn(shape, dtype=torch.float64)
    sizes = torch.tensor(shape, dtype=torch.float64)
    centre_in = (sizes - 1) / 2
    indices = torch.cartesian_prod(*(torch.arange(n) for n in shape)).double()
    for rotation in cube_rotations():
        out = rotate_grid(grid, rotation)
        centre_out = (torch.tensor(out.shape, dtype=torch.float64) - 1) / 2
        targets = (indices - centre_in) @ rotation.T + centre_out
        assert torch.equal(targets, targets.round())
        targets = targets.long()
        assert torch.equal(out[targets[:, 0], targets[:, 1], targets[:, 2]], grid.flatten())


def test_rotate_grid_composes():
    grid = torch.randn(2, 3, 4, 5, 6)
    rotations = cube_rotations()
    for first, second in itertools.product(rotations[::5], rotations[::3]):
        assert torch.equal(rotate_grid(rotate_grid(grid, first), second), rotate_grid(grid, second @ first))


def test_rotate_grid_rejects_other_rotations():
    grid = torch.randn(4, 4, 4)
    with pytest.raises(ValueError):
        rotate_grid(grid, rotation_matrix(Z, 0.3))
    with pytest.raises(ValueError):
        rotate_grid(grid, -torch.eye(3))  # a reflection
    with pytest.raises(ValueError):
        rotate_grid(grid, cube_rotations()[:2])
    with pytest.raises(ValueError):
        rotate_grid(torch.randn(4, 4), torch.eye(3))


def test_rotate_grid_returns_new_tensor():
    grid = torch.randn(3, 3, 3)
    out = rotate_grid(grid, torch.eye(3))
    out.zero_()
    assert grid.abs().sum() > 0
