"""Measuring equivariance: rotate feature maps, and check any module on cube and continuous rotations.

``check_equivariance(module, in_type, out_type)`` compares ``module(g x)`` with ``g module(x)``:

* over the 24 rotations of the cube, which map the voxel grid onto itself (``rotate_grid`` moves the voxels,
  ``fiber_rotation`` rotates the channels): a steerable network is exactly equivariant there, so the error
  is at rounding level;
* over random continuous rotations: the input is a smooth field (a sum of Gaussian blobs with random feature
  vectors) evaluated at rotated blob centres, with feature vectors rotated by ``D(R)``; the output is probed
  at the grid centre (the centre voxel, or the mean of the central voxels of an even grid), which rotates by
  ``D_out(R)`` without resampling. Invariant outputs ``[B, dim]`` are compared directly. This error is not
  zero: it measures the discretisation (sampling, band limits, strides).

Relative error = ``|a - b| / |b|`` (Frobenius norms over the whole batch).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from protsteer.nn.field_type import FieldType
from protsteer.so3 import cube_rotations, random_rotations, rotate_grid


def rotate_field(
    x: torch.Tensor, field_type: FieldType, R: torch.Tensor, rotate_fibers: bool = True
) -> torch.Tensor:
    """Apply the cube rotation ``R`` ``[3, 3]`` to a feature map ``[B, dim, X, Y, Z]`` or vector ``[B, dim]``.

    Voxels move with ``rotate_grid`` (only for feature maps); channels are multiplied by
    ``field_type.fiber_rotation(R)`` unless ``rotate_fibers`` is False (a deliberately wrong control).
    """
    if x.dim() > 2:
        x = rotate_grid(x, R)
    if not rotate_fibers:
        return x
    fiber = field_type.fiber_rotation(R.to(device=x.device, dtype=torch.float64)).to(x.dtype)
    return torch.einsum("ij,bj...->bi...", fiber, x)


def smooth_field(centres: torch.Tensor, features: torch.Tensor, grid_size: int, sigma: float) -> torch.Tensor:
    """Sum of Gaussian blobs on a cubic grid: ``[B, dim, G, G, G]``.

    Args:
        centres: ``[B, n_blobs, 3]`` blob centres in voxels relative to the grid centre.
        features: ``[B, n_blobs, dim]`` feature vector of each blob.
        grid_size: ``G``.
        sigma: blob standard deviation in voxels.
    """
    axis = torch.arange(grid_size, dtype=centres.dtype, device=centres.device) - (grid_size - 1) / 2
    # the Gaussian factorises over the axes: per-axis profiles [B, n, G], then one batched matmul over blobs
    profiles = torch.exp(-0.5 * (axis - centres[..., None]).square() / sigma**2)  # [B, n, 3, G]
    px, py, pz = profiles.unbind(dim=2)
    batch, n_blobs, dim = features.shape
    xy = torch.einsum("bnd,bnx,bny->bdxyn", features.to(centres.dtype), px, py)
    out = torch.bmm(xy.reshape(batch, -1, n_blobs), pz)  # [B, dim * G * G, G]
    return out.reshape(batch, dim, grid_size, grid_size, grid_size)


def centre_probe(x: torch.Tensor) -> torch.Tensor:
    """The value at the grid centre: ``[B, C, X, Y, Z]`` -> ``[B, C]`` (mean of the 1 or 2 central voxels per
    axis); ``[B, C]`` passes through."""
    if x.dim() == 2:
        return x
    for dim in (2, 3, 4):
        n = x.shape[dim]
        x = x.narrow(dim, (n - 1) // 2, 2 - n % 2)
    return x.mean(dim=(2, 3, 4))


@dataclass
class EquivarianceReport:
    """Relative equivariance errors of a module (see the module docstring)."""

    cube_errors: list[float]
    continuous_errors: list[float]
    dtype: str
    autocast_dtype: str | None
    grid_size: int
    rotation_angles: list[float] = field(default_factory=list)  # radians, one per continuous rotation

    @property
    def cube_max(self) -> float:
        """Largest error over the 24 cube rotations."""
        return max(self.cube_errors)

    @property
    def continuous_mean(self) -> float:
        """Mean error over the continuous rotations (nan when none were run)."""
        return (
            sum(self.continuous_errors) / len(self.continuous_errors) if self.continuous_errors else math.nan
        )

    @property
    def continuous_max(self) -> float:
        """Largest error over the continuous rotations (nan when none were run)."""
        return max(self.continuous_errors) if self.continuous_errors else math.nan

    def passed(self, cube_tolerance: float, continuous_tolerance: float | None = None) -> bool:
        """True when the cube error (and, if given, the mean continuous error) is within tolerance."""
        ok = self.cube_max <= cube_tolerance
        if continuous_tolerance is not None and self.continuous_errors:
            ok = ok and self.continuous_mean <= continuous_tolerance
        return ok

    def summary(self) -> str:
        """A short multi-line table."""
        precision = (
            self.dtype if self.autocast_dtype is None else f"{self.dtype} autocast {self.autocast_dtype}"
        )
        lines = [
            f"precision: {precision}, grid {self.grid_size}^3",
            f"24 cube rotations:      max rel. error {self.cube_max:.2e}",
        ]
        if self.continuous_errors:
            lines.append(
                f"{len(self.continuous_errors)} random rotations:     "
                f"mean rel. error {self.continuous_mean:.2e}"
                f"  (max {self.continuous_max:.2e})"
            )
        return "\n".join(lines)


def check_equivariance(
    module: nn.Module,
    in_type: FieldType,
    out_type: FieldType,
    grid_size: int = 15,
    n_continuous: int = 4,
    dtype: torch.dtype = torch.float64,
    batch_size: int = 2,
    device: torch.device | str | None = None,
    autocast_dtype: torch.dtype | None = None,
    seed: int = 0,
    blob_sigma: float = 1.5,
    rotate_fibers: bool = True,
) -> EquivarianceReport:
    """Measure how well ``module`` commutes with rotations (on a copy in eval mode; ``module`` is untouched).

    Args:
        module: maps ``[B, in_type.dim, G, G, G]`` to ``[B, out_type.dim, ...]`` or to ``[B, out_type.dim]``.
        in_type, out_type: field types of the input and output channels.
        grid_size: ``G`` (odd grids make strided layers exact on the cube rotations).
        n_continuous: number of random continuous rotations (0 to skip).
        dtype: precision of the copy and of the inputs (float64 shows exactness, float32 is the usual).
        batch_size: inputs per rotation.
        device: where to run (default: the module's device).
        autocast_dtype: run the forward under ``torch.autocast`` with this dtype (inputs stay ``dtype``).
        seed: seeds the random inputs and rotations.
        blob_sigma: width (voxels) of the blobs of the smooth inputs for continuous rotations.
        rotate_fibers: False skips the channel rotation: a control that must fail for l > 0 fields.
    """
    parameters = list(module.parameters()) + list(module.buffers())
    if device is None:
        device = parameters[0].device if parameters else "cpu"
    device = torch.device(device)
    probe = copy.deepcopy(module).to(device=device, dtype=dtype).eval()
    generator = torch.Generator().manual_seed(seed)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            return probe(x.to(device)).to(dtype)

    cube_errors = []
    with torch.no_grad():
        x = torch.randn(
            batch_size, in_type.dim, grid_size, grid_size, grid_size, generator=generator, dtype=dtype
        )
        y = run(x)
        for R in cube_rotations():
            expected = rotate_field(y, out_type, R, rotate_fibers)
            actual = run(rotate_field(x, in_type, R, rotate_fibers))
            cube_errors.append(_relative_error(actual, expected))

        continuous_errors, angles = [], []
        n_blobs = 6
        for R in random_rotations(n_continuous, generator=generator, dtype=torch.float64):
            radius = grid_size / 5
            centres = (
                torch.rand(batch_size, n_blobs, 3, generator=generator, dtype=torch.float64) * 2 - 1
            ) * radius
            features = torch.randn(batch_size, n_blobs, in_type.dim, generator=generator, dtype=torch.float64)
            fiber_in = (
                in_type.fiber_rotation(R) if rotate_fibers else torch.eye(in_type.dim, dtype=torch.float64)
            )
            fiber_out = (
                out_type.fiber_rotation(R) if rotate_fibers else torch.eye(out_type.dim, dtype=torch.float64)
            )
            x = smooth_field(centres, features, grid_size, blob_sigma).to(dtype)
            x_rotated = smooth_field(centres @ R.T, features @ fiber_in.T, grid_size, blob_sigma).to(dtype)
            expected = centre_probe(run(x)).double() @ fiber_out.T.to(device)
            actual = centre_probe(run(x_rotated)).double()
            continuous_errors.append(_relative_error(actual, expected))
            angles.append(float(torch.arccos(((torch.trace(R) - 1) / 2).clamp(-1, 1))))
    return EquivarianceReport(
        cube_errors=cube_errors,
        continuous_errors=continuous_errors,
        dtype=str(dtype).removeprefix("torch."),
        autocast_dtype=None if autocast_dtype is None else str(autocast_dtype).removeprefix("torch."),
        grid_size=grid_size,
        rotation_angles=angles,
    )


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    scale = expected.double().norm()
    return (
        float((actual.double() - expected.double()).norm() / scale)
        if scale > 0
        else float(actual.double().norm())
    )
