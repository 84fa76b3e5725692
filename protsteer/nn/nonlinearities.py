"""Equivariant nonlinearities: gated (Weiler et al. 2018, section 4) and norm nonlinearities.

Scalar (l = 0) fields may go through any pointwise function. A field of order l > 0 may only be multiplied by
an invariant: the gated nonlinearity multiplies it by ``sigmoid(gate)`` where ``gate`` is an extra scalar
channel computed by the preceding convolution; the norm nonlinearity multiplies it by
``act(|f| + b) / |f|`` with a learned bias ``b`` per field.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.field_type import FieldType

#: names accepted wherever a scalar activation is configured (keeps network configs JSON-serialisable)
SCALAR_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "silu": F.silu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}

#: small constant (in squared norm units) that keeps norms differentiable at 0
NORM_EPS = 1e-8


def scalar_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The pointwise function called ``name`` (one of :data:`SCALAR_ACTIVATIONS`)."""
    if name not in SCALAR_ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(SCALAR_ACTIVATIONS)}")
    return SCALAR_ACTIVATIONS[name]


def gated_type(out_type: FieldType) -> FieldType:
    """The field type a convolution must produce before :class:`GatedNonlinearity` yields ``out_type``.

    It has one extra scalar (the gate) per non-scalar field: multiplicities
    ``(m_0 + sum_{l>0} m_l, m_1, m_2, ...)``. Channel layout: scalars, then gates, then the l > 0 fields.
    """
    counts = list(out_type.multiplicities) or [0]
    counts[0] += out_type.n_fields - out_type.n_scalars
    return FieldType(counts)


def field_norms(block: torch.Tensor) -> torch.Tensor:
    """Norms of fields ``[B, m, 2l+1, ...]`` -> ``[B, m, ...]``, in at least float32 (differentiable at 0)."""
    block = block.to(torch.promote_types(block.dtype, torch.float32))
    return torch.sqrt(block.square().sum(dim=2) + NORM_EPS)


class GatedNonlinearity(nn.Module):
    """Gated nonlinearity: scalars -> ``act(s)``, each field ``f`` of order l > 0 -> ``sigmoid(g) f``.

    Input ``[B, gated_type(out_type).dim, ...]`` (scalars, gates, then the non-scalar fields), output
    ``[B, out_type.dim, ...]``.

    Args:
        out_type: the field type after gating.
        activation: name of the scalar activation (see :data:`SCALAR_ACTIVATIONS`).
    """

    def __init__(self, out_type: FieldType, activation: str = "relu") -> None:
        super().__init__()
        self.out_type = out_type
        self.in_type = gated_type(out_type)
        self.activation = activation
        self._act = scalar_activation(activation)
        self.n_scalars = out_type.n_scalars
        self.n_gates = out_type.n_fields - out_type.n_scalars
        self._orders = [l for l in out_type.orders() if l > 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_type.dim, ...]`` -> ``[B, out_type.dim, ...]``.

        Without autograd (inference) the gated fields are written straight into the output tensor instead
        of being concatenated, which saves a copy of the whole feature map.
        """
        t = self.out_type
        scalars, gates, *fields = torch.split(
            x, [self.n_scalars, self.n_gates, *(t.n_channels(l) for l in self._orders)], dim=1
        )
        gate_blocks = torch.split(torch.sigmoid(gates), [t.multiplicity(l) for l in self._orders], dim=1)
        if torch.is_grad_enabled() and x.requires_grad:
            parts = [self._act(scalars)]
            for l, block, gate in zip(self._orders, fields, gate_blocks, strict=True):
                gated = block.unflatten(1, (t.multiplicity(l), 2 * l + 1)) * gate.unsqueeze(2)
                parts.append(gated.flatten(1, 2))
            return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        out = x.new_empty((x.shape[0], t.dim, *x.shape[2:]))
        out[:, : self.n_scalars] = self._act(scalars)
        start = self.n_scalars
        for l, block, gate in zip(self._orders, fields, gate_blocks, strict=True):
            shape = (t.multiplicity(l), 2 * l + 1)
            target = out[:, start : start + t.n_channels(l)].unflatten(1, shape)
            torch.mul(block.unflatten(1, shape), gate.unsqueeze(2), out=target)
            start += t.n_channels(l)
        return out

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, activation={self.activation!r}"


class NormNonlinearity(nn.Module):
    """Norm nonlinearity: scalars -> ``act(s)``, fields of order l > 0 -> ``f * act_norm(|f| + b) / |f|``.

    Input and output ``[B, field_type.dim, ...]``. The norm and the factor are computed in float32.

    Args:
        field_type: type of input and output.
        activation: scalar activation name.
        norm_activation: activation applied to ``|f| + b`` (``relu`` gives the classic norm-ReLU).
    """

    def __init__(
        self, field_type: FieldType, activation: str = "relu", norm_activation: str = "relu"
    ) -> None:
        super().__init__()
        self.in_type = self.out_type = field_type
        self.activation, self.norm_activation = activation, norm_activation
        self._act = scalar_activation(activation)
        self._norm_act = scalar_activation(norm_activation)
        self.norm_bias = nn.Parameter(torch.zeros(field_type.n_fields - field_type.n_scalars))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, dim, ...]`` -> ``[B, dim, ...]``."""
        blocks = self.in_type.split(x)
        parts = [self._act(blocks.pop(0).flatten(1, 2))] if 0 in blocks else []
        offset = 0
        for block in blocks.values():  # [B, m, 2l+1, ...]
            m = block.shape[1]
            norms = field_norms(block)  # [B, m, ...]
            bias = self.norm_bias[offset : offset + m].view(1, m, *([1] * (x.dim() - 2)))
            factor = self._norm_act(norms + bias) / norms
            parts.append((block * factor.unsqueeze(2).to(x.dtype)).flatten(1, 2))
            offset += m
        return torch.cat(parts, dim=1)

    def extra_repr(self) -> str:
        return f"{self.in_type}, activation={self.activation!r}, norm_activation={self.norm_activation!r}"
