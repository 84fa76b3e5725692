"""The propensity training task (the :class:`~protsteer.tasks.training.TrainingTask` protocol).

Data: the chains of ``--data``'s train split (family-aware sampling, see
:func:`~protsteer.tasks.propensity.data.sampling_weights`) and a fixed, family-spread subset of the val split.
Every structure file is parsed once into the cache (:mod:`protsteer.tasks.propensity.cache`). Workers return
atom lists; the main process rotates each environment by a fresh Haar-random rotation (drawn from the loop's
per-step generator) and voxelizes the batch on the training device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protsteer.errors import ProtsteerError
from protsteer.networks import build_network
from protsteer.so3 import random_rotations
from protsteer.structure.policy import ReadPolicy
from protsteer.structure.residues import AMINO_ACIDS
from protsteer.tasks.propensity.cache import StructureStore, build_cache
from protsteer.tasks.propensity.data import (
    EnvironmentDataset,
    ResidueSamples,
    collate_environments,
    sampling_weights,
    split_samples,
    spread_subset,
)
from protsteer.tasks.propensity.metrics import summary_metrics
from protsteer.tasks.propensity.splits import chains_by_file, read_split
from protsteer.voxel import RESIDUE_SPEC, VoxelSpec, voxelize

logger = logging.getLogger(__name__)

TASK_NAME = "propensity"

#: how training environments are oriented (:attr:`PropensityData.orientation`).
ORIENTATIONS = ("random", "local")


@dataclass
class PropensityData:
    """Options for the propensity data.

    Attributes:
        data_dir: the data directory (``chains.tsv``, ``splits/``, ``structures/``).
        cache_dir: where parsed structures are cached (a subdirectory per read policy).
        spec: voxel grid and channels.
        policy: structure read policy (the same at training and inference).
        family_weighting: ``sqrt`` (default), ``family`` or ``residue`` (see ``sampling_weights``).
        samples_per_epoch: samples drawn per epoch.
        val_samples: size of the fixed val subset (spread over families).
        cache_workers: processes that parse structures into the cache (started with ``spawn``: a script
            that builds the cache with more than one worker needs ``if __name__ == "__main__":``).
        subset_seed: seed of the val subset (fixed, independent of the training seed).
        orientation: ``"random"`` (each training environment in its file's axes turned by a fresh
            Haar-random rotation) or ``"local"`` (each environment, train and val, in its residue's
            backbone frame and not rotated: the grids ``predict`` feeds the network).
    """

    data_dir: Path
    cache_dir: Path
    spec: VoxelSpec = RESIDUE_SPEC
    policy: ReadPolicy = field(default_factory=ReadPolicy)
    family_weighting: str = "sqrt"
    samples_per_epoch: int = 20_000
    val_samples: int = 5_000
    cache_workers: int = 2
    subset_seed: int = 20240531
    orientation: str = "random"

    def __post_init__(self) -> None:
        if self.orientation not in ORIENTATIONS:
            raise ProtsteerError(
                f"orientation must be one of {', '.join(ORIENTATIONS)}, not {self.orientation!r}"
            )


def load_split(data: PropensityData, split: str) -> tuple[StructureStore, ResidueSamples]:
    """Cache (if needed) and load the structures of ``split``; return ``(store, ResidueSamples)``."""
    chains = read_split(data.data_dir, split)
    files = list(chains_by_file(chains))
    root, errors = build_cache(data.data_dir, files, data.cache_dir, data.policy, data.cache_workers)
    for file in errors:
        logger.warning("%s split: %s could not be read and is left out", split, file)
    files = [f for f in files if f not in errors]
    if not files:
        raise ProtsteerError(f"no readable structure file in the {split} split", data.data_dir)
    store = StructureStore.load(root, files)
    samples = split_samples(store, chains)
    logger.info(
        "%s split: %d files, %d target residues, %d families",
        split,
        len(files),
        len(samples),
        len(samples.family_names),
    )
    return store, samples


class PropensityTask:
    """Amino-acid propensity: environment grid -> 20 logits over ``ACDEFGHIKLMNPQRSTVWY``."""

    name = TASK_NAME
    selection_metric = "top1"
    selection_mode = "max"

    def __init__(
        self,
        data: PropensityData,
        network_options: dict[str, Any],
        train_split: str = "train",
        val_split: str = "val",
    ) -> None:
        self.data = data
        self.network_config = build_network(
            {**network_options, "in_channels": data.spec.n_channels, "n_outputs": len(AMINO_ACIDS)}
        ).config
        self._train = load_split(data, train_split)
        store, samples = load_split(data, val_split)
        self._val = (store, spread_subset(samples, data.val_samples, data.subset_seed))
        self.splits = (train_split, val_split)

    def build_model(self) -> torch.nn.Module:
        return build_network(self.network_config)

    def train_dataset(self) -> EnvironmentDataset:
        return EnvironmentDataset(*self._train, self.data.spec, frame=self._frame)

    def train_weights(self) -> np.ndarray:
        return sampling_weights(self._train[1], self.data.family_weighting)

    def samples_per_epoch(self) -> int:
        return self.data.samples_per_epoch

    def val_dataset(self) -> EnvironmentDataset:
        return EnvironmentDataset(*self._val, self.data.spec, frame=self._frame)

    @property
    def _frame(self) -> str:
        return "local" if self.data.orientation == "local" else "input"

    def collate(self, items: list) -> tuple[torch.Tensor, ...]:
        return collate_environments(items)

    def prepare_batch(
        self, batch: tuple[torch.Tensor, ...], device: torch.device, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Grids ``[B, C, G, G, G]`` on ``device`` (randomly rotated unless ``orientation="local"``) and
        labels ``[B]``."""
        random = self.data.orientation == "random"
        return environment_grids(batch, self.data.spec, device, generator if random else None)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return summary_metrics(logits, targets)

    def describe(self) -> dict:
        train_store, train_samples = self._train
        val_samples = self._val[1]
        return {
            "data_dir": str(self.data.data_dir),
            "splits": {"train": self.splits[0], "val": self.splits[1]},
            "train_files": len(train_store.files),
            "train_residues": len(train_samples),
            "train_families": len(train_samples.family_names),
            "val_residues": len(val_samples),
            "val_families": int(len(np.unique(val_samples.family))),
            "family_weighting": self.data.family_weighting,
            "orientation": self.data.orientation,
            "samples_per_epoch": self.data.samples_per_epoch,
            "voxel_spec": self.data.spec.to_dict(),
            "read_policy": self.data.policy.to_dict(),
            "labels": AMINO_ACIDS,
        }


def environment_grids(
    batch: tuple[torch.Tensor, ...],
    spec: VoxelSpec,
    device: torch.device,
    generator: torch.Generator | None,
    orientation: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxelize a collated batch, each environment rotated by a Haar-random rotation from ``generator``
    (``None``: unrotated), then by ``orientation [3, 3]`` (if given; the same for every environment).
    Returns ``(grids [B, C, G, G, G] float32, labels [B] int64)`` on ``device``."""
    coords, channel, env_index, labels = batch
    n_env = len(labels)
    rotations = None if generator is None else random_rotations(n_env, generator=generator)
    if orientation is not None:
        orientation = orientation.to(torch.float32)
        rotations = orientation.expand(n_env, 3, 3) if rotations is None else orientation @ rotations
    grids = voxelize(
        coords.to(device),
        channel.to(device),
        env_index.to(device),
        n_env,
        spec,
        rotations=rotations,
        device=device,
    )
    return grids, labels.to(device)
