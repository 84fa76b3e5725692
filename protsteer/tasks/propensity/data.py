"""Propensity training samples: one per target residue, family-aware weights, a fixed val subset.

Targets are the residues of a split's chains whose native amino acid is one of the 20 (``X`` skipped) and
whose virtual C-beta exists (N and C present). The environment of a target comes from the whole file (all
chains and the context atoms the read policy keeps), centred on the virtual C-beta, with the target's own
side chain removed; the dataset returns the atoms of that environment and the workers do nothing else
(rotation and voxelization happen in the main process, see :mod:`protsteer.tasks.propensity.task`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from protsteer.tasks.propensity.splits import SplitChain, chains_by_file
from protsteer.voxel.environments import check_frame, in_frame, residue_frames
from protsteer.voxel.spec import VoxelSpec, channel_membership

if TYPE_CHECKING:
    from protsteer.tasks.propensity.cache import StructureStore

#: Family weighting modes of :func:`sampling_weights`.
FAMILY_WEIGHTING = ("sqrt", "family", "residue")


@dataclass
class ResidueSamples:
    """Target residues of a split.

    Attributes:
        file_index [S] int32: file of the sample in the :class:`StructureStore`.
        residue [S] int64: row in the store's concatenated residue arrays.
        label [S] int64: amino-acid index in ``ACDEFGHIKLMNPQRSTVWY``.
        family [S] int32: index into ``family_names``.
        family_names: family keys (chain keys of the cluster representatives).
    """

    file_index: np.ndarray
    residue: np.ndarray
    label: np.ndarray
    family: np.ndarray
    family_names: list[str]

    def __len__(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray) -> ResidueSamples:
        """The samples at ``rows`` (same family names)."""
        return ResidueSamples(
            self.file_index[rows], self.residue[rows], self.label[rows], self.family[rows], self.family_names
        )


def split_samples(store: StructureStore, chains: list[SplitChain]) -> ResidueSamples:
    """The target residues of ``chains`` (files missing from ``store`` are skipped)."""
    file_position = {name: index for index, name in enumerate(store.files)}
    family_names = sorted({chain.family for chain in chains})
    family_id = {name: index for index, name in enumerate(family_names)}
    parts: list[tuple[np.ndarray, ...]] = []
    for file, file_chains in chains_by_file(chains).items():
        if file not in file_position:
            continue
        f = file_position[file]
        rows = store.residues_of(f)
        chain_ids = store.chain[rows]
        valid = (store.aa[rows] >= 0) & np.isfinite(store.virtual_cb[rows]).all(axis=1)
        for chain in file_chains:
            local = np.flatnonzero(valid & (chain_ids == chain.chain))
            residue = rows.start + local
            parts.append(
                (
                    np.full(len(local), f, np.int32),
                    residue.astype(np.int64),
                    store.aa[residue].astype(np.int64),
                    np.full(len(local), family_id[chain.family], np.int32),
                )
            )
    if not parts:
        empty = np.zeros(0, np.int64)
        return ResidueSamples(empty.astype(np.int32), empty, empty, empty.astype(np.int32), family_names)
    file_index, residue, label, family = (np.concatenate(column) for column in zip(*parts, strict=True))
    return ResidueSamples(file_index, residue, label, family, family_names)


def sampling_weights(samples: ResidueSamples, mode: str = "sqrt") -> np.ndarray:
    """Per-sample weights ``[S]`` that make a family's total weight sub-linear in its size.

    ``sqrt``: a family of n target residues weighs sqrt(n) (each residue 1/sqrt(n)); ``family``: every family
    weighs the same (residues uniform within it); ``residue``: every residue weighs the same (no correction).
    Redundant copies (bound/unbound pairs, mutant series) fall in one family, so they cannot dominate.
    """
    if mode not in FAMILY_WEIGHTING:
        raise ValueError(f"unknown family weighting {mode!r}")
    sizes = np.bincount(samples.family, minlength=len(samples.family_names)).astype(np.float64)
    n = sizes[samples.family]
    if mode == "sqrt":
        return 1.0 / np.sqrt(n)
    if mode == "family":
        return 1.0 / n
    return np.ones(len(samples))


def spread_subset(samples: ResidueSamples, max_samples: int, seed: int) -> ResidueSamples:
    """A deterministic subset of at most ``max_samples``, spread evenly over families.

    Each family's residues are put in a random order (seeded); samples are taken round-robin over families
    (first residue of every family, then the second ...), so small families are complete and large ones are
    subsampled. The subset is returned in store order.
    """
    if len(samples) <= max_samples:
        return samples
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(samples))
    family = samples.family[order]
    by_family = np.argsort(family, kind="stable")
    sorted_family = family[by_family]
    first = np.searchsorted(sorted_family, sorted_family, side="left")
    rank_in_family = np.empty(len(samples), np.int64)
    rank_in_family[by_family] = np.arange(len(samples)) - first
    chosen = order[np.lexsort((rng.random(len(samples)), rank_in_family))[:max_samples]]
    return samples.take(np.sort(chosen))


class EnvironmentDataset(torch.utils.data.Dataset):
    """Map-style dataset: item ``i`` -> ``(coords [n, 3] float32, channel [n] int8, label int)``.

    The same environment as :func:`protsteer.voxel.residue_environments` with ``rotatable=True``: the atom
    entries (an atom in two channels is two entries, channels from
    :func:`protsteer.voxel.spec.channel_membership`) within ``spec.rotation_reach`` of the target's virtual
    C-beta, coordinates relative to it (Angstrom), the target's own side chain (all but N, CA, C, O, OXT)
    removed, in the axes of ``frame`` (:data:`protsteer.voxel.FRAMES`: ``"input"``, the file's axes, or
    ``"local"``, the residue's backbone frame as ``predict`` uses). Deterministic: rotation and
    voxelization happen later, in the main process.
    """

    def __init__(
        self, store: StructureStore, samples: ResidueSamples, spec: VoxelSpec, frame: str = "input"
    ) -> None:
        check_frame(frame)
        self.store = store
        self.samples = samples
        self.radius = float(spec.rotation_reach)
        names = np.char.decode(store.atom_name, "ascii")
        self.membership = channel_membership(store.element, names, store.residue_index, spec.channels)
        self.frames = residue_frames(store.backbone()) if frame == "local" else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        store = self.store
        f = int(self.samples.file_index[i])
        residue = int(self.samples.residue[i])
        atoms = store.atoms_of(f)
        local_row = residue - int(store.residue_offsets[f])
        relative = store.coords[atoms] - store.virtual_cb[residue]
        keep = (relative * relative).sum(axis=1) <= self.radius * self.radius
        keep &= ~((store.residue_index[atoms] == local_row) & store.is_sidechain[atoms])
        kept = np.flatnonzero(keep)
        entry, channel = np.nonzero(self.membership[atoms][kept])
        relative = relative[kept[entry]]
        if self.frames is not None:
            relative = in_frame(relative, self.frames[residue])
        return relative, channel.astype(np.int8), int(self.samples.label[i])


def collate_environments(
    items: list[tuple[np.ndarray, np.ndarray, int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate environments.

    Returns ``(coords [M, 3] float32, channel [M] int8, env_index [M] int64, labels [B] int64)``.
    """
    coords = torch.from_numpy(np.concatenate([c for c, _, _ in items]).astype(np.float32, copy=False))
    channel = torch.from_numpy(np.concatenate([e for _, e, _ in items]))
    env_index = torch.repeat_interleave(torch.arange(len(items)), torch.tensor([len(c) for c, _, _ in items]))
    labels = torch.tensor([label for _, _, label in items], dtype=torch.int64)
    return coords, channel, env_index, labels
