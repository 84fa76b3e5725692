"""Equivariant batch normalisation.

Scalar fields: the usual mean/variance normalisation with an affine map. Fields of order l > 0 are not
centred (a fixed running mean vector would not commute with rotations); they are divided by
``sqrt(E|f|^2 / (2l + 1) + eps)`` (the per-component second moment over batch and space) and scaled by a
learned weight per field. Statistics are computed in (at least) float32, also under autocast, and are
invariant under rotations of the input, so the layer is equivariant in training and in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.field_type import FieldType


class SteerableBatchNorm3d(nn.Module):
    """Batch norm for steerable feature maps ``[B, field_type.dim, X, Y, Z]`` (or ``[B, dim]``).

    Args:
        field_type: type of input and output.
        eps: added to the variances.
        momentum: weight of the current batch in the running statistics.
        affine: learn a weight per field and a bias per scalar field.
    """

    running_mean: torch.Tensor  # [scalar fields]
    running_var: torch.Tensor  # [scalar fields]
    running_sqnorm: torch.Tensor  # [l > 0 fields]
    weight: nn.Parameter | None  # [fields]
    bias: nn.Parameter | None  # [scalar fields]

    def __init__(
        self, field_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ) -> None:
        super().__init__()
        self.in_type = self.out_type = field_type
        self.eps, self.momentum = eps, momentum
        n_scalars = field_type.n_scalars
        n_vector_fields = field_type.n_fields - n_scalars
        self.register_buffer("running_mean", torch.zeros(n_scalars))
        self.register_buffer("running_var", torch.ones(n_scalars))
        self.register_buffer("running_sqnorm", torch.ones(n_vector_fields))
        if affine:
            self.weight = nn.Parameter(torch.ones(field_type.n_fields))
            self.bias = nn.Parameter(torch.zeros(n_scalars))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim, ...]`` -> ``[B, dim, ...]`` in the dtype of ``x``."""
        if not self.training:
            return self._eval_affine(x)
        blocks = self.in_type.split(x)
        n_scalars = self.in_type.n_scalars
        compute_dtype = torch.promote_types(x.dtype, self.running_sqnorm.dtype)
        parts = []
        if 0 in blocks:
            scalar_weight = None if self.weight is None else self.weight[:n_scalars]
            with torch.autocast(x.device.type, enabled=False):
                scalars = F.batch_norm(
                    blocks.pop(0).flatten(1, 2).to(compute_dtype),
                    self.running_mean,
                    self.running_var,
                    scalar_weight,
                    self.bias,
                    self.training,
                    self.momentum,
                    self.eps,
                )
            parts.append(scalars.to(x.dtype))
        offset = 0
        for block in blocks.values():  # [B, m, 2l+1, ...]
            m = block.shape[1]
            if self.training:
                dims = [0, 2, *range(3, block.dim())]  # batch, components, space
                second_moment = block.to(compute_dtype).square().mean(dim=dims)  # [m]
                with torch.no_grad():
                    self.running_sqnorm[offset : offset + m].lerp_(second_moment.detach(), self.momentum)
            else:
                second_moment = self.running_sqnorm[offset : offset + m]
            scale = torch.rsqrt(second_moment + self.eps)
            if self.weight is not None:
                scale = scale * self.weight[n_scalars + offset : n_scalars + offset + m]
            scale = scale.view(1, m, 1, *([1] * (block.dim() - 3)))
            parts.append((block * scale.to(x.dtype)).flatten(1, 2))
            offset += m
        return torch.cat(parts, dim=1)

    def _eval_affine(self, x: torch.Tensor) -> torch.Tensor:
        """Eval mode: every channel gets a fixed affine map, so one ``F.batch_norm`` call over all channels
        does it: scalars use their running mean and variance, the channels of an l > 0 field mean 0 and the
        field's running second moment (no centring; the same scale for all 2l+1 components)."""
        field_type = self.in_type
        n_scalars = field_type.n_scalars
        vector_channels = field_type.field_of_channel[n_scalars:].to(x.device) - n_scalars  # l > 0 field
        mean = torch.cat([self.running_mean, self.running_mean.new_zeros(len(vector_channels))])
        var = torch.cat([self.running_var, self.running_sqnorm[vector_channels]])
        weight = bias = None
        if self.weight is not None and self.bias is not None:  # affine
            weight = torch.cat([self.weight[:n_scalars], self.weight[n_scalars:][vector_channels]])
            bias = torch.cat([self.bias, self.bias.new_zeros(len(vector_channels))])
        compute_dtype = torch.promote_types(x.dtype, self.running_sqnorm.dtype)
        with torch.autocast(x.device.type, enabled=False):
            out = F.batch_norm(x.to(compute_dtype), mean, var, weight, bias, False, 0.0, self.eps)
        return out.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.in_type}, eps={self.eps}, momentum={self.momentum}, affine={self.weight is not None}"
