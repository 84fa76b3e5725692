"""Equivariant resampling: anti-aliased downsampling, average pooling, global pooling to invariants.

All spatial filters here are isotropic and applied to every channel alike, so they commute with the fiber
rotations; their strided outputs are centred on the grid (:mod:`protsteer.nn.grid`), so on odd grids they
commute exactly with the 24 rotations of the cube.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.field_type import FieldType
from protsteer.nn.grid import centred_padding
from protsteer.nn.nonlinearities import field_norms


def gaussian_kernel3d(sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Normalised isotropic Gaussian ``[k, k, k]``, ``k = 2 ceil(2 sigma) + 1``, std ``sigma`` (voxels).

    Computed from the squared radius (a sum of integers, exact), so it is exactly symmetric under the 24
    rotations of the cube.
    """
    radius = max(1, math.ceil(2.0 * sigma))
    axis = torch.arange(-radius, radius + 1, dtype=torch.float64)
    squared = axis[:, None, None] ** 2 + axis[None, :, None] ** 2 + axis[None, None, :] ** 2
    kernel = torch.exp(-0.5 * squared / sigma**2)
    return (kernel / kernel.sum()).to(dtype)


class LowPassDownsample3d(nn.Module):
    """Gaussian low-pass filter then subsampling by ``stride`` (the anti-aliasing of the paper).

    ``[B, C, X, Y, Z]`` -> ``[B, C, X', Y', Z']`` with centred output grids (odd ``X`` -> ``X'`` odd when
    possible: 21 -> 11 -> 5 -> 3 for stride 2). One depthwise 3D convolution (the same filter per channel).

    Args:
        field_type: type of input and output (only its ``dim`` matters: the filter acts per channel).
        stride: subsampling factor.
        sigma: filter width in input voxels; default ``0.5 * sqrt(stride^2 - 1)`` (takes a voxel of width 1,
            seen as a Gaussian of std 0.5, to one of width ``stride``).
    """

    kernel: torch.Tensor  # [1, 1, k, k, k] low-pass filter

    def __init__(self, field_type: FieldType, stride: int = 2, sigma: float | None = None) -> None:
        super().__init__()
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.in_type = self.out_type = field_type
        self.stride = int(stride)
        self.sigma = 0.5 * math.sqrt(stride * stride - 1) if sigma is None else float(sigma)
        kernel = gaussian_kernel3d(self.sigma) if self.sigma > 0 else torch.ones(1, 1, 1)
        self.register_buffer("kernel", kernel[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, X, Y, Z]`` -> ``[B, C, X', Y', Z']``."""
        channels = x.shape[1]
        k = self.kernel.shape[-1]
        x, padding = centred_padding(x, k, self.stride)
        weight = self.kernel.to(x.dtype).expand(channels, 1, k, k, k)
        return F.conv3d(x, weight, stride=self.stride, padding=padding, groups=channels)

    def extra_repr(self) -> str:
        return f"stride={self.stride}, sigma={self.sigma:.3f}"


class SteerableAvgPool3d(nn.Module):
    """Average pooling per channel with a centred grid: ``[B, C, X, Y, Z]`` -> ``[B, C, X', Y', Z']``.

    Args:
        field_type: type of input and output.
        kernel_size: odd window width in voxels.
        stride: subsampling factor.
    """

    def __init__(self, field_type: FieldType, kernel_size: int = 3, stride: int = 2) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a centred window), got {kernel_size}")
        self.in_type = self.out_type = field_type
        self.kernel_size, self.stride = int(kernel_size), int(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, X, Y, Z]`` -> ``[B, C, X', Y', Z']``."""
        x, padding = centred_padding(x, self.kernel_size, self.stride)
        return F.avg_pool3d(x, self.kernel_size, self.stride, padding, count_include_pad=True)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class GlobalInvariantPool(nn.Module):
    """Global average pooling to rotation invariants: ``[B, dim, X, Y, Z]`` -> ``[B, out_type.dim]``.

    Scalars are averaged over space; with ``norms=True`` each field of order l > 0 contributes the spatial
    mean of its pointwise norm (computed in at least float32). Output order: scalars, then one norm per
    l > 0 field. ``window="ball"`` averages only over the voxels inside the ball inscribed in the grid, so
    that the corners of the cubic box (where zero padding meets the content differently for each
    orientation) do not enter the invariants; ``"cube"`` averages over the whole grid.

    Args:
        field_type: type of the input.
        norms: include the norms of the l > 0 fields (otherwise only the scalars are kept).
        window: ``"cube"`` or ``"ball"``.
    """

    def __init__(self, field_type: FieldType, norms: bool = True, window: str = "cube") -> None:
        super().__init__()
        if window not in ("cube", "ball"):
            raise ValueError(f"window must be 'cube' or 'ball', got {window!r}")
        self.in_type = field_type
        self.norms = norms
        self.window = window
        n_out = field_type.n_fields if norms else field_type.n_scalars
        self.out_type = FieldType([n_out])

    def _weights(self, shape: torch.Size, device: torch.device, dtype: torch.dtype) -> torch.Tensor | None:
        """``[X, Y, Z]`` averaging weights (summing to 1) of the ball window, or None for the cube."""
        if self.window == "cube":
            return None
        axes = [torch.arange(n, device=device, dtype=dtype) - (n - 1) / 2 for n in shape]
        ax, ay, az = (a.square() for a in axes)
        squared = ax[:, None, None] + ay[None, :, None] + az[None, None, :]  # [X, Y, Z]
        radius = (min(shape) - 1) / 2
        inside = (squared <= radius * radius + 1e-6).to(dtype)
        return inside / inside.sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim, X, Y, Z]`` -> ``[B, out_type.dim]`` in the dtype of ``x``."""
        blocks = self.in_type.split(x)
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        weights = self._weights(x.shape[2:], x.device, compute_dtype)

        def mean(values: torch.Tensor) -> torch.Tensor:
            if weights is None:
                return values.mean(dim=(-3, -2, -1))
            return (values * weights).sum(dim=(-3, -2, -1))

        parts = [mean(blocks[0].flatten(1, 2).to(compute_dtype))] if 0 in blocks else []
        if self.norms:
            parts += [mean(field_norms(block)) for l, block in blocks.items() if l > 0]
        return torch.cat(parts, dim=1).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, norms={self.norms}, window={self.window!r}"
