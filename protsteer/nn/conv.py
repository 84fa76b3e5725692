"""``SteerableConv3d``: a 3D convolution whose kernel is a learned combination of the steerable basis."""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.basis import DEFAULT_BAND_LIMIT, BandLimit, kernel_basis
from protsteer.nn.field_type import FieldType
from protsteer.nn.grid import centred_padding

ConvAlgorithm = Literal["auto", "expanded", "factored"]
CONV_ALGORITHMS: tuple[str, ...] = get_args(ConvAlgorithm)
#: ``"auto"`` runs an inference call on the CPU factored when that needs at most this fraction of the
#: multiply-adds of the expanded kernel (benchmarks/layer_speed.py on 2 CPU cores, propensity-v3's layers:
#: cost 0.17 ran in 0.40x the time of the expanded layer, 0.32 in 0.75x, 0.55 in 1.6x; docs/nn.md)
FACTORED_AUTO_MAX_COST = 0.35


class SteerableConv3d(nn.Module):
    """SE(3)-steerable 3D convolution between feature maps of the given field types.

    Input ``[B, in_type.dim, X, Y, Z]`` -> output ``[B, out_type.dim, X', Y', Z']``. For each pair of an
    output order ``l_out`` and an input order ``l_in`` the kernel block is
    ``weight[u, v, :] @ basis(l_in, l_out)`` (``u``/``v`` index the output/input fields of those orders).
    Two ways to compute the same map (``algorithm``):

    * ``"expanded"``: expand the kernel (one einsum per order pair) and run one ``F.conv3d``. In eval mode
      without autograd the expanded kernel is cached; the cache is dropped by ``train()``, by any in-place
      update of the parameters (tracked by their version counters) and by ``load_state_dict``.
    * ``"factored"``: convolve every input field with the fixed basis filters (one ``F.conv3d`` per input
      order, fields as batch), then mix the filtered fields with the learned weights (one batched matmul per
      order pair and basis element). It needs ``factored_cost`` times the multiply-adds of ``"expanded"``,
      which pays off for wide layers on small grids.
    * ``"auto"`` (default): factored for inference calls (eval mode, no autograd) on the CPU when
      ``factored_cost <= FACTORED_AUTO_MAX_COST``, expanded otherwise.

    Args:
        in_type, out_type: field types of the input and output channels.
        kernel_size: odd kernel width in voxels (radial shells at radii 0 .. kernel_size // 2).
        stride: spatial stride. Strided outputs are centred on the grid (see :mod:`protsteer.nn.grid`).
        padding: zero padding in voxels; ``None`` = centred ("same" for stride 1).
        bias: learn a bias for the scalar (l = 0) output fields (other fields cannot have one).
        band_limit: ``"compromise"`` or ``"conservative"`` (see :mod:`protsteer.nn.basis`).
        algorithm: ``"auto"``, ``"expanded"`` or ``"factored"`` (above); not part of the state dict.
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
        algorithm: ConvAlgorithm = "auto",
    ) -> None:
        super().__init__()
        if algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {CONV_ALGORITHMS}, got {algorithm!r}")
        self.algorithm = algorithm
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
        self._filter_banks: dict[int, torch.Tensor] = {}
        self.reset_parameters()

    @property
    def factored_cost(self) -> float:
        """Multiply-adds per output voxel of ``"factored"`` divided by those of ``"expanded"``."""
        k3 = self.kernel_size**3
        filtering = mixing = 0
        for (l_out, l_in), (_, n) in self.blocks.items():
            m_in = self.in_type.multiplicity(l_in)
            filtering += m_in * n * (2 * l_out + 1) * (2 * l_in + 1) * k3
            mixing += self.out_type.multiplicity(l_out) * m_in * n * (2 * l_out + 1)
        return (filtering + mixing) / (self.out_type.dim * self.in_type.dim * k3)

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

    def _is_inference_call(self) -> bool:
        """Eval mode and no autograd graph to build (the regime of the caches and of ``"auto"``)."""
        needs_graph = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        return not (self.training or needs_graph)

    def _kernel_and_bias(self, device_type: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self._is_inference_call():
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

    def runs_factored(self, x: torch.Tensor) -> bool:
        """Whether a call on ``x`` now would take the factored path."""
        if self.algorithm != "auto":
            return self.algorithm == "factored"
        return (
            x.device.type == "cpu"
            and self.factored_cost <= FACTORED_AUTO_MAX_COST
            and self._is_inference_call()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_type.dim, X, Y, Z]`` -> ``[B, out_type.dim, X', Y', Z']``."""
        factored = self.runs_factored(x)
        if self.padding is None:
            x, padding = centred_padding(x, self.kernel_size, self.stride)
        else:
            padding = (self.padding,) * 3
        if factored:
            return self._factored_forward(x, padding)
        kernel, bias = self._kernel_and_bias(x.device.type)
        return F.conv3d(x, kernel, bias, self.stride, padding)

    def _filter_bank(self, l_in: int) -> torch.Tensor:
        """The basis filters acting on one input field of order ``l_in``.

        Shape ``[sum_l_out n (2 l_out + 1), 2 l_in + 1, k, k, k]``; output channels ordered by ``l_out``
        (as in ``blocks``), then basis element, then component.
        """
        if l_in not in self._filter_banks:
            k = self.kernel_size
            filters = [
                getattr(self, f"basis_{l_out}_{li}").reshape(-1, 2 * l_in + 1, k, k, k)
                for l_out, li in self.blocks
                if li == l_in
            ]
            self._filter_banks[l_in] = torch.cat(filters).contiguous()
        return self._filter_banks[l_in]

    def _factored_forward(self, x: torch.Tensor, padding: tuple[int, int, int]) -> torch.Tensor:
        """The convolution as basis filtering then mixing; ``x`` is already cropped for ``padding``.

        Per input order: ``[B * m_in, 2 l_in + 1, X, Y, Z]`` (fields as batch) convolved with the filter bank
        gives ``[B, m_in, n_filters, voxels]``. Per order pair and basis element the ``[m_in, (2 l_out + 1) *
        voxels]`` slice of each sample is a strided matrix; one batched matmul with the weights
        ``[m_out, m_in]`` accumulates it into the output fields in place (no copies of the filtered fields).
        """
        batch = x.shape[0]
        spatial = [
            (size + 2 * pad - self.kernel_size) // self.stride + 1
            for size, pad in zip(x.shape[2:], padding, strict=True)
        ]
        voxels = math.prod(spatial)
        device_type = x.device.type
        autocast = torch.is_autocast_enabled(device_type)
        dtype = torch.get_autocast_dtype(device_type) if autocast else x.dtype
        y = x.new_zeros(batch, self.out_type.dim, voxels, dtype=dtype)
        for l_in in self.in_type.orders():
            m_in, width = self.in_type.multiplicity(l_in), 2 * l_in + 1
            fields = x[:, self.in_type.channel_slice(l_in)].reshape(batch * m_in, width, *x.shape[2:])
            pairs = [(l_out, n) for (l_out, li), (_, n) in self.blocks.items() if li == l_in]
            if not pairs:
                continue
            bank = self._filter_bank(l_in)
            filtered = F.conv3d(fields.to(dtype), bank.to(dtype), None, self.stride, padding)
            filtered = filtered.view(batch, m_in, bank.shape[0], voxels)
            start = 0
            for l_out, n in pairs:
                size = 2 * l_out + 1
                weight = self._block_weight(l_out, l_in).to(dtype)  # [m_out, m_in, n]
                m_out = weight.shape[0]
                target = y[:, self.out_type.channel_slice(l_out)].view(batch, m_out, size * voxels)
                for element in range(n):
                    block = filtered[:, :, start : start + size].reshape(batch, m_in, size * voxels)
                    target.baddbmm_(weight[:, :, element].expand(batch, m_out, m_in), block)
                    start += size
        y = y.view(batch, self.out_type.dim, *spatial)
        bias = self.full_bias()
        return y if bias is None else y + bias.to(dtype).view(1, -1, 1, 1, 1)

    def train(self, mode: bool = True) -> SteerableConv3d:
        self._eval_cache = None
        return super().train(mode)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        """After ``.to()``/``.double()``/...: re-fetch each basis in its new dtype instead of casting it, so a
        float64 layer gets the float64 basis (casting the float32 one would lose exactness)."""
        self._eval_cache = None
        self._filter_banks = {}
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
            f"band_limit={self.band_limit!r}, bias={self.bias is not None}, algorithm={self.algorithm!r}"
        )
