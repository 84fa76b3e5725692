"""Running a network over a dataset in eval mode (validation during training, ``evaluate``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from protsteer.errors import ProtsteerError
from protsteer.tasks.precision import autocast


def collect_outputs(
    model: torch.nn.Module,
    dataset: Dataset,
    collate: Callable[[list], Any],
    prepare: Callable[[Any, torch.device], tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    *,
    batch_size: int,
    workers: int = 0,
    amp: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``dataset`` in order (validation, evaluation).

    ``collate`` builds a batch from items (in DataLoader workers), ``prepare(batch, device)`` turns it into
    ``(inputs, targets)`` on ``device``; ``amp`` is the autocast dtype (``None``: float32). Returns
    ``(logits [N, K] float32 CPU, targets [N] CPU)``.
    """
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),  # leaves the global RNG alone
    )
    was_training = model.training
    model.eval()
    all_logits, all_targets = [], []
    with torch.no_grad():
        for batch in loader:
            inputs, targets = prepare(batch, device)
            with autocast(device, amp):
                logits = model(inputs)
            all_logits.append(logits.float().cpu())
            all_targets.append(targets.cpu())
    model.train(was_training)
    if not all_logits:
        raise ProtsteerError("nothing to evaluate: the dataset is empty")
    return torch.cat(all_logits), torch.cat(all_targets)
