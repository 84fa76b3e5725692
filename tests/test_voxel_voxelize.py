"""The batched voxelizer against a naive per-atom reference, and its exact behaviour under cube rotations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from protsteer.errors import ProtsteerError
from protsteer.so3 import cube_rotations, random_rotations, rotate_grid, rotation_matrix
from protsteer.voxel import VoxelSpec, voxelize


def naive_voxelize(coords, channels, env_index, n_env, spec, untruncated=False):
    """Per atom, per voxel: the definition of the density, written as plainly as possible (float64)."""
    size = spec.grid_size
    centres = spec.voxel_centres()
    grid = np.zeros((n_env, spec.n_channels, size, size, size))
    for (x, y, z), channel, env in zip(coords.tolist(), channels.tolist(), env_index.tolist(), strict=True):
        for i in range(size):
            for j in range(size):
                for k in range(size):
                    d = (centres[i] - x, centres[j] - y, centres[k] - z)
                    if not untruncated and max(abs(v) for v in d) > spec.cutoff:
                        continue
                    grid[env, channel, i, j, k] += math.exp(-sum(v * v for v in d) / (2 * spec.sigma**2))
    return grid


def random_atoms(rng, n_atoms, n_env, spec, spread):
    coords = rng.uniform(-spread, spread, size=(n_atoms, 3)).astype(np.float32)
    channels = rng.integers(0, spec.n_channels, size=n_atoms)
    env_index = np.sort(rng.integers(0, n_env, size=n_atoms))
    return coords, channels, env_index


@pytest.mark.parametrize(
    "spec",
    [
        VoxelSpec(box_size=7.0, voxel_size=1.0, sigma=0.75, channels=("C", "N")),
        VoxelSpec(box_size=6.0, voxel_size=1.5, sigma=1.1, channels=("C", "N", "O"), truncation=2.5),
        VoxelSpec(box_size=8.0, voxel_size=1.0, sigma=0.5, channels=("all",)),
    ],
)
def test_matches_naive_reference_on_random_atoms(spec):
    rng = np.random.default_rng(1)
    coords, channels, env_index = random_atoms(rng, 40, 3, spec, spread=spec.box_size / 2 + spec.cutoff + 1)
    got = voxelize(coords, channels, env_index, 3, spec)
    assert got.shape == (3, spec.n_channels, spec.grid_size, spec.grid_size, spec.grid_size)
    assert got.dtype == torch.float32
    expected = naive_voxelize(coords, channels, env_index, 3, spec)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    # truncation error is bounded by the Gaussian's value at the cutoff, per atom
    full = naive_voxelize(coords, channels, env_index, 3, spec, untruncated=True)
    assert np.abs(full - got.numpy()).max() <= 40 * math.exp(-0.5 * spec.truncation**2)


def test_empty_inputs_and_environment_without_atoms():
    spec = VoxelSpec(box_size=5.0, channels=("C",))
    empty = voxelize(np.zeros((0, 3), np.float32), np.zeros(0, int), np.zeros(0, int), 2, spec)
    assert empty.shape == (2, 1, 5, 5, 5) and empty.abs().sum() == 0
    one = voxelize(np.zeros((1, 3), np.float32), np.zeros(1, int), np.ones(1, int), 3, spec)
    assert one[0].sum() == 0 and one[2].sum() == 0 and one[1, 0, 2, 2, 2] == pytest.approx(1.0)


def test_atoms_far_outside_add_nothing():
    spec = VoxelSpec(box_size=5.0, channels=("C",))
    far = np.array([[100.0, 0, 0], [0, -3.0 - spec.cutoff - 0.01, 0]], np.float32)
    assert voxelize(far, np.zeros(2, int), np.zeros(2, int), 1, spec).abs().sum() == 0


@pytest.mark.parametrize("grid_edge", [7.0, 8.0])  # odd and even grid sizes
def test_cube_rotations_of_atoms_equal_rotated_grids(grid_edge):
    spec = VoxelSpec(box_size=grid_edge, voxel_size=1.0, sigma=0.8, channels=("C", "N"))
    rng = np.random.default_rng(2)
    coords, channels, env_index = random_atoms(rng, 60, 2, spec, spread=5.0)
    grid = voxelize(coords, channels, env_index, 2, spec)
    for rotation in cube_rotations().float():
        moved = voxelize(coords @ rotation.numpy().T, channels, env_index, 2, spec)
        torch.testing.assert_close(moved, rotate_grid(grid, rotation), rtol=1e-5, atol=1e-5)


def test_quarter_turn_about_z_is_torch_rot90():
    spec = VoxelSpec(box_size=9.0, sigma=0.75, channels=("C",))
    rng = np.random.default_rng(3)
    coords, channels, env_index = random_atoms(rng, 30, 1, spec, spread=4.0)
    quarter = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], np.float32)  # +90 degrees about z
    grid = voxelize(coords, channels, env_index, 1, spec)
    moved = voxelize(coords @ quarter.T, channels, env_index, 1, spec)
    torch.testing.assert_close(moved, torch.rot90(grid, 1, (-3, -2)), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(moved, grid)  # the test can fail


def test_rotations_argument_rotates_each_environment_about_the_centre():
    spec = VoxelSpec(box_size=9.0, channels=("C", "O"))
    rng = np.random.default_rng(4)
    coords, channels, env_index = random_atoms(rng, 50, 3, spec, spread=4.0)
    rotations = torch.stack([random_rotations(1)[0], rotation_matrix([1.0, 2.0, 3.0], 0.7), torch.eye(3)])
    got = voxelize(torch.from_numpy(coords), channels, env_index, 3, spec, rotations=rotations)
    manual = np.einsum("mij,mj->mi", rotations.numpy()[env_index], coords)
    torch.testing.assert_close(got, voxelize(manual, channels, env_index, 3, spec), rtol=1e-5, atol=1e-5)
    with pytest.raises(ProtsteerError, match="rotations must be"):
        voxelize(coords, channels, env_index, 3, spec, rotations=torch.eye(3)[None])


def test_large_batch_is_chunked_consistently(monkeypatch):
    import protsteer.voxel.voxelizer as module

    spec = VoxelSpec(box_size=11.0, channels=("C", "N", "O"))
    rng = np.random.default_rng(5)
    coords, channels, env_index = random_atoms(rng, 5000, 20, spec, spread=7.0)
    whole = voxelize(coords, channels, env_index, 20, spec)
    monkeypatch.setattr(module, "ATOM_CHUNK", 333)
    torch.testing.assert_close(voxelize(coords, channels, env_index, 20, spec), whole, rtol=1e-5, atol=1e-5)


def test_voxel_spec_geometry_and_validation():
    spec = VoxelSpec()
    assert spec.grid_size == 21 and spec.n_channels == 5 and spec.voxel_centres()[10] == 0.0
    assert VoxelSpec.from_dict(spec.to_dict()) == spec
    assert VoxelSpec(box_size=100.0, voxel_size=2.0).grid_size == 50
    for bad in (
        {"box_size": 10.5},
        {"sigma": 0},
        {"channels": ("C", "Q")},
        {"channels": ()},
        {"channels": ("C", "C")},
        {"channels": ("C:nowhere",)},
    ):
        with pytest.raises(ProtsteerError):
            VoxelSpec(**bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    spec = VoxelSpec()
    rng = np.random.default_rng(6)
    coords, channels, env_index = random_atoms(rng, 20000, 64, spec, spread=12.0)
    rotations = random_rotations(64)
    cpu = voxelize(coords, channels, env_index, 64, spec, rotations=rotations)
    gpu = voxelize(torch.from_numpy(coords).cuda(), channels, env_index, 64, spec, rotations=rotations)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


def test_invalid_entries_add_nothing():
    spec = VoxelSpec(box_size=5.0, channels=("C",))
    coords = np.array([[np.nan, 0, 0], [np.inf, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32)
    channels, envs = np.array([0, 0, 0, 1, 0]), np.array([0, 0, 0, 0, 5])
    grid = voxelize(coords, channels, envs, 1, spec)
    single = voxelize(coords[2:3], channels[2:3], envs[2:3], 1, spec)
    assert torch.isfinite(grid).all() and torch.equal(grid, single)
