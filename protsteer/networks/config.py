"""Network configurations: presets, validation, and the JSON-serialisable ``module.config`` convention.

A network's ``config`` is a plain dict (JSON-serialisable) holding everything needed to rebuild it:
``"arch"`` (``"steerable"`` or ``"plain"``), ``"in_channels"``, ``"n_outputs"``, ``"preset"`` and every
architecture option, fully expanded (a preset only fills in defaults; explicit keys win).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from torch import nn

from protsteer.errors import ProtsteerError


class ConfiguredNetwork(nn.Module):
    """A network that carries its own ``config`` (the dict :func:`protsteer.networks.build_network`
    rebuilds it from)."""

    config: dict[str, Any]


def resolve_config(
    arch: str,
    presets: Mapping[str, Mapping[str, Any]],
    in_channels: int,
    n_outputs: int,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Expand ``options`` (with an optional ``"preset"``, default ``"small"``) into a full config dict.

    Raises:
        ProtsteerError: unknown preset, unknown option, or bad channel counts.
    """
    options = dict(options)
    options.pop("arch", None)
    preset = options.pop("preset", "small")
    if preset not in presets:
        raise ProtsteerError(f"unknown {arch} network preset {preset!r}; choose one of {sorted(presets)}")
    defaults = presets[preset]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ProtsteerError(f"unknown {arch} network option(s) {unknown}; known: {sorted(defaults)}")
    if int(in_channels) < 1 or int(n_outputs) < 1:
        raise ProtsteerError(f"in_channels and n_outputs must be >= 1, got {in_channels} and {n_outputs}")
    config: dict[str, Any] = {"arch": arch, "in_channels": int(in_channels), "n_outputs": int(n_outputs)}
    config["preset"] = preset
    config.update(copy.deepcopy(dict(defaults)))
    config.update(copy.deepcopy(options))
    return config


def per_stage(value: int | list[int], n_stages: int, name: str) -> list[int]:
    """A per-stage list from one int or a list of ``n_stages`` ints."""
    values = [int(value)] * n_stages if isinstance(value, int) else [int(v) for v in value]
    if len(values) != n_stages:
        raise ProtsteerError(f"network option {name!r} needs {n_stages} values (one per stage), got {value}")
    return values
