"""The CATH architecture task for the shared training loop (:mod:`protsteer.tasks.training`).

Data: whole-domain grids (one per labelled domain copy) from ``domains.tsv``, CATH domain lists +
boundaries + structures, or the paper's npz (:func:`load_cath_data`). Labels: the architectures with at least
``min_train_domains`` distinct training domains (:func:`~protsteer.tasks.cath.labels.choose_label_set`); other
domains are left out of training and evaluation. Training draws domains class-balanced (each architecture
equally often, each distinct domain equally often within it, copies of a domain share its weight).
Workers return atom lists; the main process rotates each domain by a Haar-random rotation drawn from the
loop's per-step generator and voxelizes the batch on the training device. Validation merges copies of a
domain by averaging their probabilities (the same rule as ``protsteer evaluate cath``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from protsteer.errors import ProtsteerError
from protsteer.networks import build_network
from protsteer.so3 import random_rotations
from protsteer.structure import ReadPolicy
from protsteer.tasks.cath.atoms import load_domain_atoms
from protsteer.tasks.cath.data_clf import load_clf
from protsteer.tasks.cath.data_npz import read_paper_npz
from protsteer.tasks.cath.data_tsv import read_domains_tsv
from protsteer.tasks.cath.labels import choose_label_set
from protsteer.tasks.cath.records import DomainSet
from protsteer.tasks.cath.summary import deduplicate
from protsteer.voxel import VoxelSpec, voxelize
from protsteer.voxel.environments import check_frame, in_frame

logger = logging.getLogger(__name__)

TASK_NAME = "cath"
SOURCES = ("tsv", "npz", "clf")

#: Default whole-domain grid: 21^3 voxels of 3.5 Angstrom (a 73.5 Angstrom box), sigma 1.75 Angstrom: a
#: CPU-affordable variant of the paper's 50^3 x 2 Angstrom grid; CA density split into helix, strand and coil
#: channels by secondary structure from CA geometry (``cath-v2``; the paper and ``cath-v1``: one CA channel,
#: test accuracy 0.28 against 0.48 with the split; docs/cath.md).
CATH_SPEC = VoxelSpec(
    box_size=73.5, voxel_size=3.5, sigma=1.75, channels=("CA:helix", "CA:strand", "CA:coil")
)

#: Default network: a steerable CNN whose only full-resolution layer is the stem (docs/cath.md); the band
#: limit is pinned to the one ``cath-v1`` and ``cath-v2`` were trained with (7,818 / 7,926 parameters for 10
#: labels and 1 / 3 input channels).
CATH_STEERABLE = {
    "arch": "steerable",
    "preset": "small",
    "input_downsample": False,
    "stages": [[8, 4, 2], [16, 8, 4], [16, 8, 4]],
    "blocks": [0, 1, 1],
    "band_limit": "compromise",
}
#: The plain 3D CNN baseline with the same layout.
CATH_PLAIN = {
    "arch": "plain",
    "preset": "small",
    "input_downsample": False,
    "stages": [24, 48, 48],
    "blocks": [0, 1, 1],
}


@dataclass
class CathData:
    """Where the CATH data comes from and how it is gridded.

    Attributes:
        source: ``tsv`` (our ``domains.tsv``; ``data`` = data directory or the tsv), ``npz`` (the paper's
            file; ``data`` = the npz) or ``clf`` (``data`` = directory of structures / dompdb files, with
            ``domain_list`` and optionally ``boundaries``).
        data: see ``source``.
        domain_list: CATH domain list (CLF) for ``clf``.
        boundaries: CATH boundaries file for ``clf`` (needed unless the directory holds dompdb files).
        spec: grid geometry and channels.
        policy: structure read policy (the same at training and inference).
        min_train_domains: architectures with fewer distinct training domains are left out.
        labels: an explicit label set (overrides ``min_train_domains``).
        split_seed: topology split seed for ``clf`` (the other sources carry their split).
    """

    source: str
    data: Path
    domain_list: Path | None = None
    boundaries: Path | None = None
    spec: VoxelSpec = CATH_SPEC
    policy: ReadPolicy = field(default_factory=ReadPolicy)
    min_train_domains: int = 15
    labels: list[str] | None = None
    split_seed: int = 0

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable provenance."""
        return {
            "source": self.source,
            "data": str(self.data),
            "domain_list": None if self.domain_list is None else str(self.domain_list),
            "boundaries": None if self.boundaries is None else str(self.boundaries),
            "min_train_domains": self.min_train_domains,
            "split_seed": self.split_seed,
        }


def detect_source(data: Path, domain_list: Path | None) -> str:
    """``npz`` for a ``.npz`` file, ``clf`` when a domain list is given, else ``tsv``."""
    if str(data).endswith(".npz"):
        return "npz"
    return "clf" if domain_list is not None else "tsv"


def read_cath_records(data: CathData) -> DomainSet:
    """Every record of the source (all splits); coordinates only for ``npz`` (they come with the file)."""
    if data.source not in SOURCES:
        raise ProtsteerError(f"unknown --source {data.source!r}; choose one of {', '.join(SOURCES)}")
    if data.source == "npz":
        return read_paper_npz(data.data, data.spec)
    if data.source == "clf":
        if data.domain_list is None:
            raise ProtsteerError("--source clf needs --domain-list (and --boundaries for whole entries)")
        return load_clf(data.domain_list, data.data, data.boundaries, split_seed=data.split_seed)
    return read_domains_tsv(data.data)


def load_cath_data(
    data: CathData, splits: tuple[str, ...] = ("train", "val", "test"), records: DomainSet | None = None
) -> DomainSet:
    """Records of ``splits`` with their atom entries for ``data.spec`` (structure files read once each).

    Args:
        data: the source.
        splits: splits to keep.
        records: :func:`read_cath_records` output, when already read.

    Raises:
        ProtsteerError: unknown source, missing domain list, or nothing loadable.
    """
    records = records if records is not None else read_cath_records(data)
    wanted = records.subset([i for i, r in enumerate(records.records) if r.split in splits])
    domains = wanted if wanted.loaded else load_domain_atoms(wanted, data.spec, data.policy)
    if not len(domains):
        raise ProtsteerError(f"no loadable domain in the {'/'.join(splits)} split(s)", data.data)
    return domains


def balanced_weights(domains: DomainSet, labels: list[str]) -> np.ndarray:
    """``[N]`` sampling weights: each architecture equally likely, each distinct domain equally likely within
    its architecture, copies of a domain splitting its share."""
    copies = Counter(r.dedup_key for r in domains.records)
    keys_per_label: dict[str, set[str]] = {}
    for r in domains.records:
        keys_per_label.setdefault(r.architecture, set()).add(r.dedup_key)
    n_present = sum(label in keys_per_label for label in labels)
    return np.array(
        [
            1.0 / (n_present * len(keys_per_label[r.architecture]) * copies[r.dedup_key])
            for r in domains.records
        ]
    )


def cap_copies(domains: DomainSet, max_copies: int) -> DomainSet:
    """At most ``max_copies`` rows per distinct domain (the first ones in order); 0 = no cap."""
    if max_copies <= 0:
        return domains
    seen: Counter[str] = Counter()
    keep = []
    for i, r in enumerate(domains.records):
        seen[r.dedup_key] += 1
        if seen[r.dedup_key] <= max_copies:
            keep.append(i)
    return domains.subset(keep)


class DomainAtomsDataset(Dataset):
    """``dataset[i] = (coords [M, 3] float32, channel [M] int64, label index)``: one domain, no randomness.

    ``frame="input"``: coordinates in the file's axes; ``"local"``: on the domain's principal axes, as
    ``predict --frame local`` (``DomainSet.axes``)."""

    def __init__(self, domains: DomainSet, labels: list[str], frame: str = "input") -> None:
        if not domains.loaded:
            raise ValueError("DomainAtomsDataset needs loaded domains")
        check_frame(frame)
        index = {label: i for i, label in enumerate(labels)}
        self.domains = domains
        self.local = frame == "local"
        self.targets = np.array([index[r.architecture] for r in domains.records], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        coords = self.domains.coords[i]
        if self.local:
            coords = in_frame(coords, self.domains.axes[i])
        return coords, self.domains.channel[i], int(self.targets[i])


def collate_domains(items: list[tuple[np.ndarray, np.ndarray, int]]) -> dict[str, torch.Tensor]:
    """Concatenate atom lists: ``coords [M, 3]``, ``channel [M]``, ``env_index [M]``, ``targets [B]``."""
    counts = [len(c) for c, _, _ in items]
    return {
        "coords": torch.from_numpy(np.concatenate([c for c, _, _ in items])),
        "channel": torch.from_numpy(np.concatenate([ch for _, ch, _ in items])),
        "env_index": torch.from_numpy(np.repeat(np.arange(len(items)), counts)),
        "targets": torch.tensor([t for _, _, t in items], dtype=torch.int64),
    }


def domain_grids(
    batch: dict[str, torch.Tensor],
    spec: VoxelSpec,
    device: torch.device,
    generator: torch.Generator | None,
    orientation: torch.Tensor | None = None,
) -> torch.Tensor:
    """``[B, C, G, G, G]`` grids of a collated batch, each domain rotated by a Haar-random rotation drawn
    from ``generator`` (``None``: unrotated), then by ``orientation [3, 3]`` (if given, the same for all)."""
    n = len(batch["targets"])
    rotations = None if generator is None else random_rotations(n, generator=generator)
    if orientation is not None:
        orientation = orientation.to(torch.float32)
        rotations = orientation.expand(n, 3, 3) if rotations is None else orientation @ rotations
    rotations = None if rotations is None else rotations.to(device)
    return voxelize(
        batch["coords"].to(device),
        batch["channel"].to(device),
        batch["env_index"].to(device),
        n,
        spec,
        rotations=rotations,
        device=device,
    )


class CathTask:
    """:class:`~protsteer.tasks.training.TrainingTask` for CATH architectures.

    Args:
        data: data options.
        network: ``build_network`` options (``arch``, ``preset`` and overrides; ``in_channels`` and
            ``n_outputs`` are filled in).
        samples_per_epoch: draws per epoch (0: the number of distinct training domains).
        val_copies: rows per distinct val domain used in validation (0: all).
        domains: already loaded train+val domains (skips loading; tests and benchmarks).
    """

    name = TASK_NAME
    selection_metric = "balanced_accuracy"
    selection_mode = "max"

    def __init__(
        self,
        data: CathData,
        network: dict[str, Any],
        samples_per_epoch: int = 0,
        val_copies: int = 2,
        domains: DomainSet | None = None,
    ) -> None:
        self.data = data
        domains = domains if domains is not None else load_cath_data(data, ("train", "val"))
        self.train_counts = domains.split("train").train_domain_counts()
        self.labels = data.labels or choose_label_set(self.train_counts, data.min_train_domains)
        unknown = sorted(set(self.labels) - set(self.train_counts))
        if unknown:
            raise ProtsteerError(f"labels without training domains: {', '.join(unknown)}")
        self.train = domains.split("train").with_labels(self.labels)
        self.val = cap_copies(domains.split("val").with_labels(self.labels), val_copies)
        if not len(self.val):
            raise ProtsteerError("no val domain in the label set: cannot select a model", data.data)
        self.network = {**network, "in_channels": data.spec.n_channels, "n_outputs": len(self.labels)}
        self._samples_per_epoch = samples_per_epoch or len({r.dedup_key for r in self.train.records})
        logger.info(
            "cath: %d labels, %d train rows (%d domains), %d val rows (%d domains)",
            len(self.labels),
            len(self.train),
            len({r.dedup_key for r in self.train.records}),
            len(self.val),
            len({r.dedup_key for r in self.val.records}),
        )

    def build_model(self) -> torch.nn.Module:
        return build_network(self.network)

    def train_dataset(self) -> Dataset:
        return DomainAtomsDataset(self.train, self.labels)

    def train_weights(self) -> np.ndarray:
        return balanced_weights(self.train, self.labels)

    def samples_per_epoch(self) -> int:
        return self._samples_per_epoch

    def val_dataset(self) -> Dataset:
        return DomainAtomsDataset(self.val, self.labels)

    def collate(self, items: list) -> dict[str, torch.Tensor]:
        return collate_domains(items)

    def prepare_batch(
        self, batch: dict[str, torch.Tensor], device: torch.device, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return domain_grids(batch, self.data.spec, device, generator), batch["targets"].to(device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, targets)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        """Val loss over rows; accuracy, balanced and class accuracy over distinct domains."""
        probabilities = torch.softmax(logits.float(), dim=1).numpy()
        evaluation = deduplicate(
            probabilities, targets.numpy(), [r.dedup_key for r in self.val.records], self.labels
        )
        summary = evaluation.summary(n_bootstrap=0)
        return {
            "loss": float(torch.nn.functional.cross_entropy(logits.float(), targets)),
            "accuracy": summary["accuracy"],
            "balanced_accuracy": summary["balanced_accuracy"],
            "class_accuracy": summary["class_accuracy"],
        }

    def describe(self) -> dict[str, Any]:
        return {
            "task": TASK_NAME,
            "labels": list(self.labels),
            "train_domain_counts": {label: self.train_counts.get(label, 0) for label in self.labels},
            "dropped_architectures": {
                a: n for a, n in sorted(self.train_counts.items()) if a not in self.labels
            },
            "voxel_spec": self.data.spec.to_dict(),
            "read_policy": self.data.policy.to_dict(),
            "data": self.data.describe(),
            "samples_per_epoch": self._samples_per_epoch,
            "train_rows": len(self.train),
            "val_rows": len(self.val),
        }
