"""``EnsembleNetwork``: several trained networks on the same input, averaged in probability space.

Used to ship the runs of one recipe with different seeds as one model (``protsteer train export RUN
RUN ...``): the average of K runs is more accurate than a typical single run and does not depend on a lucky
seed. The members may have different architectures; they must read the same input channels and predict the
same classes. Rotation invariance of every member carries over to the ensemble.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from protsteer.errors import ProtsteerError
from protsteer.networks.config import ConfiguredNetwork


class EnsembleNetwork(ConfiguredNetwork):
    """Mean of the members' class probabilities: ``[B, in_channels, X, Y, Z]`` -> ``[B, n_outputs]``.

    The output is the log of the mean probability (a valid logit vector: its softmax is the mean of the
    members' softmaxes), divided by ``temperature``: a mean of probabilities is less confident than its
    members, and a temperature below 1, fitted on validation data (``evaluate`` reports the best one),
    restores calibrated probabilities without changing the ranking of the classes.

    Args:
        in_channels: input channels (every member's).
        n_outputs: classes (every member's).
        members: the members' ``module.config`` dicts (see :func:`protsteer.networks.build_network`).
        temperature: positive; 1 = the plain mean of the probabilities.
    """

    def __init__(
        self, in_channels: int, n_outputs: int, members: Sequence[Mapping[str, Any]], temperature: float = 1.0
    ) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ProtsteerError(f"ensemble temperature must be a positive number, got {temperature}")
        from protsteer.networks.build import build_network  # build_network knows this class

        if len(members) < 2:
            raise ProtsteerError(f"an ensemble needs at least 2 members, got {len(members)}")
        for index, member in enumerate(members):
            shape = (member.get("in_channels"), member.get("n_outputs"))
            if shape != (in_channels, n_outputs):
                raise ProtsteerError(
                    f"ensemble member {index} maps {shape[0]} channels to {shape[1]} outputs, "
                    f"the ensemble {in_channels} to {n_outputs}"
                )
            if member.get("arch") == "ensemble":
                raise ProtsteerError("ensemble members cannot be ensembles themselves")
        built = [build_network(member) for member in members]
        self.members = nn.ModuleList(built)
        self.config = {
            "arch": "ensemble",
            "in_channels": int(in_channels),
            "n_outputs": int(n_outputs),
            "members": [dict(member.config) for member in built],
            "temperature": float(temperature),
        }
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, X, Y, Z]`` -> ``[B, n_outputs]`` log mean probabilities, tempered (float32 or
        wider)."""
        log_probabilities = torch.stack(
            [torch.log_softmax(member(x).float(), dim=1) for member in self.members]
        )
        log_mean = torch.logsumexp(log_probabilities, dim=0) - math.log(len(self.members))
        if self.temperature == 1.0:
            return log_mean
        return torch.log_softmax(log_mean / self.temperature, dim=1)
