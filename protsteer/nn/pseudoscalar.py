"""Pseudo-scalar (chirality) invariants: pooled triple products of the directions to density shells.

A gated steerable CNN on a scalar density sees handedness only weakly: its linear layers cannot turn a
scalar input into a pseudo-scalar (no isotropic kernel does), and the pseudo-scalars its convolutions build
from gated fields are, to leading order, divergences, whose global average vanishes (docs/nn.md, "Tetris").
The lowest-order invariant that tells a shape from its mirror image is of fourth order in the density: a
density-weighted triple product of three directions. :class:`PseudoscalarInvariants` computes such
invariants from fixed vector fields (the mean direction to the density on spherical shells of given radii)
and a pointwise tensor product (the determinant, i.e. the Clebsch-Gordan couplings 1 x 1 -> 1 -> 0), so
they are exactly invariant under the 24 grid rotations, change sign under a reflection, and vanish for
mirror-symmetric inputs (up to discretisation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from protsteer.nn.field_type import FieldType
from protsteer.nn.pooling import GlobalInvariantPool


def _fft_size(n: int) -> int:
    """The smallest integer >= ``n`` whose prime factors are 2, 3 and 5 (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def shell_direction_kernels(radii: Sequence[float], width: float) -> torch.Tensor:
    """``[len(radii), 3, k, k, k]`` float64 vector kernels ``d/|d| exp(-(|d| - r)^2 / (2 width^2))``.

    ``d`` is the offset in voxels from the kernel centre (``k = 2 ceil(max(radii) + 3 width) + 1``); each
    kernel is normalised to unit L2 norm. Built from integer offsets, so each is exactly symmetric under
    the 24 rotations of the cube (the three components rotating as a vector).
    """
    half = math.ceil(max(radii) + 3 * width)
    axis = torch.arange(-half, half + 1, dtype=torch.float64)
    offsets = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"))  # [3, k, k, k]
    distance = offsets.norm(dim=0)
    kernels = []
    for radius in radii:
        profile = torch.exp(-0.5 * ((distance - radius) / width) ** 2) / distance.clamp(min=1.0)
        kernel = offsets * profile.masked_fill(distance == 0, 0.0)
        kernels.append(kernel / kernel.norm())
    return torch.stack(kernels)


class PseudoscalarInvariants(nn.Module):
    """Chirality invariants of density grids: ``[B, C, X, Y, Z]`` -> ``[B, n_invariants]`` in ``[-1, 1]``.

    The channels are summed to one density ``rho``. For every shell radius ``r`` (voxels) a vector field
    ``v_r = rho * k_r`` (convolution with :func:`shell_direction_kernels`) points, at each voxel, to the
    density at distance about ``r``. For every triple of radii ``r1 < r2 < r3`` the invariant is

        ``sum_x rho(x)^2 det[v_r1(x), v_r2(x), v_r3(x)] / sum_x rho(x)^2 |v_r1(x)| |v_r2(x)| |v_r3(x)|``

    over the pooling window: the density-weighted handedness of the directions to the parts at those
    distances, normalised so that it does not depend on the overall scale of the density. No learned
    parameters: a network learns how to use them.

    Rotation-invariant (exactly under the 24 rotations of the cube on grids with a centred window,
    approximately under continuous rotations) and odd under reflections: a mirrored input gives the negated
    invariants, a mirror-symmetric (e.g. planar) input gives zero up to discretisation.

    Args:
        radii: at least three shell radii (voxels), covering the distances between the parts whose
            arrangement is chiral; ``n_invariants = C(len(radii), 3)``.
        width: Gaussian width of each shell (voxels).
        window: pooling window, ``"ball"`` or ``"cube"`` (see :class:`GlobalInvariantPool`).
    """

    kernels: torch.Tensor  # [3 * len(radii), k, k, k] shell direction kernels
    _first: torch.Tensor  # [n_invariants] radius index of each triple's first shell
    _second: torch.Tensor  # [n_invariants] ... second shell
    _third: torch.Tensor  # [n_invariants] ... third shell

    def __init__(self, radii: Sequence[float], width: float = 0.6, window: str = "ball") -> None:
        super().__init__()
        radii = [float(r) for r in radii]
        if len(radii) < 3 or min(radii) <= 0 or width <= 0:
            raise ValueError(
                f"need at least three positive shell radii and a positive width, got {radii}, {width}"
            )
        self.radii, self.width = radii, float(width)
        self.triples = list(itertools.combinations(range(len(radii)), 3))
        self.n_invariants = len(self.triples)
        kernels = shell_direction_kernels(radii, width)
        self.register_buffer("kernels", kernels.flatten(0, 1).float(), persistent=False)  # [3R, k, k, k]
        for name, index in zip(("first", "second", "third"), zip(*self.triples, strict=True), strict=True):
            self.register_buffer(f"_{name}", torch.tensor(index), persistent=False)  # [n] radius indices
        self._spectra: dict[tuple, torch.Tensor] = {}
        self.pool = GlobalInvariantPool(FieldType([2 * self.n_invariants]), norms=False, window=window)

    def _directions(self, density: torch.Tensor) -> torch.Tensor:
        """``[B, X, Y, Z]`` -> ``[B, R, 3, X, Y, Z]`` shell vector fields (zero padding, FFT convolution)."""
        size = self.kernels.shape[-1]
        half = size // 2
        spatial = density.shape[-3:]
        padded = [_fft_size(n + size - 1) for n in spatial]
        key = (tuple(padded), density.dtype, density.device)
        if key not in self._spectra:
            # correlation with the kernel (as F.conv3d) = convolution with the flipped kernel
            flipped = self.kernels.flip((-3, -2, -1)).to(density)
            self._spectra[key] = torch.fft.rfftn(flipped, s=padded, dim=(-3, -2, -1))
        spectrum = torch.fft.rfftn(density, s=padded, dim=(-3, -2, -1))
        full = torch.fft.irfftn(spectrum[:, None] * self._spectra[key][None], s=padded, dim=(-3, -2, -1))
        same = full[..., half : half + spatial[0], half : half + spatial[1], half : half + spatial[2]]
        return same.unflatten(1, (len(self.radii), 3)).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, X, Y, Z]`` scalar density channels -> ``[B, n_invariants]`` (dtype of ``x``)."""
        compute_dtype = torch.promote_types(x.dtype, torch.float32)
        density = x.to(compute_dtype).sum(dim=1)
        vx, vy, vz = self._directions(density).unbind(dim=2)  # each [B, R, X, Y, Z]
        norms = (vx.square() + vy.square() + vz.square()).sqrt()
        weight = density.square()[:, None]
        first, second, third = self._first, self._second, self._third
        ax, ay, az = vx[:, first], vy[:, first], vz[:, first]  # [B, n, X, Y, Z]
        bx, by, bz = vx[:, second], vy[:, second], vz[:, second]
        cx, cy, cz = vx[:, third], vy[:, third], vz[:, third]
        triple = ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
        magnitude = norms[:, first] * norms[:, second] * norms[:, third]
        pooled = self.pool(torch.cat([weight * triple, weight * magnitude], dim=1))
        signed, total = pooled.split(self.n_invariants, dim=1)
        return (signed / total.clamp(min=torch.finfo(compute_dtype).tiny)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"radii={self.radii}, width={self.width}, n_invariants={self.n_invariants}"
