"""Whole-structure / whole-domain grids (CATH task): the atoms of a residue selection in one box.

The box is centred on the centroid of the selected residues' CA atoms; every selected atom is kept (atoms
beyond the box simply add nothing to the grid), so rotated grids (``Environments.voxelize(rotations)``) are
always complete. Use :data:`~protsteer.voxel.spec.DOMAIN_CA_SPEC` (CA only, 50^3 voxels of 2 Angstrom,
sigma 1 Angstrom) or :data:`~protsteer.voxel.spec.DOMAIN_ATOM_SPEC` (atom types) or any other VoxelSpec.
"""

from __future__ import annotations

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure.parsed import ParsedStructure
from protsteer.structure.selection import select_residues
from protsteer.voxel.environments import Environments
from protsteer.voxel.spec import DOMAIN_CA_SPEC, VoxelSpec, channel_membership


def domain_environment(
    structure: ParsedStructure,
    spec: VoxelSpec = DOMAIN_CA_SPEC,
    residues: np.ndarray | str | None = None,
    include_context: bool = False,
) -> Environments:
    """One environment holding the atoms of the selected residues, centred on their CA centroid.

    Args:
        structure: a parsed structure.
        spec: grid and channels (default CA-only 50^3 at 2 Angstrom).
        residues: [R] bool mask or row indices, or a selection string (``"A:1-120,A:200-250"``, CATH
            segments in author numbering); default: every residue of the first model.
        include_context: also add context atoms (ligands, metals) within the box of the selection.

    Returns:
        :class:`Environments` with ``n_env == 1`` (``residue_rows == [-1]``); stack several with
        :func:`~protsteer.voxel.environments.concatenate_environments`.
    """
    if residues is None:
        mask = structure.residues.model == structure.model_numbers[0]
    elif isinstance(residues, str):
        mask = select_residues(structure.residues, residues, model=structure.model_numbers[0])
    else:
        selection = np.asarray(residues)
        mask = selection if selection.dtype == bool else np.isin(np.arange(structure.n_residues), selection)
    if not mask.any():
        raise ProtsteerError("domain selection holds no residue", structure.path)
    centre = structure.ca[mask].astype(np.float64).mean(axis=0)
    selected_atoms = mask[structure.residue_index] & (structure.residue_index >= 0)
    if include_context:
        model = structure.residues.model[np.flatnonzero(mask)[0]]
        near = (np.abs(structure.coords - centre) <= spec.rotation_reach).all(axis=1)
        selected_atoms |= (structure.residue_index < 0) & (structure.atom_model == model) & near
    atoms = np.flatnonzero(selected_atoms)
    membership = channel_membership(
        structure.element[atoms], structure.atom_name[atoms], structure.residue_index[atoms], spec.channels
    )
    entry, channel = np.nonzero(membership)
    coords = (structure.coords[atoms[entry]].astype(np.float64) - centre).astype(np.float32)
    return Environments(
        coords=coords,
        channel=channel.astype(np.int64),
        env_index=np.zeros(len(entry), dtype=np.int64),
        offsets=np.array([0, len(entry)], dtype=np.int64),
        residue_rows=np.array([-1], dtype=np.int64),
        centres=centre.astype(np.float32)[None],
        spec=spec,
        rotatable=True,
    )
