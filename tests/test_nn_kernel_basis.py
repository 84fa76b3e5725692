"""The analytic steerable kernel basis: dimension counts, orthonormality, exact cube equivariance, caching."""

from __future__ import annotations

import pytest
import torch

from protsteer.nn import FieldType, SteerableConv3d, basis_orders, kernel_basis
from protsteer.so3 import cube_rotations, rotate_grid, wigner_D


@pytest.mark.parametrize(
    ("l_in", "l_out", "kernel_size", "band_limit", "expected"),
    [
        # shells 0, 1, 2 admit J <= 0, 3, 5 (compromise) or J <= 0, 2, 4 (conservative)
        (0, 0, 5, "compromise", 3),  # J = 0 on every shell
        (1, 1, 5, "compromise", 1 + 3 + 3),  # J in 0..2
        (1, 1, 5, "conservative", 1 + 3 + 3),
        (2, 2, 5, "compromise", 1 + 4 + 5),  # J in 0..4, limited to 3 on shell 1
        (2, 2, 5, "conservative", 1 + 3 + 5),
        (0, 3, 3, "compromise", 1),  # J = 3 only, only on shell 1
        (0, 3, 3, "conservative", 0),
        (1, 2, 1, "compromise", 0),  # the centre voxel admits only J = 0
        (3, 3, 7, "compromise", 1 + 4 + 6 + 7),
    ],
)
def test_basis_size_matches_formula(l_in, l_out, kernel_size, band_limit, expected):
    assert len(basis_orders(l_in, l_out, kernel_size, band_limit)) == expected
    basis = kernel_basis(l_in, l_out, kernel_size, band_limit, dtype=torch.float64)
    assert basis.shape == (expected, 2 * l_out + 1, 2 * l_in + 1, kernel_size, kernel_size, kernel_size)


@pytest.mark.parametrize(("l_in", "l_out"), [(0, 0), (1, 0), (0, 2), (1, 1), (2, 1), (2, 3), (3, 3)])
@pytest.mark.parametrize("band_limit", ["compromise", "conservative"])
def test_basis_is_orthonormal(l_in, l_out, band_limit):
    basis = kernel_basis(l_in, l_out, 5, band_limit, dtype=torch.float64)
    flat = basis.reshape(basis.shape[0], -1)
    assert torch.allclose(flat @ flat.T, torch.eye(basis.shape[0], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize(("l_in", "l_out"), [(0, 1), (1, 1), (2, 1), (1, 3), (3, 2)])
def test_basis_elements_are_exactly_steerable_on_the_cube(l_in, l_out):
    """K(R x) = D_out(R) K(x) D_in(R)^T on the 24 cube rotations, i.e. rotate_grid(K) = D_out^T K D_in."""
    basis = kernel_basis(l_in, l_out, 5, dtype=torch.float64)
    for R in cube_rotations():
        moved = rotate_grid(basis, R)  # value at x is K(R^-1 x)
        expected = torch.einsum("ac,nab...,bd->ncd...", wigner_D(l_out, R), basis, wigner_D(l_in, R))
        assert (moved - expected).abs().max() < 1e-12
    # control: the same check with the inverse rotation on the fibers fails (the test can fail)
    R = next(R for R in cube_rotations() if not torch.equal(R, R.T))  # a 90 degree rotation
    wrong = torch.einsum("ac,nab...,bd->ncd...", wigner_D(l_out, R.T), basis, wigner_D(l_in, R.T))
    assert (rotate_grid(basis, R) - wrong).abs().max() > 1e-3


def test_bases_are_shared_between_layers():
    a = SteerableConv3d(FieldType([2, 2, 1]), FieldType([1, 1, 1]), 5)
    b = SteerableConv3d(FieldType([3, 1, 2]), FieldType([2, 2, 2]), 5)
    assert a.basis_2_1.data_ptr() == b.basis_2_1.data_ptr()
    assert kernel_basis(1, 2, 5).data_ptr() == a.basis_2_1.data_ptr()


def test_ten_layer_construction_samples_each_basis_once():
    """A 10-layer stack with fields up to l = 3 samples each (l_in, l_out) basis once; the layers share it
    (the construction time itself is measured in benchmarks/layer_speed.py, not here)."""
    from protsteer.nn import basis as basis_module

    basis_module.clear_basis_cache()
    types = [FieldType([4, 4, 4, 4])] * 11
    layers = [SteerableConv3d(a, b, 5) for a, b in zip(types[:-1], types[1:], strict=True)]
    info = basis_module._cached_basis.cache_info()
    # the 4 x 4 order pairs, sampled once each in float64 and stored once more as float32
    assert len(layers) == 10 and info.misses == info.currsize == 2 * 16
    assert info.hits == 9 * 16  # every later layer reuses them
    assert layers[0].basis_3_3.data_ptr() == layers[9].basis_3_3.data_ptr()


def test_even_kernel_size_rejected():
    with pytest.raises(ValueError, match="odd"):
        kernel_basis(1, 1, 4)


@pytest.mark.parametrize(("l_in", "l_out"), [(1, 1), (2, 2), (1, 2), (3, 3)])
def test_basis_has_no_rounding_noise_or_subnormal_entries(l_in, l_out):
    """Entries that are zero by symmetry are exactly zero: as float32, noise would be subnormal (slow)."""
    basis64 = kernel_basis(l_in, l_out, 5, "compromise", dtype=torch.float64).abs()
    nonzero = basis64[basis64 > 0]
    assert float(nonzero.min()) > 1e-8 * float(basis64.max())
    basis32 = kernel_basis(l_in, l_out, 5, "compromise").abs()
    assert not bool(((basis32 > 0) & (basis32 < torch.finfo(torch.float32).tiny)).any())
