"""Rotation matrices: the 24 cube rotations, Haar-random rotations, axis-angle, exact grid rotation.

All rotations are active and right-handed: ``R @ v`` rotates the vector ``v``;
``rotation_matrix(z, pi / 2)`` maps x to y.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=1)
def _cube_rotations() -> Tensor:
    matrices = []
    for permutation in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            matrix = torch.zeros(3, 3, dtype=torch.float64)
            for row, (column, sign) in enumerate(zip(permutation, signs, strict=True)):
                matrix[row, column] = sign
            if torch.linalg.det(matrix) > 0:
                matrices.append(matrix)
    return torch.stack(matrices)


def cube_rotations() -> Tensor:
    """The 24 rotations of the cube: signed permutation matrices with determinant +1.

    Returns:
        [24, 3, 3] float64, identity first, in a fixed order (permutations of the axes in lexicographic
        order, then sign patterns with + before -). A fresh copy on every call.
    """
    return _cube_rotations().clone()


def quaternion_to_matrix(quaternions: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] of quaternions [..., 4] ``(w, x, y, z)`` of any non-zero length."""
    w, x, y, z = (quaternions / torch.linalg.vector_norm(quaternions, dim=-1, keepdim=True)).unbind(-1)
    rows = (
        (1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
    )
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def random_rotations(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """``n`` Haar-uniform random rotations (normalised Gaussian quaternions).

    Drawn in float64 on the generator's device, then cast, so the result is orthogonal to the precision
    of ``dtype``. Returns [n, 3, 3] of ``dtype`` on ``device``.
    """
    draw_device = generator.device if generator is not None else device
    quaternions = torch.randn(n, 4, generator=generator, dtype=torch.float64, device=draw_device)
    return quaternion_to_matrix(quaternions).to(dtype=dtype, device=device)


def orientation_set(k: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> Tensor:
    """A fixed set of ``k`` rotations for test-time orientation averaging: the identity first, then ``k - 1``
    Haar-random rotations drawn from ``seed`` (the same set in every run). Returns [k, 3, 3] of ``dtype``."""
    if k < 1:
        raise ValueError(f"need at least one orientation, got {k}")
    extra = random_rotations(k - 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.cat([torch.eye(3, dtype=torch.float64)[None], extra]).to(dtype)


def rotation_matrix(axis: Tensor | Sequence[float], angle: Tensor | float) -> Tensor:
    """Right-handed rotation by ``angle`` (radians) about ``axis`` (Rodrigues' formula).

    Args:
        axis: [..., 3] axis of any non-zero length (a tensor's floating dtype is kept; else float64).
        angle: scalar or [...] tensor of angles in radians, broadcast against the axis batch.

    Returns:
        [..., 3, 3] rotation matrices.
    """
    axis = torch.as_tensor(axis)
    if not axis.is_floating_point():
        axis = axis.to(torch.float64)
    if axis.shape[-1:] != (3,):
        raise ValueError(f"axis must have shape [..., 3], got {tuple(axis.shape)}")
    length = torch.linalg.vector_norm(axis, dim=-1, keepdim=True)
    if bool((length == 0).any()):
        raise ValueError("rotation axis must be non-zero")
    ux, uy, uz = (axis / length).unbind(-1)
    ux, uy, uz, angles = torch.broadcast_tensors(
        ux, uy, uz, torch.as_tensor(angle, dtype=axis.dtype, device=axis.device)
    )
    zero = torch.zeros_like(ux)
    cross = torch.stack(
        [torch.stack(row, dim=-1) for row in ((zero, -uz, uy), (uz, zero, -ux), (-uy, ux, zero))], dim=-2
    )
    unit = torch.stack([ux, uy, uz], dim=-1)
    outer = unit.unsqueeze(-1) * unit.unsqueeze(-2)
    cos, sin = angles.cos()[..., None, None], angles.sin()[..., None, None]
    identity = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return cos * identity + sin * cross + (1 - cos) * outer


def character(l: int, angle: Tensor | float) -> Tensor:
    """Character of the order-``l`` representation at rotation angle ``angle`` (radians).

    ``sum_{m=-l..l} cos(m a) = sin((2l+1) a / 2) / sin(a / 2)`` (``2l + 1`` at ``a = 0``); equals
    ``trace(wigner_D(l, R))`` for any rotation ``R`` by ``a``. Returns a tensor shaped like ``angle``.
    """
    angle = torch.as_tensor(angle)
    if not angle.is_floating_point():
        angle = angle.to(torch.float64)
    total = torch.ones_like(angle)
    for m in range(1, l + 1):
        total = total + 2 * torch.cos(m * angle)
    return total


def _signed_permutation(rotation: Tensor) -> tuple[list[int], list[bool]]:
    """(source axis, flip?) per output axis of a cube rotation; ValueError for anything else."""
    rotation = torch.as_tensor(rotation).detach().to("cpu", torch.float64)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotate_grid needs a single [3, 3] rotation, got shape {tuple(rotation.shape)}")
    rounded = rotation.round()
    is_signed_permutation = (
        bool(torch.allclose(rotation, rounded, atol=1e-6))
        and bool((rounded.abs().sum(0) == 1).all())
        and bool((rounded.abs().sum(1) == 1).all())
        and float(torch.linalg.det(rounded)) > 0
    )
    if not is_signed_permutation:
        raise ValueError("rotate_grid needs one of the 24 cube rotations (a signed permutation, det +1)")
    sources = [int(rounded[row].abs().argmax()) for row in range(3)]
    flips = [bool(rounded[row, sources[row]] < 0) for row in range(3)]
    return sources, flips


def rotate_grid(grid: Tensor, R: Tensor) -> Tensor:
    """Rotate the last three (x, y, z) dimensions of ``grid`` by a cube rotation about the grid centre.

    ``out[..., R (i - c) + c] = grid[..., i]`` with ``c`` the centre of the grid (index units). Exact
    (permute + flip), any grid shape (the output shape is permuted accordingly); returns a new tensor.
    For ``R`` = +90 degrees about z this equals ``torch.rot90(grid, 1, (-3, -2))``. Only moves voxels:
    the channels of a non-scalar field must be transformed separately (``wigner_D``).

    Args:
        grid: [..., X, Y, Z] tensor.
        R: [3, 3] cube rotation (see ``cube_rotations``); ValueError for anything else.
    """
    if grid.dim() < 3:
        raise ValueError(f"grid must have at least 3 dimensions, got shape {tuple(grid.shape)}")
    sources, flips = _signed_permutation(R)
    leading = list(range(grid.dim() - 3))
    rotated = grid.permute(*leading, *(grid.dim() - 3 + source for source in sources))
    flip_dims = [grid.dim() - 3 + axis for axis in range(3) if flips[axis]]
    if flip_dims:
        return rotated.flip(flip_dims)
    return rotated.clone(memory_format=torch.contiguous_format)
