"""The analytic steerable kernel basis (Weiler et al. 2018, section 3), sampled once on the voxel grid.

A kernel mapping a field of order ``l_in`` to a field of order ``l_out`` is a ``[2l_out+1, 2l_in+1]`` matrix
valued function with ``K(R x) = D^l_out(R) K(x) D^l_in(R)^T``. Every such kernel is a combination of

    K_{s,J}(x)[c, a] = phi_s(|x|) * sum_b C^(l_in, J, l_out)[a, b, c] * Y_J^b(x / |x|)

over Gaussian radial shells ``phi_s(r) = exp(-(r - s)^2 / (2 sigma^2))`` (one per integer radius
``s = 0 .. kernel_size // 2``, radii in voxels) and orders ``|l_in - l_out| <= J <= l_in + l_out``. On a grid,
harmonics of high order alias on small shells, so each shell keeps only ``J <= J_max(s)`` (the *band limit*):

* ``"conservative"``: ``J_max(s) = 2 s``       (0, 2, 4, 6, ...)
* ``"compromise"``:   ``J_max(s) = 2 s + 1``   (0, 3, 5, 7, ...); the shell ``s = 0`` only admits ``J = 0``.

The sampled elements of one ``(l_in, l_out)`` pair are then orthonormalised (symmetric Loewdin
orthogonalisation in the Frobenius inner product over ``[2l_out+1, 2l_in+1, k, k, k]``). A linear combination
of steerable kernels is steerable, so the result is still exactly equivariant under the 24 rotations of the
cube (which map the grid onto itself) and still a sample of a continuous steerable kernel.
Bases are cached in memory per ``(l_in, l_out, kernel_size, band_limit, sigma, dtype)`` and shared by layers.
"""

from __future__ import annotations

import functools
from typing import Literal, get_args

import torch

from protsteer.so3 import clebsch_gordan, spherical_harmonics

BandLimit = Literal["conservative", "compromise"]
BAND_LIMITS: tuple[str, ...] = get_args(BandLimit)
#: the default band limit, chosen from the measured trade-off in docs/nn.md
DEFAULT_BAND_LIMIT: BandLimit = "conservative"
#: width (standard deviation, voxels) of the Gaussian radial shells, as in the paper's code
SHELL_SIGMA = 0.6
#: basis entries below this fraction of the largest are rounding noise of exact zeros (kernel sizes 3-7, all
#: order pairs up to 3: the noise is below 1e-15, the smallest genuine entry above 1e-6)
ROUNDING_NOISE = 1e-13


def shell_band_limit(shell: int, band_limit: BandLimit) -> int:
    """Highest harmonic order ``J`` kept on the radial shell of radius ``shell`` (voxels)."""
    if band_limit not in BAND_LIMITS:
        raise ValueError(f"band_limit must be one of {BAND_LIMITS}, got {band_limit!r}")
    if shell == 0:
        return 0
    return 2 * shell if band_limit == "conservative" else 2 * shell + 1


def basis_orders(l_in: int, l_out: int, kernel_size: int, band_limit: BandLimit) -> list[tuple[int, int]]:
    """The ``(shell, J)`` pairs of the basis, shell-major: the analytic basis-dimension formula.

    ``len(basis_orders(...)) = sum_s #{J : |l_in - l_out| <= J <= min(l_in + l_out, J_max(s))}``.
    """
    _check_kernel_size(kernel_size)
    return [
        (shell, J)
        for shell in range(kernel_size // 2 + 1)
        for J in range(abs(l_in - l_out), l_in + l_out + 1)
        if J <= shell_band_limit(shell, band_limit)
    ]


def kernel_basis(
    l_in: int,
    l_out: int,
    kernel_size: int,
    band_limit: BandLimit = DEFAULT_BAND_LIMIT,
    dtype: torch.dtype = torch.float32,
    sigma: float = SHELL_SIGMA,
) -> torch.Tensor:
    """Orthonormal steerable basis ``[n_basis, 2l_out+1, 2l_in+1, k, k, k]`` (``n_basis`` may be 0).

    The grid offsets along the last three dims are ``-(k//2) .. k//2`` voxels along x, y, z. The returned
    tensor is shared between callers (cached): treat it as read-only.
    """
    return _cached_basis(int(l_in), int(l_out), int(kernel_size), band_limit, dtype, float(sigma))


@functools.cache
def _cached_basis(
    l_in: int, l_out: int, kernel_size: int, band_limit: BandLimit, dtype: torch.dtype, sigma: float
) -> torch.Tensor:
    if dtype != torch.float64:
        return _cached_basis(l_in, l_out, kernel_size, band_limit, torch.float64, sigma).to(dtype)
    elements = _sampled_elements(l_in, l_out, kernel_size, band_limit, sigma)
    if elements.shape[0] == 0:
        return elements
    basis = _orthonormalise(elements)
    # entries that are zero by symmetry come out as float64 rounding noise (|v| ~ 1e-17); as float32 some of
    # those are subnormal, which slows a convolution with the basis itself by 20x on x86 CPUs
    noise = basis.abs() < ROUNDING_NOISE * basis.abs().amax()
    return basis.masked_fill(noise, 0.0)


def clear_basis_cache() -> None:
    """Forget all cached bases (for timing a cold construction; layers keep the tensors they hold)."""
    _cached_basis.cache_clear()


def _check_kernel_size(kernel_size: int) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and >= 1 (a centred kernel), got {kernel_size}")


def _grid_offsets(kernel_size: int) -> torch.Tensor:
    """``[k, k, k, 3]`` float64 offsets (voxels) of the kernel taps from the centre, indexed (x, y, z)."""
    half = kernel_size // 2
    axis = torch.arange(-half, half + 1, dtype=torch.float64)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)


def _sampled_elements(
    l_in: int, l_out: int, kernel_size: int, band_limit: BandLimit, sigma: float
) -> torch.Tensor:
    """The raw elements ``[n, 2l_out+1, 2l_in+1, k, k, k]`` (float64), each scaled to unit Frobenius norm."""
    orders = basis_orders(l_in, l_out, kernel_size, band_limit)
    k = kernel_size
    if not orders:
        return torch.zeros(0, 2 * l_out + 1, 2 * l_in + 1, k, k, k, dtype=torch.float64)
    offsets = _grid_offsets(k)
    radius = offsets.norm(dim=-1)
    harmonics = {J: spherical_harmonics(J, offsets).to(torch.float64) for J in {J for _, J in orders}}
    angular = {  # [2l_out+1, 2l_in+1, k, k, k] for each J
        J: torch.einsum("abc,xyzb->caxyz", clebsch_gordan(l_in, J, l_out), Y) for J, Y in harmonics.items()
    }
    elements = []
    for shell, J in orders:
        radial = torch.exp(-0.5 * ((radius - shell) / sigma) ** 2)
        element = angular[J] * radial
        elements.append(element / element.norm())
    return torch.stack(elements)


def _orthonormalise(elements: torch.Tensor) -> torch.Tensor:
    """Symmetric (Loewdin) orthonormalisation ``G^{-1/2} E`` of the rows of ``E`` ."""
    flat = elements.reshape(elements.shape[0], -1)
    gram = flat @ flat.T
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    if eigenvalues.min() < 1e-8 * eigenvalues.max():
        raise ValueError(
            f"steerable basis elements are linearly dependent on this grid (shape {tuple(elements.shape)}); "
            "use a stricter band limit"
        )
    inverse_sqrt = eigenvectors @ torch.diag(eigenvalues.rsqrt()) @ eigenvectors.T
    return (inverse_sqrt @ flat).reshape(elements.shape)
