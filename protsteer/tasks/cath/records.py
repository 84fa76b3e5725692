"""The in-memory form every CATH data source is loaded into.

A :class:`DomainSet` is a list of :class:`DomainRecord` (labels, split, where the atoms come from) plus,
once loaded (:mod:`.atoms`), each domain's atom entries for a :class:`~protsteer.voxel.VoxelSpec`.
Sources: ``domains.tsv`` (:mod:`.data_tsv`), CATH domain lists + boundaries + structures
(:mod:`.data_clf`), and the paper's npz file (:mod:`.data_npz`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DomainRecord:
    """One labelled domain (one row; copies of a domain in several chains are several records).

    Attributes:
        domain_id: unique id of the row (``<chain_key>/<cath_domain>`` in ``domains.tsv``).
        dedup_key: id shared by copies of one domain (the CATH S35 representative, ``cath_domain``);
            evaluation counts each key once.
        architecture: CATH architecture code, e.g. ``"3.40"``.
        split: ``train``, ``val`` or ``test``.
        topology: CATH topology code (``"3.40.50"``), ``""`` when the source does not give it.
        file: structure file holding the domain, ``None`` when coordinates come with the source (npz).
        segments: residue selection in author numbering (``A:1-120,A:200-250``); ``""`` = every residue of
            ``chain`` (or of the file when ``chain`` is also ``""``, e.g. a CATH dompdb file).
        chain: chain id (``""`` when the whole file is the domain).
    """

    domain_id: str
    dedup_key: str
    architecture: str
    split: str
    topology: str = ""
    file: Path | None = None
    segments: str = ""
    chain: str = ""


@dataclass
class DomainSet:
    """Records and (once loaded) their atom entries.

    Attributes:
        records: the domains.
        coords: per record, ``[M, 3]`` float32 atom-entry coordinates in Angstrom relative to the domain's
            CA centroid (empty list until loaded).
        channel: per record, ``[M]`` int64 grid channel of each entry (an atom in two channels is two
            entries), for the ``spec`` the atoms were loaded with.
        axes: per record, ``[3, 3]`` float64 principal axes of its CA atoms
            (:func:`protsteer.voxel.principal_frame`), to put the domain in its local frame as ``predict
            --frame local`` does (``axes @ coords``).
        source: a short description of where the set came from (for provenance).
    """

    records: list[DomainRecord]
    coords: list[np.ndarray] = field(default_factory=list)
    channel: list[np.ndarray] = field(default_factory=list)
    axes: list[np.ndarray] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)

    @property
    def loaded(self) -> bool:
        """Whether every record has coordinates (and axes)."""
        return len(self.coords) == len(self.axes) == len(self.records)

    def subset(self, indices: list[int]) -> DomainSet:
        """The records at ``indices`` (with their coordinates when loaded)."""
        return DomainSet(
            records=[self.records[i] for i in indices],
            coords=[self.coords[i] for i in indices] if self.loaded else [],
            channel=[self.channel[i] for i in indices] if self.loaded else [],
            axes=[self.axes[i] for i in indices] if self.loaded else [],
            source=self.source,
        )

    def split(self, name: str) -> DomainSet:
        """The records of one split (``train``, ``val`` or ``test``)."""
        return self.subset([i for i, r in enumerate(self.records) if r.split == name])

    def with_labels(self, labels: list[str]) -> DomainSet:
        """The records whose architecture is in ``labels``."""
        keep = set(labels)
        return self.subset([i for i, r in enumerate(self.records) if r.architecture in keep])

    def distinct_counts(self) -> dict[tuple[str, str], int]:
        """(split, architecture) -> number of distinct ``dedup_key``."""
        distinct = {(r.split, r.architecture, r.dedup_key) for r in self.records}
        return dict(Counter((s, a) for s, a, _ in distinct))

    def train_domain_counts(self) -> dict[str, int]:
        """architecture -> distinct training domains (the basis of the label set)."""
        return {a: n for (s, a), n in self.distinct_counts().items() if s == "train"}
