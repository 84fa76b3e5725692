"""Real Clebsch-Gordan coefficients in the basis of :func:`protsteer.so3.spherical_harmonics`.

Derivation: Racah's closed formula for the complex coefficients <l1 m1 l2 m2 | l3 m3> (exact rational
arithmetic, one square root per entry), then the unitary change of basis from complex (Condon-Shortley)
to the standard real harmonics. Our harmonics are the standard real ones in a frame rotated by a fixed
rotation; the coupling tensor is invariant under any rotation applied to all three indices, so the
standard real tensor is also ours. The result is real or purely imaginary depending on the parity of
``l1 + l2 + l3``; the non-zero part is taken.

Conventions: ``C[a, b, c]`` couples ``x`` of order l1 (index a) and ``y`` of order l2 (index b) into
``z_c = sum_ab C[a, b, c] x_a y_b`` of order l3; ``sum_ab C[a, b, c] C[a, b, c'] = delta_cc'``; the sign is
fixed so that the first entry (in C order) with magnitude above 1e-10 is positive.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache

import torch
from torch import Tensor

from protsteer.so3.harmonics import _check_order


def _complex_coefficient(l1: int, m1: int, l2: int, m2: int, l3: int, m3: int) -> float:
    """<l1 m1 l2 m2 | l3 m3> (Condon-Shortley phase) by Racah's formula."""
    if m1 + m2 != m3 or abs(m1) > l1 or abs(m2) > l2 or abs(m3) > l3:
        return 0.0
    f = math.factorial
    prefactor = Fraction(
        (2 * l3 + 1) * f(l3 + l1 - l2) * f(l3 - l1 + l2) * f(l1 + l2 - l3), f(l1 + l2 + l3 + 1)
    ) * (f(l3 + m3) * f(l3 - m3) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2))
    k_min = max(0, l2 - l3 - m1, l1 - l3 + m2)
    k_max = min(l1 + l2 - l3, l1 - m1, l2 + m2)
    total = Fraction(0)
    for k in range(k_min, k_max + 1):
        denominator = (
            f(k)
            * f(l1 + l2 - l3 - k)
            * f(l1 - m1 - k)
            * f(l2 + m2 - k)
            * f(l3 - l2 + m1 + k)
            * f(l3 - l1 - m2 + k)
        )
        total += Fraction((-1) ** k, denominator)
    if total == 0:
        return 0.0
    sign = 1.0 if total > 0 else -1.0
    return sign * math.sqrt(prefactor * total * total)


def _complex_to_real(l: int) -> Tensor:
    """Unitary U [2l+1, 2l+1] complex128 with Y_real = U @ Y_complex (both indexed m = -l..l)."""
    matrix = [[0j] * (2 * l + 1) for _ in range(2 * l + 1)]
    root_half = 1.0 / math.sqrt(2.0)
    matrix[l][l] = 1.0
    for m in range(1, l + 1):
        phase = (-1) ** m
        # m > 0: (Y^{-m} + (-1)^m Y^m) / sqrt 2;  m < 0 (row -m): i (Y^{-m} - (-1)^m Y^m) / sqrt 2.
        matrix[l + m][l - m] = root_half
        matrix[l + m][l + m] = phase * root_half
        matrix[l - m][l - m] = 1j * root_half
        matrix[l - m][l + m] = -1j * phase * root_half
    return torch.tensor(matrix, dtype=torch.complex128)


@cache
def _real_clebsch_gordan(l1: int, l2: int, l3: int) -> Tensor:
    complex_cg = torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.complex128)
    for m1 in range(-l1, l1 + 1):
        for m2 in range(max(-l2, -l3 - m1), min(l2, l3 - m1) + 1):
            complex_cg[l1 + m1, l2 + m2, l3 + m1 + m2] = _complex_coefficient(l1, m1, l2, m2, l3, m1 + m2)
    u1, u2, u3 = _complex_to_real(l1), _complex_to_real(l2), _complex_to_real(l3)
    # x_complex = U1^H x_real, ..., z_real = U3 z_complex.
    coupled = torch.einsum("ia,jb,kc,abc->ijk", u1.conj(), u2.conj(), u3, complex_cg)
    real_part, imaginary_part = coupled.real, coupled.imag
    result = real_part if real_part.abs().max() >= imaginary_part.abs().max() else imaginary_part
    leading = result.flatten()[result.flatten().abs() > 1e-10][0]
    result = result * torch.sign(leading)
    return result.contiguous()


def clebsch_gordan(l1: int, l2: int, l3: int) -> Tensor:
    """Real Clebsch-Gordan tensor coupling orders ``l1 x l2 -> l3`` in the protsteer real basis.

    Returns:
        float64 [2l1+1, 2l2+1, 2l3+1] (a fresh copy of a cached tensor), with
        ``einsum('abc,a,b->c', C, D1 x, D2 y) == D3 @ einsum('abc,a,b->c', C, x, y)`` for the Wigner
        matrices ``D_i = wigner_D(l_i, R)`` and ``sum_ab C[a,b,c] C[a,b,c'] = delta_cc'``.

    Raises:
        ValueError: if an order is negative or the triangle rule ``|l1-l2| <= l3 <= l1+l2`` fails.
    """
    for order in (l1, l2, l3):
        _check_order(order)
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"orders ({l1}, {l2}, {l3}) violate the triangle rule |l1-l2| <= l3 <= l1+l2")
    return _real_clebsch_gordan(l1, l2, l3).clone()
