"""Atom entries of CATH domains for a :class:`~protsteer.voxel.VoxelSpec` (centred on the CA centroid).

Structure-file sources go through :func:`protsteer.voxel.domain_environment` (the same code path as
prediction); the paper's npz (atom names + positions only) goes through :func:`atoms_from_names`.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure import (
    ParsedStructure,
    ReadPolicy,
    read_structure,
    select_residues,
)
from protsteer.structure.secondary import ca_secondary_structure
from protsteer.tasks.cath.records import DomainSet
from protsteer.voxel import VoxelSpec, channel_membership, domain_environment, principal_frame

logger = logging.getLogger(__name__)

_ELEMENTS = {"C": 6, "N": 7, "O": 8, "S": 16}


def atoms_from_names(
    positions: np.ndarray, atom_names: np.ndarray, spec: VoxelSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Atom entries of one protein given only positions and atom names (all atoms are protein atoms).

    Args:
        positions: ``[n, 3]`` Angstrom.
        atom_names: ``[n]`` str (``"CA"``, ``"N"``, ...); the element is the name's first letter.
        spec: the channels to fill. Secondary-structure qualifiers use the states of the CA atoms in the
            given order (one chain, linked where consecutive CAs are <= 4.2 Angstrom apart).

    Returns:
        ``(coords [M, 3] float32 relative to the CA centroid (all-atom centroid without CA), channel [M],
        axes [3, 3])``: the principal axes (:func:`protsteer.voxel.principal_frame`) of the same atoms.
    """
    names = np.asarray(atom_names).astype(str)
    element = np.array([_ELEMENTS.get(n[:1], 0) for n in names.tolist()], dtype=np.uint8)
    is_ca = names == "CA"
    residue_index = np.zeros(len(names), dtype=np.int32)
    state = None
    if spec.uses_secondary_structure:
        # the CA atoms in file order form the chain; other atoms take the state of the last CA before them
        ca_state = ca_secondary_structure(np.asarray(positions, dtype=np.float64)[is_ca])
        owner = np.maximum(np.cumsum(is_ca) - 1, 0)
        state = ca_state[owner] if len(ca_state) else np.zeros(len(names), dtype=np.int8)
    membership = channel_membership(element, names, residue_index, spec.channels, state)
    reference = np.asarray(positions, dtype=np.float64)[is_ca if is_ca.any() else slice(None)]
    entry, channel = np.nonzero(membership)
    coords = (np.asarray(positions, dtype=np.float64)[entry] - reference.mean(axis=0)).astype(np.float32)
    return coords, channel.astype(np.int64), principal_frame(reference)


def domain_mask(
    structure: ParsedStructure, segments: str = "", chain: str = "", model: int | None = None
) -> np.ndarray:
    """``[R]`` bool residue-table rows of a domain in one model.

    Args:
        structure: the parsed file.
        segments: selection in author numbering (``A:1-120,A:200-250``, insertion codes allowed); chain
            ``_`` means the blank chain id (as in ``domains.tsv``) unless the file has a chain named ``_``.
            ``""``: every residue of ``chain``, or of the whole model when ``chain`` is ``""`` too.
        chain: chain id used when ``segments`` is empty (``_`` = blank, as above).
        model: model number (default: the first model read).

    Raises:
        ProtsteerError: a segment matches no residue.
    """
    residues = structure.residues
    model = structure.model_numbers[0] if model is None else model
    chains = set(residues.chain.tolist())

    def actual(name: str) -> str:
        return "" if name == "_" and "_" not in chains else name

    if segments:
        return select_residues(residues, segments, model=model)  # chain _ = blank there too
    mask = residues.model == model
    return mask & (residues.chain == actual(chain)) if chain else mask


def structure_atoms(
    structure: ParsedStructure, spec: VoxelSpec, segments: str = "", chain: str = ""
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Atom entries of one domain (:func:`domain_mask`) of a parsed structure.

    Returns:
        ``(coords [M, 3] float32 centred on the CA centroid, in the file's axes, channel [M] int64,
        n_residues, axes [3, 3])``: ``axes`` are the principal axes of the CA atoms
        (:func:`protsteer.voxel.principal_frame`; ``axes @ coords`` is ``domain_environment(frame="local")``).

    Raises:
        ProtsteerError: the selection matches no residue.
    """
    mask = domain_mask(structure, segments, chain)
    env = domain_environment(structure, spec, residues=mask)
    return env.coords, env.channel, int(mask.sum()), principal_frame(structure.ca[mask])


def load_domain_atoms(domains: DomainSet, spec: VoxelSpec, policy: ReadPolicy | None = None) -> DomainSet:
    """Read every structure file once and fill ``coords``/``channel``/``axes`` of the records.

    Records whose file cannot be read or whose segments match no residue are dropped (counted in the log).

    Returns:
        a new :class:`DomainSet` (loaded) with the readable records, in the original order.
    """
    policy = policy or ReadPolicy()
    by_file: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(domains.records):
        if record.file is None:
            raise ProtsteerError(f"domain {record.domain_id} has no structure file")
        by_file[str(record.file)].append(index)
    atoms: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    failures = 0
    for file, indices in by_file.items():
        try:
            structure = read_structure(file, policy)
        except ProtsteerError as err:
            logger.warning("skipping %d domain(s): %s", len(indices), err.one_line())
            failures += len(indices)
            continue
        for index in indices:
            record = domains.records[index]
            try:
                coords, channel, _, axes = structure_atoms(structure, spec, record.segments, record.chain)
            except ProtsteerError as err:
                logger.warning("skipping domain %s: %s", record.domain_id, err.one_line())
                failures += 1
                continue
            atoms[index] = (coords, channel, axes)
    if failures:
        logger.warning("%d of %d domains could not be loaded", failures, len(domains))
    kept = sorted(atoms)
    return DomainSet(
        records=[domains.records[i] for i in kept],
        coords=[atoms[i][0] for i in kept],
        channel=[atoms[i][1] for i in kept],
        axes=[atoms[i][2] for i in kept],
        source=domains.source,
    )
