"""Real Clebsch-Gordan coefficients: intertwining, orthonormality, closed forms, conventions, errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from protsteer.so3 import clebsch_gordan, random_rotations, wigner_D

SMALL_TRIPLES = [
    (l1, l2, l3)
    for l1, l2 in itertools.product(range(5), repeat=2)
    for l3 in range(abs(l1 - l2), l1 + l2 + 1)
]
LARGE_TRIPLES = [(5, 3, 7), (6, 6, 0), (6, 6, 12), (6, 5, 4), (7, 2, 6), (8, 8, 8)]


def assert_intertwines(coupling: torch.Tensor, orders: tuple[int, int, int], rotations: torch.Tensor) -> None:
    l1, l2, l3 = orders
    x = torch.randn(2 * l1 + 1, dtype=torch.float64)
    y = torch.randn(2 * l2 + 1, dtype=torch.float64)
    rotated_then_coupled = torch.einsum(
        "abc,ra,rb->rc", coupling, wigner_D(l1, rotations) @ x, wigner_D(l2, rotations) @ y
    )
    coupled_then_rotated = wigner_D(l3, rotations) @ torch.einsum("abc,a,b->c", coupling, x, y)
    torch.testing.assert_close(rotated_then_coupled, coupled_then_rotated, atol=1e-11, rtol=0)


@pytest.mark.parametrize("orders", SMALL_TRIPLES + LARGE_TRIPLES, ids=str)
def test_intertwines_and_orthonormal(orders):
    coupling = clebsch_gordan(*orders)
    l1, l2, l3 = orders
    assert coupling.shape == (2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1)
    assert coupling.dtype == torch.float64
    assert_intertwines(coupling, orders, random_rotations(4, dtype=torch.float64))
    gram = torch.einsum("abc,abd->cd", coupling, coupling)
    torch.testing.assert_close(gram, torch.eye(2 * l3 + 1, dtype=torch.float64), atol=1e-12, rtol=0)


def test_intertwining_check_can_fail():
    """Control: a wrong coupling (the l1 indices reversed) must fail the check."""
    coupling = clebsch_gordan(2, 2, 2).flip(0)
    with pytest.raises(AssertionError):
        assert_intertwines(coupling, (2, 2, 2), random_rotations(4, dtype=torch.float64))


def test_sign_convention_first_entry_positive():
    for orders in SMALL_TRIPLES:
        flat = clebsch_gordan(*orders).flatten()
        assert flat[flat.abs() > 1e-10][0] > 0


def test_vector_couplings_closed_forms():
    """In the Cartesian order-1 basis: 1x1->0 is the dot product, 1x1->1 the cross product."""
    torch.testing.assert_close(
        clebsch_gordan(1, 1, 0)[..., 0], torch.eye(3, dtype=torch.float64) / math.sqrt(3)
    )
    levi_civita = torch.zeros(3, 3, 3, dtype=torch.float64)
    for (a, b, c), sign in zip(itertools.permutations(range(3)), (1, -1, -1, 1, 1, -1), strict=True):
        levi_civita[a, b, c] = sign
    # The first non-zero entry in C order is [0, 1, 2], positive by the sign convention.
    torch.testing.assert_close(clebsch_gordan(1, 1, 1), levi_civita / math.sqrt(2))


def test_coupling_with_scalar_is_identity():
    for l in range(7):
        torch.testing.assert_close(clebsch_gordan(0, l, l)[0], torch.eye(2 * l + 1, dtype=torch.float64))
        torch.testing.assert_close(clebsch_gordan(l, 0, l)[:, 0], torch.eye(2 * l + 1, dtype=torch.float64))


def test_exchange_symmetry():
    """Swapping the inputs multiplies the coupling by (-1)^(l1 + l2 - l3) (up to the fixed sign)."""
    for l1, l2, l3 in SMALL_TRIPLES:
        swapped = clebsch_gordan(l2, l1, l3).transpose(0, 1)
        original = clebsch_gordan(l1, l2, l3)
        assert torch.allclose(swapped, original, atol=1e-12) or torch.allclose(swapped, -original, atol=1e-12)
        if l1 == l2:
            torch.testing.assert_close(swapped, (-1) ** (2 * l1 - l3) * original)


def test_returns_independent_copies():
    first = clebsch_gordan(2, 1, 2)
    first.zero_()
    assert clebsch_gordan(2, 1, 2).abs().max() > 0


def test_triangle_rule_and_bad_orders():
    for orders in [(1, 1, 3), (3, 1, 1), (0, 2, 1), (2, 2, 5)]:
        with pytest.raises(ValueError, match="triangle"):
            clebsch_gordan(*orders)
    with pytest.raises(ValueError):
        clebsch_gordan(-1, 1, 1)
