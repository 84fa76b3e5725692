"""Network definitions built from :mod:`protsteer.nn` blocks: the steerable CNN, a plain 3D CNN baseline, and
ensembles of either.

Weight files store ``module.config`` (a JSON-serialisable dict); :func:`build_network` rebuilds the module.
"""

from __future__ import annotations

from protsteer.networks.build import ARCHITECTURES, build_network, count_parameters
from protsteer.networks.config import ConfiguredNetwork
from protsteer.networks.ensemble import EnsembleNetwork
from protsteer.networks.plain import PLAIN_PRESETS, PlainCNN3d
from protsteer.networks.steerable import STEERABLE_PRESETS, SteerableCNN

__all__ = [
    "ARCHITECTURES",
    "ConfiguredNetwork",
    "EnsembleNetwork",
    "PLAIN_PRESETS",
    "STEERABLE_PRESETS",
    "PlainCNN3d",
    "SteerableCNN",
    "build_network",
    "count_parameters",
]
