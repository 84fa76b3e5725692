"""Field-wise dropout: drops whole fields (all 2l+1 channels together): equivariant in distribution."""

from __future__ import annotations

import torch
from torch import nn

from protsteer.nn.field_type import FieldType


class FieldDropout(nn.Module):
    """Zero each field of each sample with probability ``p`` (one mask over space), scale the rest by 1/(1-p).

    ``[B, field_type.dim, ...]`` -> same shape; the identity in eval mode.
    """

    field_of_channel: torch.Tensor  # [dim] field index of each channel

    def __init__(self, field_type: FieldType, p: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.in_type = self.out_type = field_type
        self.p = float(p)
        self.register_buffer("field_of_channel", field_type.field_of_channel.clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim, ...]`` -> ``[B, dim, ...]``."""
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], self.in_type.n_fields, device=x.device) >= self.p
        mask = keep.index_select(1, self.field_of_channel).to(x.dtype) / (1.0 - self.p)
        return x * mask.view(*mask.shape, *([1] * (x.dim() - 2)))

    def extra_repr(self) -> str:
        return f"{self.in_type}, p={self.p}"
