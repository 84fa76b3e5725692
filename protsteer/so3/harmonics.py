"""Real spherical harmonics, orthonormal on the unit sphere, in the protsteer basis.

Convention (relied upon by every other module):

* Order ``l`` has ``2l + 1`` components indexed ``m = -l, ..., l``.
* They are the standard real harmonics (no Condon-Shortley sign in the real form, so
  ``Y_{l,m} = sqrt(2) N_lm P_l^|m|(cos t) cos(m p)`` for ``m > 0`` and ``... sin(|m| p)`` for ``m < 0``)
  written in the rotated frame ``(X, Y, Z) = (z, x, y)``: the polar axis is ``y`` and the azimuth is
  measured from ``z`` towards ``x``. With this choice order 1 is ``sqrt(3 / (4 pi)) * (x, y, z)``, so the
  order-1 Wigner matrix is the rotation matrix itself. This is also the convention of e3nn >= 0.2.
* Normalisation: ``integral over S^2 of Y_lm Y_lm' = delta_mm'``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_INV_SQRT_4PI = 1.0 / math.sqrt(4.0 * math.pi)


def _check_order(l: int) -> None:
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"order l must be a non-negative int, got {l!r}")


def _unit_and_mask(vectors: Tensor) -> tuple[Tensor, Tensor]:
    """Unit directions [..., 3] (zero rows stay zero) and a [...] mask of non-zero vectors."""
    if vectors.shape[-1:] != (3,):
        raise ValueError(f"vectors must have shape [..., 3], got {tuple(vectors.shape)}")
    if not vectors.is_floating_point():
        raise ValueError(f"vectors must be a floating-point tensor, got {vectors.dtype}")
    norm = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    nonzero = norm > 0
    unit = vectors / torch.where(nonzero, norm, torch.ones_like(norm))
    return unit, nonzero.squeeze(-1)


def _legendre_column(l: int, m: int, cos_polar: Tensor) -> Tensor:
    """Normalised associated Legendre factor ``N_lm P_l^m(Z) / sin^m`` (a polynomial in Z), m <= l.

    Uses the fully normalised three-term recurrence in ``l`` at fixed ``m``; every intermediate value
    is bounded, so it is stable in float32 as well as float64.
    """
    # Start value N_mm (2m-1)!! via the ratio sqrt((2k+1)/(2k)) from k = 1..m.
    start = _INV_SQRT_4PI
    for k in range(1, m + 1):
        start *= math.sqrt((2 * k + 1) / (2 * k))
    previous = torch.full_like(cos_polar, start)
    if l == m:
        return previous
    current = math.sqrt(2 * m + 3) * cos_polar * start
    for degree in range(m + 2, l + 1):
        a = math.sqrt((4 * degree * degree - 1) / (degree * degree - m * m))
        b = math.sqrt(((degree - 1) ** 2 - m * m) / (4 * (degree - 1) ** 2 - 1))
        previous, current = current, a * (cos_polar * current - b * previous)
    return current


def spherical_harmonics(l: int, vectors: Tensor) -> Tensor:
    """Real spherical harmonics of order ``l`` of the directions of ``vectors``.

    Args:
        l: order, any non-negative int.
        vectors: [..., 3] floating tensor (x, y, z); only the direction matters. Zero vectors give 0 for
            ``l > 0`` and ``1 / sqrt(4 pi)`` for ``l = 0``.

    Returns:
        [..., 2l+1] tensor, same dtype and device as ``vectors``, components ``m = -l..l`` (see module
        docstring). Equivariant: ``Y(R v) == wigner_D(l, R) @ Y(v)``.
    """
    _check_order(l)
    unit, nonzero = _unit_and_mask(vectors)
    if l == 0:
        return torch.full((*vectors.shape[:-1], 1), _INV_SQRT_4PI, dtype=vectors.dtype, device=vectors.device)
    x, y, z = unit.unbind(-1)
    # Standard-frame coordinates: polar axis Z = y, azimuth in the (X, Y) = (z, x) plane.
    frame_x, frame_y, frame_z = z, x, y
    # cos_m + i sin_m = (X + iY)^m = sin^m(polar) e^{i m azimuth}, built by complex multiplication.
    cos_m, sin_m = torch.ones_like(frame_x), torch.zeros_like(frame_x)
    columns: dict[int, Tensor] = {0: _legendre_column(l, 0, frame_z)}
    for m in range(1, l + 1):
        cos_m, sin_m = frame_x * cos_m - frame_y * sin_m, frame_x * sin_m + frame_y * cos_m
        legendre = math.sqrt(2.0) * _legendre_column(l, m, frame_z)
        columns[m] = legendre * cos_m
        columns[-m] = legendre * sin_m
    harmonics = torch.stack([columns[m] for m in range(-l, l + 1)], dim=-1)
    return harmonics * nonzero.unsqueeze(-1).to(harmonics.dtype)
