"""Padding rules that keep strided layers centred on the grid (so they commute with the cube rotations).

A layer with stride ``s`` samples its output at input positions ``p, p + s, ..., n - 1 - p`` (voxel indices).
The 24 rotations of the cube map this set onto itself only when it is symmetric about the grid centre
``(n - 1) / 2``, which needs ``n`` odd when ``s = 2`` (for even ``n`` no integer offset works). The offset
``p`` chosen here makes the output grid symmetric and, when possible, of odd size again, so that the next
strided layer is exact too (``21 -> 11 -> 5 -> 3`` with stride 2).
"""

from __future__ import annotations

import torch


def centred_offset(size: int, stride: int) -> int:
    """First sampled input position ``p`` (voxels) for a centred strided layer over ``size`` voxels.

    Stride 1 always gives 0. For larger strides: the smallest ``p`` that makes the sampled positions symmetric
    about the centre, preferring an odd number of outputs; 0 when no symmetric choice exists (even ``size``).
    """
    if stride == 1:
        return 0
    symmetric = [p for p in range(stride) if (size - 1 - 2 * p) >= 0 and (size - 1 - 2 * p) % stride == 0]
    if not symmetric:
        return 0
    odd_output = [p for p in symmetric if ((size - 1 - 2 * p) // stride + 1) % 2 == 1]
    return (odd_output or symmetric)[0]


def centred_output_size(size: int, kernel_size: int, stride: int) -> int:
    """Output size (voxels) of a centred layer with zero padding ``kernel_size // 2 - centred_offset``."""
    padding = kernel_size // 2 - centred_offset(size, stride)
    return (size + 2 * padding - kernel_size) // stride + 1


def centred_padding(
    x: torch.Tensor, kernel_size: int, stride: int
) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Zero padding per spatial dim of ``x`` ``[..., X, Y, Z]`` for a centred layer (``same`` for stride 1).

    Returns ``(x, padding)``: where a dim needs negative padding (kernel smaller than the offset), ``x`` comes
    back cropped symmetrically along it and that padding is 0.
    """
    padding = []
    for dim in (-3, -2, -1):
        pad = kernel_size // 2 - centred_offset(x.shape[dim], stride)
        if pad < 0:
            x = x.narrow(dim, -pad, x.shape[dim] + 2 * pad)
            pad = 0
        padding.append(pad)
    return x, (padding[0], padding[1], padding[2])
