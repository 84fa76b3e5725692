"""Seeded, resumable sampling of training items: per-step seeds and the epoch batch sampler."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from protsteer.errors import ProtsteerError


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends on every part (e.g. ``(seed, step, rank)``)."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


class EpochBatchSampler:
    """Infinite, resumable stream of index batches for one rank.

    Epoch ``e`` draws ``samples_per_epoch`` indices with replacement from ``weights`` (uniform when ``None``)
    with a generator seeded from ``(seed, e)``; rank ``r`` of ``world_size`` takes every ``world_size``-th
    draw starting at ``r`` and cuts it into ``batch_size`` batches (the incomplete last batch is dropped), so
    ``steps_per_epoch`` is the same on every rank. Iteration starts at global step ``start_step``.
    """

    def __init__(
        self,
        n_items: int,
        weights: np.ndarray | None,
        samples_per_epoch: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
    ) -> None:
        if n_items < 1:
            raise ProtsteerError("the training set is empty")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (n_items,) or not np.all(weights >= 0) or weights.sum() <= 0:
                raise ValueError("train_weights must be non-negative, one per item, with a positive sum")
            weights = weights / weights.sum()
        self.n_items = n_items
        self.weights = weights
        self.samples_per_epoch = samples_per_epoch
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start_step = start_step
        self.steps_per_epoch = (samples_per_epoch // world_size) // batch_size
        if self.steps_per_epoch < 1:
            raise ProtsteerError(
                f"samples per epoch ({samples_per_epoch}) is smaller than batch size x world size "
                f"({batch_size} x {world_size})"
            )

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """This rank's indices of ``epoch``: ``[steps_per_epoch * batch_size]`` int64."""
        rng = np.random.default_rng(derive_seed(self.seed, epoch))
        draw = rng.choice(self.n_items, size=self.samples_per_epoch, replace=True, p=self.weights)
        mine = draw[self.rank :: self.world_size]
        return mine[: self.steps_per_epoch * self.batch_size].astype(np.int64)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, first = divmod(self.start_step, self.steps_per_epoch)
        while True:
            batches = self.epoch_indices(epoch).reshape(self.steps_per_epoch, self.batch_size)
            for batch in batches[first:]:
                yield batch.tolist()
            epoch, first = epoch + 1, 0
