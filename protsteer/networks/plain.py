"""``PlainCNN3d``: a conventional 3D CNN baseline with the same interface and a similar parameter budget."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from protsteer.errors import ProtsteerError
from protsteer.networks.config import ConfiguredNetwork, per_stage, resolve_config
from protsteer.nn import FieldType, LowPassDownsample3d

#: presets whose feature maps have as many channels as the steerable preset of the same name has field
#: channels (comparable compute per voxel; far more parameters: see docs/nn.md)
PLAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "stages": [15, 30],
        "blocks": [0, 1],
        "kernel_size": 5,
        "residual": False,
        "input_downsample": True,
        "batch_norm": True,
        "head_hidden": 32,
        "dropout": 0.0,
    },
    "small": {
        "stages": [15, 30],
        "blocks": [0, 2],
        "kernel_size": 5,
        "residual": False,
        "input_downsample": True,
        "batch_norm": True,
        "head_hidden": 64,
        "dropout": 0.1,
    },
    "base": {
        "stages": [30, 60, 120],
        "blocks": [1, 2, 2],
        "kernel_size": 5,
        "residual": True,
        "input_downsample": False,
        "batch_norm": True,
        "head_hidden": 128,
        "dropout": 0.2,
    },
}


class ConvBlock(nn.Sequential):
    """Conv3d ('same' padding) -> BatchNorm3d -> ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv3d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm3d(out_channels))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class ResidualConvBlock(nn.Module):
    """Two conv blocks plus a shortcut (identity, or a 1x1 conv when the widths differ)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, batch_norm: bool = True
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBlock(in_channels, out_channels, kernel_size, batch_norm),
            ConvBlock(out_channels, out_channels, kernel_size, batch_norm),
        )
        self.shortcut = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv3d(in_channels, out_channels, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, X, Y, Z]`` -> ``[B, C_out, X, Y, Z]``."""
        return self.body(x) + self.shortcut(x)


class PlainCNN3d(ConfiguredNetwork):
    """Conventional 3D CNN: ``[B, in_channels, G, G, G]`` -> logits ``[B, n_outputs]`` (not invariant).

    Same layout as :class:`~protsteer.networks.steerable.SteerableCNN` with plain channels instead of fields:
    [anti-aliased input downsampling] -> stem -> stages of conv blocks separated by anti-aliased stride-2
    downsampling -> global average pooling -> MLP.

    Args:
        in_channels, n_outputs: as for ``SteerableCNN``.
        **config: ``preset`` and any option of :data:`PLAIN_PRESETS` (``stages`` = channels per stage).
    """

    def __init__(self, in_channels: int, n_outputs: int, **config: Any) -> None:
        super().__init__()
        self.config = resolve_config("plain", PLAIN_PRESETS, in_channels, n_outputs, config)
        cfg = self.config
        widths = [int(c) for c in cfg["stages"]]
        if not widths or min(widths) < 1:
            raise ProtsteerError(
                f"plain 'stages' must be a non-empty list of channel counts, got {cfg['stages']}"
            )
        kernel_sizes = per_stage(cfg["kernel_size"], len(widths), "kernel_size")
        blocks = per_stage(cfg["blocks"], len(widths), "blocks")
        layers: list[nn.Module] = []
        if cfg["input_downsample"]:
            layers.append(LowPassDownsample3d(FieldType([cfg["in_channels"]])))
        layers.append(ConvBlock(cfg["in_channels"], widths[0], kernel_sizes[0], cfg["batch_norm"]))
        current = widths[0]
        for index, (width, kernel_size, n_blocks) in enumerate(
            zip(widths, kernel_sizes, blocks, strict=True)
        ):
            if index > 0:
                layers.append(LowPassDownsample3d(FieldType([current])))
            for _ in range(n_blocks):
                block = ResidualConvBlock if cfg["residual"] else ConvBlock
                layers.append(block(current, width, kernel_size, cfg["batch_norm"]))
                current = width
            if current != width:
                layers.append(ConvBlock(current, width, kernel_size, cfg["batch_norm"]))
                current = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(current, cfg["head_hidden"]),
            nn.ReLU(),
            nn.Dropout(cfg["dropout"]),
            nn.Linear(cfg["head_hidden"], cfg["n_outputs"]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, X, Y, Z]`` density grids -> ``[B, n_outputs]`` logits."""
        return self.head(self.features(x).mean(dim=(2, 3, 4)))
