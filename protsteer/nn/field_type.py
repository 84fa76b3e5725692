"""Field types: how the channels of a feature map split into fields of rotation order l.

A feature map is a tensor ``[batch, channels, x, y, z]``. Its channels hold ``multiplicities[l]`` fields of
order ``l`` for each ``l``; a field of order ``l`` has ``2l + 1`` channels that rotate together with the
Wigner matrix ``D^l(R)``. Layout: l-major, then copies, each field's ``2l + 1`` channels contiguous; so with
multiplicities ``(2, 1)`` the channels are ``[s0, s1, v_x, v_y, v_z]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import torch

from protsteer.so3 import wigner_D


class FieldType:
    """The representation a feature map's channels carry (a direct sum of SO(3) irreps).

    Args:
        multiplicities: ``multiplicities[l]`` = number of fields of order ``l``; trailing zeros are dropped.
    """

    def __init__(self, multiplicities: Sequence[int]) -> None:
        counts = [int(m) for m in multiplicities]
        if any(m < 0 for m in counts):
            raise ValueError(f"field multiplicities must be >= 0, got {list(multiplicities)}")
        while counts and counts[-1] == 0:
            counts.pop()
        self._multiplicities: tuple[int, ...] = tuple(counts)

    @property
    def multiplicities(self) -> tuple[int, ...]:
        """Number of fields per order, ``multiplicities[l]``, without trailing zeros."""
        return self._multiplicities

    @property
    def lmax(self) -> int:
        """Highest order present (-1 for the empty type)."""
        return len(self._multiplicities) - 1

    @property
    def dim(self) -> int:
        """Number of channels: ``sum_l multiplicities[l] * (2l + 1)``."""
        return sum(m * (2 * l + 1) for l, m in enumerate(self._multiplicities))

    @property
    def n_fields(self) -> int:
        """Number of fields of any order."""
        return sum(self._multiplicities)

    @property
    def n_scalars(self) -> int:
        """Number of order-0 fields (they come first in the channel layout)."""
        return self._multiplicities[0] if self._multiplicities else 0

    def multiplicity(self, l: int) -> int:
        """Number of fields of order ``l`` (0 beyond ``lmax``)."""
        return self._multiplicities[l] if 0 <= l < len(self._multiplicities) else 0

    def n_channels(self, l: int) -> int:
        """Number of channels of all order-``l`` fields: ``multiplicity(l) * (2l + 1)``."""
        return self.multiplicity(l) * (2 * l + 1)

    def orders(self) -> list[int]:
        """Orders ``l`` with at least one field, ascending."""
        return [l for l, m in enumerate(self._multiplicities) if m > 0]

    def channel_slice(self, l: int) -> slice:
        """Channels of all order-``l`` fields (a contiguous block of ``multiplicity(l) * (2l + 1)``)."""
        start = sum(m * (2 * k + 1) for k, m in enumerate(self._multiplicities[:l]))
        return slice(start, start + self.n_channels(l))

    def split(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Views of ``x`` ``[B, dim, ...]`` per order: ``{l: [B, m_l, 2l+1, ...]}`` for the orders present.

        Uses ``torch.split`` (whose backward is one concatenation, cheaper than slicing).
        """
        orders = self.orders()
        blocks = torch.split(x, [self.n_channels(l) for l in orders], dim=1)
        return {
            l: block.unflatten(1, (self.multiplicity(l), 2 * l + 1))
            for l, block in zip(orders, blocks, strict=True)
        }

    @cached_property
    def field_of_channel(self) -> torch.Tensor:
        """``[dim]`` int64: index of the field (0 .. n_fields-1, in layout order) each channel belongs to."""
        sizes = [2 * l + 1 for l, m in enumerate(self._multiplicities) for _ in range(m)]
        return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.long))

    def fiber_rotation(self, R: torch.Tensor) -> torch.Tensor:
        """Block-diagonal ``D(R)`` acting on the channels: ``[dim, dim]`` in the dtype/device of ``R``.

        Args:
            R: ``[3, 3]`` rotation matrix.
        """
        blocks = [wigner_D(l, R) for l, m in enumerate(self._multiplicities) for _ in range(m)]
        if not blocks:
            return torch.zeros(0, 0, dtype=R.dtype, device=R.device)
        return torch.block_diag(*blocks)

    def __add__(self, other: FieldType) -> FieldType:
        """The type with the multiplicities of both (channels l-major: not a concatenation of tensors)."""
        n = max(len(self._multiplicities), len(other._multiplicities))
        return FieldType([self.multiplicity(l) + other.multiplicity(l) for l in range(n)])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldType) and self._multiplicities == other._multiplicities

    def __hash__(self) -> int:
        return hash(("FieldType", self._multiplicities))

    def __repr__(self) -> str:
        return f"FieldType({list(self._multiplicities)})"
