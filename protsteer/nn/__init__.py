"""Equivariant layers for 3D steerable CNNs (Weiler et al. 2018): field types, the analytic steerable kernel
basis, steerable convolutions, nonlinearities, batch norm, pooling, dropout, and equivariance checks.

Feature maps are ``[batch, channels, x, y, z]`` tensors whose channels are described by a :class:`FieldType`.
"""

from __future__ import annotations

from protsteer.nn.basis import BAND_LIMITS, DEFAULT_BAND_LIMIT, basis_orders, kernel_basis
from protsteer.nn.batchnorm import SteerableBatchNorm3d
from protsteer.nn.conv import SteerableConv3d
from protsteer.nn.dropout import FieldDropout
from protsteer.nn.equivariance import EquivarianceReport, check_equivariance, rotate_field, smooth_field
from protsteer.nn.field_type import FieldType
from protsteer.nn.nonlinearities import SCALAR_ACTIVATIONS, GatedNonlinearity, NormNonlinearity, gated_type
from protsteer.nn.pooling import GlobalInvariantPool, LowPassDownsample3d, SteerableAvgPool3d
from protsteer.nn.pseudoscalar import PseudoscalarInvariants

__all__ = [
    "BAND_LIMITS",
    "DEFAULT_BAND_LIMIT",
    "SCALAR_ACTIVATIONS",
    "EquivarianceReport",
    "FieldDropout",
    "FieldType",
    "GatedNonlinearity",
    "GlobalInvariantPool",
    "LowPassDownsample3d",
    "NormNonlinearity",
    "PseudoscalarInvariants",
    "SteerableAvgPool3d",
    "SteerableBatchNorm3d",
    "SteerableConv3d",
    "basis_orders",
    "check_equivariance",
    "gated_type",
    "kernel_basis",
    "rotate_field",
    "smooth_field",
]
