"""Exponential moving average (EMA) of a network's weights during training.

``average = decay_t * average + (1 - decay_t) * current`` after every optimizer step, for every floating
point parameter and buffer (batch-norm running statistics included; integer buffers such as batch counters
are copied), with ``decay_t = min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so the first updates are
not dominated by the initial weights. The average lives in a copy of the network, which validation and
export use when the run has one: it smooths the noise of the last steps, and a run stopped mid-schedule (a
time budget, a short borrowed-GPU window) still yields a usable model without waiting for the learning rate
to anneal.
"""

from __future__ import annotations

import copy

import torch


class WeightAverage:
    """EMA of ``model``'s parameters and buffers, in :attr:`model` (a frozen copy, same device)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` applies."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Move the average towards ``model``'s current weights (call after each optimizer step)."""
        weight = 1.0 - self.current_decay()
        current = model.state_dict()
        for key, average in self.model.state_dict().items():
            if average.dtype.is_floating_point:
                average.lerp_(current[key].detach(), weight)
            else:
                average.copy_(current[key])
        self.updates += 1

    def state_dict(self) -> dict:
        """``{"decay", "updates", "model"}`` for a training checkpoint."""
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict` (the decay of this run is kept)."""
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])
