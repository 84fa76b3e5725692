"""Building networks from their JSON-serialisable configs, and counting parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from protsteer.errors import ProtsteerError
from protsteer.networks.config import ConfiguredNetwork
from protsteer.networks.ensemble import EnsembleNetwork
from protsteer.networks.plain import PlainCNN3d
from protsteer.networks.steerable import SteerableCNN

#: ``config["arch"]`` -> network class
ARCHITECTURES: dict[str, type[ConfiguredNetwork]] = {
    "steerable": SteerableCNN,
    "plain": PlainCNN3d,
    "ensemble": EnsembleNetwork,
}


def build_network(config: Mapping[str, Any]) -> ConfiguredNetwork:
    """Rebuild a network from ``module.config`` (needs ``"arch"``, ``"in_channels"``, ``"n_outputs"``).

    Raises:
        ProtsteerError: missing keys, unknown architecture or option.
    """
    missing = [key for key in ("arch", "in_channels", "n_outputs") if key not in config]
    if missing:
        raise ProtsteerError(f"network config lacks {missing}")
    arch = config["arch"]
    if arch not in ARCHITECTURES:
        raise ProtsteerError(f"unknown network arch {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    options = {k: v for k, v in config.items() if k not in ("arch", "in_channels", "n_outputs")}
    return ARCHITECTURES[arch](config["in_channels"], config["n_outputs"], **options)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
