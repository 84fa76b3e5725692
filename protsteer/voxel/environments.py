"""Residue environments: the atoms around each residue's virtual C-beta, as flat arrays ready to voxelize.

The environment of residue r is every kept atom of the same model (protein atoms of all chains, plus context
atoms: ligands, metals, ...) inside the cube of half-edge :attr:`VoxelSpec.reach` about r's virtual C-beta
(ideal geometry from N, CA, C, so glycine is not revealed; CA when N or C is missing), except r's own side
chain (every atom but N, CA, C, O, OXT, so CB too). With ``rotatable=True`` the region is the ball of radius
:attr:`VoxelSpec.rotation_reach` instead, which holds every atom that can reach the grid under any rotation
about the centre: use it whenever :func:`voxelize` gets ``rotations``. A spec with
:attr:`VoxelSpec.crop_radius` always selects the ball of that radius (capped by the rotation reach).

Orientation (``frame``): ``"input"`` keeps the axes of the input file; ``"local"`` expresses each
environment in its residue's backbone frame (:func:`protsteer.structure.backbone_frames`: x along CA -> C, y
towards N), so the grid, and every prediction made from it, does not depend on how the structure is oriented
in the file (up to float rounding). Residues without a frame (N or C missing) keep the input axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from protsteer.errors import ProtsteerError
from protsteer.structure.geometry import backbone_frames
from protsteer.structure.neighbors import neighbor_offsets
from protsteer.structure.parsed import ParsedStructure
from protsteer.voxel.spec import RESIDUE_SPEC, VoxelSpec, channel_membership
from protsteer.voxel.voxelizer import voxelize

#: grid orientations: the input file's axes, or a frame of the structure itself (a residue's backbone frame
#: here, a domain's principal axes in :func:`protsteer.voxel.domain_environment`)
FRAMES = ("input", "local")


def check_frame(frame: str) -> None:
    """Raise a one-line :class:`ProtsteerError` unless ``frame`` is one of :data:`FRAMES`."""
    if frame not in FRAMES:
        raise ProtsteerError(f"unknown environment frame {frame!r} (choose from {', '.join(FRAMES)})")


@dataclass(frozen=True, eq=False)
class Environments:
    """Atom entries of ``n_env`` environments, grouped by environment (CSR layout).

    Attributes:
        coords: [M, 3] float32, Angstrom, relative to the environment's centre.
        channel: [M] int64 channel index into ``spec.channels`` (an atom in two channels is two entries).
        env_index: [M] int64 environment of each entry, non-decreasing.
        offsets: [n_env + 1] int64; entries of environment e are ``offsets[e]:offsets[e + 1]``.
        residue_rows: [n_env] int64 residue-table row of each environment's residue.
        centres: [n_env, 3] float32 absolute centre (virtual C-beta or CA fallback), Angstrom.
        spec: the VoxelSpec the entries were selected for.
        rotatable: entries cover the ball needed for rotated grids (see the module docstring).
        frame: orientation of ``coords``, one of :data:`FRAMES` (module docstring).
    """

    coords: np.ndarray
    channel: np.ndarray
    env_index: np.ndarray
    offsets: np.ndarray
    residue_rows: np.ndarray
    centres: np.ndarray
    spec: VoxelSpec
    rotatable: bool
    frame: str = "input"

    @property
    def n_env(self) -> int:
        return len(self.residue_rows)

    def __len__(self) -> int:
        return self.n_env

    def atom_counts(self) -> np.ndarray:
        """[n_env] int64 number of atom entries per environment."""
        return np.diff(self.offsets)

    def select(self, envs: Sequence[int] | np.ndarray) -> Environments:
        """The given environments (indices or boolean mask), renumbered 0..k-1 in the given order."""
        envs = np.asarray(envs)
        envs = np.flatnonzero(envs) if envs.dtype == bool else envs.astype(np.int64).reshape(-1)
        counts = self.offsets[envs + 1] - self.offsets[envs]
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        entries = np.repeat(self.offsets[envs], counts) + (np.arange(total) - np.repeat(starts, counts))
        return Environments(
            coords=self.coords[entries],
            channel=self.channel[entries],
            env_index=np.repeat(np.arange(len(envs), dtype=np.int64), counts),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            residue_rows=self.residue_rows[envs],
            centres=self.centres[envs],
            spec=self.spec,
            rotatable=self.rotatable,
            frame=self.frame,
        )

    def voxelize(self, rotations: Tensor | None = None, device: torch.device | str | None = None) -> Tensor:
        """[n_env, C, G, G, G] float32 grids (see :func:`voxelize`); rotations need ``rotatable=True``."""
        if rotations is not None and not self.rotatable:
            raise ProtsteerError("rotated grids need environments built with rotatable=True")
        return voxelize(self.coords, self.channel, self.env_index, self.n_env, self.spec, rotations, device)


def concatenate_environments(parts: Sequence[Environments]) -> Environments:
    """Stack environments (e.g. from several structures) into one batch; specs must agree.

    ``residue_rows`` are kept as they are (rows of each part's own structure).
    """
    if not parts:
        raise ProtsteerError("concatenate_environments needs at least one part")
    spec, rotatable, frame = parts[0].spec, parts[0].rotatable, parts[0].frame
    if any(part.spec != spec or part.rotatable != rotatable or part.frame != frame for part in parts):
        raise ProtsteerError("cannot concatenate environments built with different specs or frames")
    env_starts = np.cumsum([0] + [part.n_env for part in parts])
    entry_starts = np.cumsum([0] + [len(part.coords) for part in parts])
    return Environments(
        coords=np.concatenate([part.coords for part in parts]).reshape(-1, 3),
        channel=np.concatenate([part.channel for part in parts]),
        env_index=np.concatenate(
            [part.env_index + start for part, start in zip(parts, env_starts, strict=False)]
        ),
        offsets=np.concatenate(
            [[0]] + [part.offsets[1:] + start for part, start in zip(parts, entry_starts, strict=False)]
        ).astype(np.int64),
        residue_rows=np.concatenate([part.residue_rows for part in parts]),
        centres=np.concatenate([part.centres for part in parts]).reshape(-1, 3),
        spec=spec,
        rotatable=rotatable,
        frame=frame,
    )


def environment_centres(structure: ParsedStructure) -> np.ndarray:
    """[R, 3] float32: virtual C-beta of each residue, CA where the virtual C-beta is undefined."""
    centres = structure.virtual_cb.copy()
    missing = ~np.isfinite(centres).all(axis=1)
    centres[missing] = structure.ca[missing]
    return centres


def residue_frames(backbone: np.ndarray) -> np.ndarray:
    """[R, 3, 3] float64 backbone frame of each residue (:func:`protsteer.structure.backbone_frames`) from
    ``backbone`` [R, >=3, 3] (N, CA, C first; NaN where missing), the identity where a frame is undefined."""
    frames = backbone_frames(backbone[:, 0], backbone[:, 1], backbone[:, 2])
    frames[~np.isfinite(frames).all(axis=(1, 2))] = np.eye(3)
    return frames


def in_frame(coords: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """[M, 3] float32 ``frame @ coords[m]`` for one ``frame`` [3, 3] (coordinates relative to a centre,
    Angstrom), computed in float64."""
    return (coords.astype(np.float64) @ np.asarray(frame, dtype=np.float64).T).astype(np.float32)


def to_local_frames(coords: np.ndarray, env_index: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """[M, 3] float32 ``frames[env_index[m]] @ coords[m]`` (coordinates relative to each environment's
    centre, Angstrom; ``frames`` [n_env, 3, 3]), computed in float64."""
    local = np.einsum("mij,mj->mi", frames[env_index], coords.astype(np.float64))
    return local.astype(np.float32)


def residue_environments(
    structure: ParsedStructure,
    spec: VoxelSpec = RESIDUE_SPEC,
    residue_mask: np.ndarray | None = None,
    rotatable: bool = False,
    frame: str = "input",
) -> Environments:
    """Environments of the residues in ``residue_mask`` (default: every residue-table row).

    Args:
        structure: from :func:`protsteer.structure.read_structure`.
        spec: grid and channels (default :data:`RESIDUE_SPEC`).
        residue_mask: [R] bool or row indices; environments come in increasing row order.
        rotatable: select the ball that rotated grids need (module docstring).
        frame: ``"input"`` or ``"local"`` (module docstring); ``"local"`` selects the ball as
            ``rotatable`` does, since the box turns with the frame.

    Returns:
        :class:`Environments` with one environment per selected residue.
    """
    rows = np.arange(structure.n_residues) if residue_mask is None else np.asarray(residue_mask)
    check_frame(frame)
    rows = np.flatnonzero(rows) if rows.dtype == bool else np.unique(rows.astype(np.int64).reshape(-1))
    centres = environment_centres(structure)[rows]
    membership = channel_membership(
        structure.element, structure.atom_name, structure.residue_index, spec.channels
    )
    useful = membership.any(axis=1)
    rotatable = rotatable or frame == "local"
    ball = rotatable or spec.crop_radius is not None
    reach = spec.rotation_reach if ball else spec.reach
    env_model = structure.residues.model[rows]
    parts = []
    for model in np.unique(env_model):  # rows are in table order, so each model's environments are a block
        envs = np.flatnonzero(env_model == model)
        atoms = np.flatnonzero(useful & (structure.atom_model == model))
        env_local, atom_local, offsets = neighbor_offsets(
            structure.coords[atoms], centres[envs], reach, ball=ball
        )
        parts.append((envs[env_local], atoms[atom_local], offsets))
    if not parts:
        parts.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.float32)))
    env, atom, coords = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    if len(env) and (np.diff(env) < 0).any():  # models not in increasing number order in the file
        order = np.argsort(env, kind="stable")
        env, atom, coords = env[order], atom[order], coords[order]
    sidechain_of = np.where(structure.is_sidechain, structure.residue_index, -2)  # -2: no side chain
    keep = np.flatnonzero(sidechain_of[atom] != rows[env])  # drops the residue's own side chain
    env, atom, coords = env[keep], atom[keep], coords[keep]
    if (membership.sum(axis=1) <= 1).all():  # each atom in at most one channel (e.g. atom types)
        channel = membership.argmax(axis=1)[atom]
    else:
        entry, channel = np.nonzero(membership[atom])
        env, coords = env[entry], coords[entry]
    if frame == "local":
        coords = to_local_frames(coords, env, residue_frames(structure.backbone[rows]))
    counts = np.bincount(env, minlength=len(rows))
    return Environments(
        coords=coords.astype(np.float32, copy=False),
        channel=channel.astype(np.int64),
        env_index=env.astype(np.int64),
        offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        residue_rows=rows.astype(np.int64),
        centres=centres.astype(np.float32),
        spec=spec,
        rotatable=rotatable,
        frame=frame,
    )
