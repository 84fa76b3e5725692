"""``SteerableCNN``: a rotation-invariant classifier of scalar density grids, in the style of the paper.

Layout: [optional anti-aliased input downsampling] -> stem (gated steerable conv from the scalar input
channels) -> stages of gated blocks (residual or plain), separated by anti-aliased stride-2 downsampling
-> global pooling to invariants (scalars and norms of the l > 0 fields) -> small MLP -> logits.

Exactness: for an odd grid size ``G`` every layer commutes with the 24 rotations of the cube up to rounding
(the strided layers keep centred, odd grids: 21 -> 11 -> 5 -> 3), so the logits are invariant under
``rotate_grid`` of the input, in training (batch statistics) and eval mode. For even ``G`` a stride-2 layer
cannot be centred and cube invariance is approximate. Under continuous rotations invariance is approximate
(sampling, band limits); see docs/nn.md for measured errors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from protsteer.errors import ProtsteerError
from protsteer.networks.config import ConfiguredNetwork, per_stage, resolve_config
from protsteer.nn import (
    DEFAULT_BAND_LIMIT,
    FieldDropout,
    FieldType,
    GatedNonlinearity,
    GlobalInvariantPool,
    LowPassDownsample3d,
    PseudoscalarInvariants,
    SteerableBatchNorm3d,
    SteerableConv3d,
    gated_type,
)
from protsteer.nn.basis import BandLimit

#: options every steerable preset shares (a preset below names only what differs)
_STEERABLE_COMMON: dict[str, Any] = {
    "kernel_size": 5,
    "band_limit": DEFAULT_BAND_LIMIT,
    "activation": "relu",
    "batch_norm": True,
    "field_dropout": 0.0,
    "pool_norms": True,
    "pool_window": "cube",
    "pseudoscalar_radii": [],
}

#: presets; sizes, parameter counts and CPU speeds are measured in docs/nn.md
STEERABLE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        **_STEERABLE_COMMON,
        "stages": [[4, 2, 1], [8, 4, 2]],
        "blocks": [0, 1],
        "residual": False,
        "input_downsample": True,
        "head_hidden": 32,
        "dropout": 0.0,
    },
    "small": {
        **_STEERABLE_COMMON,
        "stages": [[4, 2, 1], [8, 4, 2]],
        "blocks": [0, 2],
        "residual": False,
        "input_downsample": True,
        "head_hidden": 64,
        "dropout": 0.1,
    },
    "base": {
        **_STEERABLE_COMMON,
        "stages": [[8, 4, 2], [16, 8, 4], [32, 16, 8]],
        "blocks": [1, 2, 2],
        "residual": True,
        "input_downsample": False,
        "head_hidden": 128,
        "dropout": 0.2,
    },
}


class GatedConvBlock(nn.Sequential):
    """Steerable conv -> equivariant batch norm -> gated nonlinearity: ``in_type`` -> ``out_type``."""

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        kernel_size: int,
        band_limit: BandLimit = DEFAULT_BAND_LIMIT,
        activation: str = "relu",
        batch_norm: bool = True,
    ) -> None:
        conv_type = gated_type(out_type)
        layers: list[nn.Module] = [
            SteerableConv3d(in_type, conv_type, kernel_size, bias=not batch_norm, band_limit=band_limit)
        ]
        if batch_norm:
            layers.append(SteerableBatchNorm3d(conv_type))
        layers.append(GatedNonlinearity(out_type, activation))
        super().__init__(*layers)
        self.in_type, self.out_type = in_type, out_type


class ResidualGatedBlock(nn.Module):
    """Two gated conv blocks plus a shortcut (identity, or a 1x1 steerable conv when the types differ)."""

    def __init__(
        self, in_type: FieldType, out_type: FieldType, kernel_size: int, **block_options: Any
    ) -> None:
        super().__init__()
        self.in_type, self.out_type = in_type, out_type
        self.body = nn.Sequential(
            GatedConvBlock(in_type, out_type, kernel_size, **block_options),
            GatedConvBlock(out_type, out_type, kernel_size, **block_options),
        )
        self.shortcut = (
            nn.Identity() if in_type == out_type else SteerableConv3d(in_type, out_type, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_type.dim, X, Y, Z]`` -> ``[B, out_type.dim, X, Y, Z]``."""
        return self.body(x) + self.shortcut(x)


class SteerableCNN(ConfiguredNetwork):
    """Rotation-invariant 3D steerable CNN: ``[B, in_channels, G, G, G]`` -> logits ``[B, n_outputs]``.

    Args:
        in_channels: number of scalar density channels of the input grid.
        n_outputs: number of logits.
        **config: ``preset`` (``"tiny"``, ``"small"`` (default) or ``"base"``) and any option of
            :data:`STEERABLE_PRESETS` to override: ``stages`` (field multiplicities per stage, up to l = 3),
            ``blocks`` (blocks per stage after the stem / the stage's downsampling), ``kernel_size`` (int or
            one per stage, odd, voxels), ``residual``, ``input_downsample`` (anti-aliased stride 2 on the
            input first), ``band_limit``, ``activation``, ``batch_norm``, ``field_dropout``, ``pool_norms``,
            ``pool_window`` (``"cube"`` or ``"ball"``, see ``GlobalInvariantPool``), ``pseudoscalar_radii``
            (shell radii in voxels of the chirality invariants computed from the input by
            :class:`PseudoscalarInvariants`, batch normalised and appended to the pooled invariants; empty =
            none), ``head_hidden``, ``dropout`` (head).
    """

    def __init__(self, in_channels: int, n_outputs: int, **config: Any) -> None:
        super().__init__()
        self.config = resolve_config("steerable", STEERABLE_PRESETS, in_channels, n_outputs, config)
        cfg = self.config
        stages = [FieldType(m) for m in cfg["stages"]]
        if not stages or any(t.lmax > 3 or t.n_fields == 0 for t in stages):
            raise ProtsteerError(
                f"steerable 'stages' must be non-empty field counts up to l = 3, got {cfg['stages']}"
            )
        kernel_sizes = per_stage(cfg["kernel_size"], len(stages), "kernel_size")
        blocks = per_stage(cfg["blocks"], len(stages), "blocks")
        block_options = {
            "band_limit": cfg["band_limit"],
            "activation": cfg["activation"],
            "batch_norm": cfg["batch_norm"],
        }
        input_type = FieldType([cfg["in_channels"]])
        layers: list[nn.Module] = []
        if cfg["input_downsample"]:
            layers.append(LowPassDownsample3d(input_type))
        layers.append(GatedConvBlock(input_type, stages[0], kernel_sizes[0], **block_options))
        current = stages[0]
        for index, (stage, kernel_size, n_blocks) in enumerate(
            zip(stages, kernel_sizes, blocks, strict=True)
        ):
            if index > 0:
                layers.append(LowPassDownsample3d(current))
            for _ in range(n_blocks):
                block = ResidualGatedBlock if cfg["residual"] else GatedConvBlock
                layers.append(block(current, stage, kernel_size, **block_options))
                current = stage
            if current != stage:  # a stage without blocks still changes the field type
                layers.append(GatedConvBlock(current, stage, kernel_size, **block_options))
                current = stage
            if cfg["field_dropout"] > 0:
                layers.append(FieldDropout(current, cfg["field_dropout"]))
        self.features = nn.Sequential(*layers)
        self.pool = GlobalInvariantPool(current, norms=cfg["pool_norms"], window=cfg["pool_window"])
        self.pseudoscalars: nn.Sequential | None = None
        n_pseudoscalars = 0
        if cfg["pseudoscalar_radii"]:
            try:
                chirality = PseudoscalarInvariants(cfg["pseudoscalar_radii"], window=cfg["pool_window"])
            except ValueError as err:  # the layer validates its radii; report them as a config error
                raise ProtsteerError(f"steerable 'pseudoscalar_radii': {err}") from None
            n_pseudoscalars = chirality.n_invariants
            norm = nn.BatchNorm1d(n_pseudoscalars) if cfg["batch_norm"] else nn.Identity()
            self.pseudoscalars = nn.Sequential(chirality, norm)
        self.head = nn.Sequential(
            nn.Linear(self.pool.out_type.dim + n_pseudoscalars, cfg["head_hidden"]),
            nn.ReLU(),
            nn.Dropout(cfg["dropout"]),
            nn.Linear(cfg["head_hidden"], cfg["n_outputs"]),
        )
        self.in_type = input_type
        self.feature_type = current

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, X, Y, Z]`` density grids -> ``[B, n_outputs]`` logits."""
        return self.head(self.invariants(x))

    def invariants(self, x: torch.Tensor) -> torch.Tensor:
        """The rotation invariants ``[B, n_invariants]`` (the head's input; useful as an embedding).

        The pooled features, then the pseudo-scalars if configured.
        """
        pooled = self.pool(self.features(x))
        if self.pseudoscalars is None:
            return pooled
        return torch.cat([pooled, self.pseudoscalars(x).to(pooled.dtype)], dim=1)
