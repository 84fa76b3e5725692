"""Cross-check against e3nn (skipped when not installed): same representations, explicit change of basis."""

from __future__ import annotations

import pytest
import torch

from protsteer.so3 import clebsch_gordan, random_rotations, spherical_harmonics, wigner_D

o3 = pytest.importorskip("e3nn.o3")

ORDERS = range(9)
# e3nn builds D from Euler angles with single-precision generator tables, good to ~1e-6 even in float64.
E3NN_WIGNER_TOLERANCE = 1e-5


def e3nn_harmonics(l: int, vectors: torch.Tensor) -> torch.Tensor:
    return o3.spherical_harmonics(l, vectors, normalize=True, normalization="integral")


def e3nn_wigner(l: int, rotations: torch.Tensor) -> torch.Tensor:
    return o3.Irrep(l, 1).D_from_matrix(rotations)


def test_characters_agree():
    rotations = random_rotations(10, dtype=torch.float64)
    for l in ORDERS:
        ours = wigner_D(l, rotations).diagonal(dim1=-2, dim2=-1).sum(-1)
        theirs = e3nn_wigner(l, rotations).diagonal(dim1=-2, dim2=-1).sum(-1)
        torch.testing.assert_close(ours, theirs, atol=E3NN_WIGNER_TOLERANCE, rtol=0)


def test_explicit_change_of_basis():
    """Fit Q with Y_ours = Q Y_e3nn on sampled points; Q is orthogonal and D_ours = Q D_e3nn Q^T."""
    points = torch.randn(500, 3, dtype=torch.float64)
    rotations = random_rotations(10, dtype=torch.float64)
    for l in ORDERS:
        ours, theirs = spherical_harmonics(l, points), e3nn_harmonics(l, points)
        change = torch.linalg.lstsq(theirs, ours).solution.T  # ours ~ theirs @ Q^T
        torch.testing.assert_close(theirs @ change.T, ours, atol=1e-10, rtol=0)
        torch.testing.assert_close(
            change @ change.T, torch.eye(2 * l + 1, dtype=torch.float64), atol=1e-10, rtol=0
        )
        torch.testing.assert_close(
            wigner_D(l, rotations),
            change @ e3nn_wigner(l, rotations) @ change.T,
            atol=E3NN_WIGNER_TOLERANCE,
            rtol=0,
        )


def test_harmonics_are_e3nn_integral_normalised_harmonics():
    """Our documented basis is e3nn's (polar axis y, order 1 = (x, y, z)): the change of basis is I."""
    points = torch.randn(200, 3, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(
            spherical_harmonics(l, points), e3nn_harmonics(l, points), atol=1e-12, rtol=0
        )


def test_clebsch_gordan_matches_e3nn_wigner_3j_up_to_sign():
    """e3nn's wigner_3j has unit Frobenius norm; ours has orthonormal l3 slices: scale by sqrt(2 l3 + 1)."""
    for l1, l2 in [(0, 2), (1, 1), (1, 2), (2, 2), (3, 2), (4, 3)]:
        for l3 in range(abs(l1 - l2), l1 + l2 + 1):
            ours = clebsch_gordan(l1, l2, l3)
            theirs = o3.wigner_3j(l1, l2, l3, dtype=torch.float64) * (2 * l3 + 1) ** 0.5
            sign = torch.sign((ours * theirs).sum())
            torch.testing.assert_close(ours, sign * theirs, atol=1e-12, rtol=0)
