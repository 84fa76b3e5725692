"""Whole-structure / whole-domain grids (CATH task): the atoms of a residue selection in one box.

The box is centred on the centroid of the selected residues' CA atoms; every selected atom is kept (atoms
beyond the box simply add nothing to the grid), so rotated grids (``Environments.voxelize(rotations)``) are
always complete. Use :data:`~protsteer.voxel.spec.DOMAIN_CA_SPEC` (CA only, 50^3 voxels of 2 Angstrom,
sigma 1 Angstrom) or :data:`~protsteer.voxel.spec.DOMAIN_ATOM_SPEC` (atom types) or any other VoxelSpec.

With ``frame="local"`` the atoms are expressed in the principal axes of the selected CA atoms
(:func:`principal_frame`), so the grid does not depend on how the structure is oriented in its file.
"""

from __future__ import annotations

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure.parsed import ParsedStructure
from protsteer.structure.secondary import structure_secondary_structure
from protsteer.structure.selection import select_residues
from protsteer.voxel.environments import Environments, check_frame, in_frame
from protsteer.voxel.spec import DOMAIN_CA_SPEC, VoxelSpec, channel_membership


def principal_frame(points: np.ndarray) -> np.ndarray:
    """[3, 3] float64 rotation whose rows are the principal axes of ``points`` [n, 3] (Angstrom), largest
    spread first; each of the first two axes points to the heavier tail of the points along it (positive
    third moment), the third is their cross product. Rotating the points by ``Q`` turns the frame ``F`` into
    ``F @ Q.T``. The identity for fewer than 3 points; axes of (nearly) equal spread or zero skew are not
    unique, so for such shapes the frame, and hence the grid, is only as stable as the data allow."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 3:
        return np.eye(3)
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1].T.copy()  # rows, largest eigenvalue first
    for row in range(2):
        if ((centred @ axes[row]) ** 3).sum() < 0:
            axes[row] = -axes[row]
    axes[2] = np.cross(axes[0], axes[1])
    return axes


def domain_environment(
    structure: ParsedStructure,
    spec: VoxelSpec = DOMAIN_CA_SPEC,
    residues: np.ndarray | str | None = None,
    include_context: bool = False,
    frame: str = "input",
) -> Environments:
    """One environment holding the atoms of the selected residues, centred on their CA centroid.

    Args:
        structure: a parsed structure.
        spec: grid and channels (default CA-only 50^3 at 2 Angstrom).
        residues: [R] bool mask or row indices, or a selection string (``"A:1-120,A:200-250"``, CATH
            segments in author numbering); default: every residue of the first model.
        include_context: also add context atoms (ligands, metals) within the box of the selection.
        frame: ``"input"`` (the file's axes) or ``"local"`` (the CA atoms' principal axes).

    Returns:
        :class:`Environments` with ``n_env == 1`` (``residue_rows == [-1]``); stack several with
        :func:`~protsteer.voxel.environments.concatenate_environments`.
    """
    check_frame(frame)
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
    residue_of_atom = structure.residue_index[atoms]
    state = None
    if spec.uses_secondary_structure:
        state = structure_secondary_structure(structure)[np.maximum(residue_of_atom, 0)]
    membership = channel_membership(
        structure.element[atoms], structure.atom_name[atoms], residue_of_atom, spec.channels, state
    )
    entry, channel = np.nonzero(membership)
    coords = (structure.coords[atoms[entry]].astype(np.float64) - centre).astype(np.float32)
    if frame == "local":
        coords = in_frame(coords, principal_frame(structure.ca[mask]))
    return Environments(
        coords=coords,
        channel=channel.astype(np.int64),
        env_index=np.zeros(len(entry), dtype=np.int64),
        offsets=np.array([0, len(entry)], dtype=np.int64),
        residue_rows=np.array([-1], dtype=np.int64),
        centres=centre.astype(np.float32)[None],
        spec=spec,
        rotatable=True,
        frame=frame,
    )
