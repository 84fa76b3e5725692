"""Real spherical harmonics: closed forms, orthonormality by quadrature, equivariance, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from protsteer.so3 import random_rotations, spherical_harmonics, wigner_D

ORDERS = range(9)


def sphere_quadrature(n_polar: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit points [P, 3] and weights [P] (Gauss-Legendre in cos(polar) x uniform azimuth), exact for
    polynomials of degree < 2 n_polar on the sphere."""
    nodes, weights = np.polynomial.legendre.leggauss(n_polar)
    n_azimuth = 2 * n_polar
    azimuth = torch.arange(n_azimuth, dtype=torch.float64) * (2 * math.pi / n_azimuth)
    cos_polar = torch.tensor(nodes)
    sin_polar = torch.sqrt(1 - cos_polar**2)
    points = torch.stack(
        [
            sin_polar[:, None] * azimuth.cos()[None],
            sin_polar[:, None] * azimuth.sin()[None],
            cos_polar[:, None].expand(n_polar, n_azimuth),
        ],
        dim=-1,
    ).reshape(-1, 3)
    point_weights = (torch.tensor(weights)[:, None] * (2 * math.pi / n_azimuth)).expand(n_polar, n_azimuth)
    return points, point_weights.reshape(-1)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_orthonormal_on_the_sphere(dtype, tolerance):
    points, weights = sphere_quadrature()
    for l in ORDERS:
        values = spherical_harmonics(l, points.to(dtype)).double()
        gram = values.T @ (weights[:, None] * values)
        torch.testing.assert_close(gram, torch.eye(2 * l + 1, dtype=torch.float64), atol=tolerance, rtol=0)


def test_different_orders_are_orthogonal():
    points, weights = sphere_quadrature()
    for l1 in range(5):
        for l2 in range(l1 + 1, 5):
            cross = spherical_harmonics(l1, points).T @ (weights[:, None] * spherical_harmonics(l2, points))
            assert cross.abs().max() < 1e-12


def test_order_one_is_cartesian():
    vectors = torch.randn(50, 3, dtype=torch.float64)
    unit = vectors / vectors.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(spherical_harmonics(1, vectors), math.sqrt(3 / (4 * math.pi)) * unit)


def test_order_two_closed_form():
    vectors = torch.randn(50, 3, dtype=torch.float64)
    x, y, z = (vectors / vectors.norm(dim=-1, keepdim=True)).unbind(-1)
    c = 0.5 * math.sqrt(15 / math.pi)
    expected = torch.stack(
        [
            c * z * x,
            c * x * y,
            0.25 * math.sqrt(5 / math.pi) * (3 * y**2 - 1),
            c * z * y,
            0.5 * c * (z**2 - x**2),
        ],
        dim=-1,
    )
    torch.testing.assert_close(spherical_harmonics(2, vectors), expected)


def test_order_zero_is_constant():
    vectors = torch.randn(4, 6, 3)
    values = spherical_harmonics(0, vectors)
    assert values.shape == (4, 6, 1)
    torch.testing.assert_close(values, torch.full((4, 6, 1), 1 / math.sqrt(4 * math.pi)))


def test_depends_on_direction_only():
    vectors = torch.randn(30, 3, dtype=torch.float64)
    scales = torch.rand(30, 1, dtype=torch.float64) * 100 + 1e-3
    for l in ORDERS:
        torch.testing.assert_close(spherical_harmonics(l, vectors * scales), spherical_harmonics(l, vectors))


def test_zero_vector():
    vectors = torch.zeros(2, 3, dtype=torch.float64)
    assert torch.allclose(
        spherical_harmonics(0, vectors), torch.full((2, 1), 1 / math.sqrt(4 * math.pi)).double()
    )
    for l in range(1, 9):
        assert torch.equal(spherical_harmonics(l, vectors), torch.zeros(2, 2 * l + 1, dtype=torch.float64))


def test_parity():
    vectors = torch.randn(20, 3, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(
            spherical_harmonics(l, -vectors), (-1) ** l * spherical_harmonics(l, vectors)
        )


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-11), (torch.float32, 1e-5)])
def test_equivariant(dtype, tolerance):
    rotations = random_rotations(6, dtype=dtype)
    vectors = torch.randn(40, 3, dtype=dtype)
    for l in ORDERS:
        rotated_values = spherical_harmonics(l, torch.einsum("rij,vj->rvi", rotations, vectors))
        expected = torch.einsum("rmn,vn->rvm", wigner_D(l, rotations), spherical_harmonics(l, vectors))
        torch.testing.assert_close(rotated_values, expected, atol=tolerance, rtol=0)


def test_equivariance_check_can_fail():
    """Control: the transpose (inverse) rotation's D matrix must not pass the equivariance check."""
    rotations = random_rotations(6, dtype=torch.float64)
    vectors = torch.randn(40, 3, dtype=torch.float64)
    for l in range(1, 9):
        rotated_values = spherical_harmonics(l, torch.einsum("rij,vj->rvi", rotations, vectors))
        wrong = torch.einsum(
            "rmn,vn->rvm", wigner_D(l, rotations.transpose(-1, -2)), spherical_harmonics(l, vectors)
        )
        assert (rotated_values - wrong).abs().max() > 1e-2


def test_batched_shapes_and_dtypes():
    for dtype in (torch.float32, torch.float64):
        vectors = torch.randn(2, 3, 4, 3, dtype=dtype)
        for l in ORDERS:
            values = spherical_harmonics(l, vectors)
            assert values.shape == (2, 3, 4, 2 * l + 1)
            assert values.dtype == dtype
            torch.testing.assert_close(values[1, 2], spherical_harmonics(l, vectors[1, 2]))


def test_float32_matches_float64():
    vectors = torch.randn(100, 3, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(
            spherical_harmonics(l, vectors.float()).double(),
            spherical_harmonics(l, vectors),
            atol=2e-6,
            rtol=0,
        )


def test_high_order_stays_finite_and_normalised():
    points, weights = sphere_quadrature(n_polar=40)
    values = spherical_harmonics(30, points.float()).double()
    assert torch.isfinite(values).all()
    gram = values.T @ (weights[:, None] * values)
    torch.testing.assert_close(gram, torch.eye(61, dtype=torch.float64), atol=1e-5, rtol=0)


def test_bad_input():
    with pytest.raises(ValueError):
        spherical_harmonics(-1, torch.randn(3))
    with pytest.raises(ValueError):
        spherical_harmonics(2, torch.randn(4, 2))
    with pytest.raises(ValueError):
        spherical_harmonics(2, torch.ones(4, 3, dtype=torch.int64))


def test_differentiable_and_finite_at_zero():
    vectors = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: spherical_harmonics(3, v), (vectors,))
    with_zero = torch.cat([torch.zeros(1, 3, dtype=torch.float64), vectors.detach()]).requires_grad_(True)
    spherical_harmonics(2, with_zero).sum().backward()
    assert torch.isfinite(with_zero.grad).all()
