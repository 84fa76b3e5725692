"""``SteerableConv3d``: a 3D convolution whose kernel is a learned combination of the steerable basis."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.basis import DEFAULT_BAND_LIMIT, BandLimit, kernel_basis
from protsteer.nn.field_type import FieldType
from protsteer.nn.grid import centred_padding


class SteerableConv3d(nn.Module):
    """SE(3)-steerable 3D convolution between feature maps of the given field types.

    Input ``[B, in_type.dim, X, Y, Z]`` -> output ``[B, out_type.dim, X', Y', Z']``. For each pair of an
    output order ``l_out`` and an input order ``l_in`` the kernel block is
    ``weight[u, v, :] @ basis(l_in, l_out)`` (``u``/``v`` index the output/input fields of those orders).
    The forward pass expands the kernel (one einsum per order pair) and runs one ``F.conv3d``. In eval mode
    without autograd the expanded kernel is cached; the cache is dropped by ``train()``, by any in-place
    update of the parameters (tracked by their version counters) and by ``load_state_dict``.

    Args:
        in_type, out_type: field types of the input and output channels.
        kernel_size: odd kernel width in voxels (radial shells at radii 0 .. kernel_size // 2).
        stride: spatial stride. Strided outputs are centred on the grid (see :mod:`protsteer.nn.grid`).
        padding: zero padding in voxels; ``None`` = centred ("same" for stride 1).
        bias: learn a bias for the scalar (l = 0) output fields (other fields cannot have one).
        band_limit: ``"compromise"`` or ``"conservative"`` (see :mod:`protsteer.nn.basis`).
    """

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
        band_limit: BandLimit = DEFAULT_BAND_LIMIT,
    ) -> None:
        super().__init__()
        self.in_type = in_type
        self.out_type = out_type
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.padding = padding
        self.band_limit = band_limit
        #: (l_out, l_in) -> (offset into ``weight``, number of basis elements); only pairs with a basis
        self.blocks: dict[tuple[int, int], tuple[int, int]] = {}
        offset = 0
        for l_out in out_type.orders():
            for l_in in in_type.orders():
                basis = kernel_basis(l_in, l_out, self.kernel_size, band_limit)
                if basis.shape[0] == 0:
                    continue
                self.register_buffer(f"basis_{l_out}_{l_in}", basis, persistent=False)
                self.blocks[(l_out, l_in)] = (offset, basis.shape[0])
                offset += out_type.multiplicity(l_out) * in_type.multiplicity(l_in) * basis.shape[0]
        self.weight = nn.Parameter(torch.empty(offset))
        n_bias = out_type.n_scalars if bias else 0
        self.bias = nn.Parameter(torch.zeros(n_bias)) if n_bias else None
        self._eval_cache: tuple[tuple, torch.Tensor, torch.Tensor | None] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Variance-preserving init: unit-variance white-noise input gives unit-variance output channels."""
        with torch.no_grad():
            for l_out in self.out_type.orders():
                pairs = [(l_in, n) for (lo, l_in), (_, n) in self.blocks.items() if lo == l_out]
                fan_in_fields = sum(self.in_type.multiplicity(l_in) for l_in, _ in pairs)
                for l_in, n in pairs:
                    std = math.sqrt((2 * l_out + 1) / (n * fan_in_fields))
                    self._block_weight(l_out, l_in).normal_(0.0, std)
            if self.bias is not None:
                self.bias.zero_()
        self._eval_cache = None

    def _block_weight(self, l_out: int, l_in: int) -> torch.Tensor:
        """View ``[m_out, m_in, n_basis]`` of ``weight`` for the order pair."""
        offset, n = self.blocks[(l_out, l_in)]
        m_out, m_in = self.out_type.multiplicity(l_out), self.in_type.multiplicity(l_in)
        return self.weight[offset : offset + m_out * m_in * n].view(m_out, m_in, n)

    def expand_kernel(self) -> torch.Tensor:
        """The full kernel ``[out_type.dim, in_type.dim, k, k, k]`` (in the autocast dtype under autocast)."""
        k = self.kernel_size
        grid: list[list[torch.Tensor | None]] = []
        for l_out in self.out_type.orders():
            row: list[torch.Tensor | None] = []
            for l_in in self.in_type.orders():
                if (l_out, l_in) not in self.blocks:
                    row.append(None)
                    continue
                basis = getattr(self, f"basis_{l_out}_{l_in}")
                block = torch.einsum("uvn,nabxyz->uavbxyz", self._block_weight(l_out, l_in), basis)
                row.append(
                    block.reshape(self.out_type.n_channels(l_out), self.in_type.n_channels(l_in), k, k, k)
                )
            grid.append(row)
        computed = [block for row in grid for block in row if block is not None]
        dtype = computed[0].dtype if computed else self.weight.dtype
        rows = []
        for l_out, row in zip(self.out_type.orders(), grid, strict=True):
            filled = [
                block
                if block is not None
                else self.weight.new_zeros(
                    self.out_type.n_channels(l_out), self.in_type.n_channels(l_in), k, k, k, dtype=dtype
                )
                for l_in, block in zip(self.in_type.orders(), row, strict=True)
            ]
            rows.append(torch.cat(filled, dim=1))
        return torch.cat(rows, dim=0)

    def full_bias(self) -> torch.Tensor | None:
        """Bias over all output channels ``[out_type.dim]`` (zeros on non-scalar fields) or ``None``."""
        if self.bias is None:
            return None
        return F.pad(self.bias, (0, self.out_type.dim - self.bias.shape[0]))

    def _kernel_and_bias(self, device_type: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        needs_graph = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        if self.training or needs_graph:
            self._eval_cache = None
            return self.expand_kernel(), self.full_bias()
        key = (
            tuple((p._version, p.data_ptr(), p.dtype, p.device) for p in self.parameters()),
            torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type),
        )
        if self._eval_cache is None or self._eval_cache[0] != key:
            self._eval_cache = (key, self.expand_kernel(), self.full_bias())
        return self._eval_cache[1], self._eval_cache[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_type.dim, X, Y, Z]`` -> ``[B, out_type.dim, X', Y', Z']``."""
        kernel, bias = self._kernel_and_bias(x.device.type)
        if self.padding is None:
            x, padding = centred_padding(x, self.kernel_size, self.stride)
        else:
            padding = (self.padding,) * 3
        return F.conv3d(x, kernel, bias, self.stride, padding)

    def train(self, mode: bool = True) -> SteerableConv3d:
        self._eval_cache = None
        return super().train(mode)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        """After ``.to()``/``.double()``/...: re-fetch each basis in its new dtype instead of casting it, so a
        float64 layer gets the float64 basis (casting the float32 one would lose exactness)."""
        self._eval_cache = None
        result = super()._apply(fn, recurse)
        for l_out, l_in in self.blocks:
            name = f"basis_{l_out}_{l_in}"
            moved = self._buffers[name]
            exact = kernel_basis(l_in, l_out, self.kernel_size, self.band_limit, dtype=moved.dtype)
            self._buffers[name] = exact.to(moved.device)
        return result

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self._eval_cache = None
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def cached_kernel(self) -> torch.Tensor | None:
        """The eval-mode kernel cache (``None`` when empty); for inspection and tests."""
        return None if self._eval_cache is None else self._eval_cache[1]

    def extra_repr(self) -> str:
        return (
            f"{self.in_type} -> {self.out_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"band_limit={self.band_limit!r}, bias={self.bias is not None}"
        )
