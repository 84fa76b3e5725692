"""Wigner D matrices in the real basis of :func:`protsteer.so3.spherical_harmonics`.

Method: for a fixed, well-spread set of unit points ``P`` (a Fibonacci sphere with about twice as many
points as components), ``Y(R p) = D(R) Y(p)`` for every point, so ``D(R) = Y(R P)^T pinv(Y(P)^T)``.
The pseudo-inverse is computed once per order in float64 and cached per dtype/device; each call then
costs one harmonics evaluation on the rotated points and one matrix product. It is exact to floating-point
precision for any rotation matrix (no angle extraction, so no trouble at 0 or 180 degrees).
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import Tensor

from protsteer.so3.harmonics import _check_order, spherical_harmonics


def _fibonacci_sphere(n: int) -> Tensor:
    """[n, 3] float64 nearly uniform unit points (golden-angle spiral)."""
    index = torch.arange(n, dtype=torch.float64)
    height = 1.0 - (2.0 * index + 1.0) / n
    radius = torch.sqrt(1.0 - height * height)
    azimuth = index * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([radius * azimuth.cos(), radius * azimuth.sin(), height], dim=-1)


@cache
def _sample_points_float64(l: int) -> tuple[Tensor, Tensor]:
    """Points [N, 3] and pinv(Y(P)^T) [N, 2l+1], both float64 on the CPU."""
    points = _fibonacci_sphere(2 * (2 * l + 1) + 1)
    inverse = torch.linalg.pinv(spherical_harmonics(l, points).T)
    return points, inverse


@cache
def _sample_points(l: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    points, inverse = _sample_points_float64(l)
    return points.to(dtype=dtype, device=device), inverse.to(dtype=dtype, device=device)


def wigner_D(l: int, R: Tensor) -> Tensor:
    """Real Wigner D matrix of order ``l``: ``spherical_harmonics(l, R v) == wigner_D(l, R) @ Y(v)``.

    Args:
        l: order, any non-negative int.
        R: [3, 3] or [..., 3, 3] floating rotation matrices (active: ``R @ v`` rotates ``v``).

    Returns:
        [..., 2l+1, 2l+1] orthogonal matrices, same dtype/device as ``R``. ``l = 0`` gives ones and
        ``l = 1`` gives ``R`` itself (a copy), exactly. A homomorphism: ``D(R1 R2) = D(R1) D(R2)``.
    """
    _check_order(l)
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"R must have shape [..., 3, 3], got {tuple(R.shape)}")
    if not R.is_floating_point():
        raise ValueError(f"R must be a floating-point tensor, got {R.dtype}")
    if l == 0:
        return torch.ones((*R.shape[:-2], 1, 1), dtype=R.dtype, device=R.device)
    if l == 1:
        return R.clone()
    points, inverse = _sample_points(l, R.dtype, R.device)
    rotated = torch.matmul(R.unsqueeze(-3), points.unsqueeze(-1)).squeeze(-1)  # [..., N, 3]
    return torch.matmul(spherical_harmonics(l, rotated).transpose(-1, -2), inverse)
