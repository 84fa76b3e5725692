"""``VoxelSpec``: the geometry and channels of a density grid, and the atom -> channel assignment.

Grid geometry: ``grid_size = box_size / voxel_size`` voxels per edge (must be an integer); voxel ``i`` (per
axis) has its centre at ``(i - (grid_size - 1) / 2) * voxel_size`` Angstrom from the box centre, so the grid
is symmetric about the centre and the 24 rotations of the cube map voxel centres onto voxel centres exactly
(for odd and even sizes; an odd size also puts a voxel centre on the box centre, which is why the defaults
are odd).

Density: every atom adds ``exp(-d^2 / (2 sigma^2))`` (peak 1, not normalised) to the voxels of its channels
whose centre lies within ``truncation * sigma`` of the atom along each axis (a cube neighbourhood, which is
invariant under the cube rotations); beyond that the density is exactly zero.

Channel names (a tuple in :attr:`VoxelSpec.channels`): a base, optionally qualified with ``:backbone``,
``:sidechain`` or ``:hetero``.

- bases: ``C``, ``N``, ``O``, ``S`` (sulfur and selenium, so MSE looks like MET), ``other`` (every other
  heavy atom: metals, P, halogens, unknown elements), ``CA`` (CA atoms of residue-table residues), ``all``
  (every heavy atom). Hydrogens, when a policy keeps them, are in no channel.
- qualifiers: ``backbone`` (N, CA, C, O, OXT of residue-table residues), ``sidechain`` (other atoms of
  residue-table residues), ``hetero`` (context atoms: ligands, metals, nucleic acids, skipped residues);
  ``helix``, ``strand``, ``coil``: atoms of residues in that secondary-structure state, assigned from CA
  positions (:mod:`protsteer.structure.secondary`). These three are available for domain grids
  (:func:`~protsteer.voxel.domain_environment`, the CATH task), which compute the states; e.g.
  ``("CA:helix", "CA:strand", "CA:coil")`` splits a CA-only grid by secondary structure.

An atom that matches several channels (e.g. ``C`` and ``CA``) is added to each of them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure.residues import BACKBONE_ATOM_NAMES
from protsteer.structure.secondary import SECONDARY_STRUCTURE_STATES

ELEMENT_CHANNELS = ("C", "N", "O", "S", "other")
_BASES = ("C", "N", "O", "S", "other", "CA", "all")
#: qualifiers that need the secondary-structure state of each atom's residue (in state-code order)
SECONDARY_STRUCTURE_QUALIFIERS = SECONDARY_STRUCTURE_STATES
_QUALIFIERS = ("backbone", "sidechain", "hetero", *SECONDARY_STRUCTURE_QUALIFIERS)
_HYDROGEN, _CARBON, _NITROGEN, _OXYGEN, _SULFUR, _SELENIUM = 1, 6, 7, 8, 16, 34


@dataclass(frozen=True)
class VoxelSpec:
    """Geometry, smoothing and channels of a density grid (lengths in Angstrom).

    Attributes:
        box_size: edge of the cube tiled by the voxels, Angstrom (default 21: 21 voxels of 1 Angstrom, a
            box of about 20 Angstrom as used for amino-acid environments in the literature).
        voxel_size: voxel edge, Angstrom (default 1).
        sigma: Gaussian width of an atom, Angstrom (default 0.75: half a C-C bond; a Gaussian this wide is
            sampled at 1 Angstrom with little aliasing, which keeps the grid close to rotation-equivariant
            for continuous rotations, while bonded atoms of one channel stay distinguishable).
        channels: channel names (module docstring), default ``("C", "N", "O", "S", "other")``: atom types
            only, neighbouring backbone and side chains in the same channels (the network sees them apart
            by shape; ``"C:backbone"`` etc. give the split variant).
        truncation: the Gaussian is cut at ``truncation * sigma`` along each axis (default 3).
        crop_radius: keep only atoms within this distance of the centre, Angstrom (``None``: every atom that
            reaches the box). A ball is the same set of atoms in every orientation, so the grid's content
            does not change when the environment is rotated (a cube's corners do); measured on real
            environments, a 9 Angstrom crop cuts the rotation error of pooled network invariants about
            fourfold (docs/structure.md, "Crop ball").
    """

    box_size: float = 21.0
    voxel_size: float = 1.0
    sigma: float = 0.75
    channels: tuple[str, ...] = ELEMENT_CHANNELS
    truncation: float = 3.0
    crop_radius: float | None = None

    def __post_init__(self) -> None:
        if not (self.voxel_size > 0 and self.box_size > 0 and self.sigma > 0 and self.truncation > 0):
            raise ProtsteerError(f"VoxelSpec lengths must be positive: {self}")
        if self.crop_radius is not None and not self.crop_radius > 0:
            raise ProtsteerError(f"VoxelSpec crop_radius must be positive or None: {self}")
        ratio = self.box_size / self.voxel_size
        if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
            raise ProtsteerError(
                f"VoxelSpec box_size ({self.box_size}) must be a whole number of voxels ({self.voxel_size})"
            )
        object.__setattr__(self, "channels", tuple(self.channels))
        if not self.channels:
            raise ProtsteerError("VoxelSpec needs at least one channel")
        for name in self.channels:
            _parse_channel(name)
        if len(set(self.channels)) != len(self.channels):
            raise ProtsteerError(f"VoxelSpec channels repeat a name: {self.channels}")

    @property
    def grid_size(self) -> int:
        """Voxels per edge, G."""
        return round(self.box_size / self.voxel_size)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def uses_secondary_structure(self) -> bool:
        """Whether a channel is qualified by secondary structure (``helix``, ``strand``, ``coil``)."""
        return any(_parse_channel(name)[1] in SECONDARY_STRUCTURE_QUALIFIERS for name in self.channels)

    @property
    def cutoff(self) -> float:
        """Per-axis reach of one atom's density, Angstrom (``truncation * sigma``)."""
        return self.truncation * self.sigma

    @property
    def half_span(self) -> float:
        """Distance from the box centre to the outermost voxel centres along an axis, Angstrom."""
        return (self.grid_size - 1) / 2 * self.voxel_size

    @property
    def reach(self) -> float:
        """Half-edge of the cube (about the centre) holding every atom that can add density to the grid."""
        return self.half_span + self.cutoff

    @property
    def rotation_reach(self) -> float:
        """Radius of the ball holding every atom that can add density to the grid under any rotation
        about the centre: the ball circumscribing the :attr:`reach` cube, or the :attr:`crop_radius` ball
        if smaller."""
        circumscribed = math.sqrt(3.0) * self.reach
        return circumscribed if self.crop_radius is None else min(circumscribed, self.crop_radius)

    def voxel_centres(self) -> np.ndarray:
        """[G] float64 voxel-centre coordinates along one axis, Angstrom from the box centre."""
        return (np.arange(self.grid_size) - (self.grid_size - 1) / 2) * self.voxel_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (channels as a list)."""
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VoxelSpec:
        """Inverse of :meth:`to_dict`."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProtsteerError(f"unknown VoxelSpec fields: {', '.join(sorted(unknown))}")
        return cls(**{**values, "channels": tuple(values.get("channels", ELEMENT_CHANNELS))})


def _parse_channel(name: str) -> tuple[str, str | None]:
    base, _, qualifier = name.partition(":")
    if base not in _BASES or (qualifier and qualifier not in _QUALIFIERS):
        raise ProtsteerError(
            f"unknown voxel channel {name!r} (bases: {', '.join(_BASES)}; "
            f"optional qualifier :{', :'.join(_QUALIFIERS)})"
        )
    return base, qualifier or None


def channel_membership(
    element: np.ndarray,
    atom_name: np.ndarray,
    residue_index: np.ndarray,
    channels: tuple[str, ...],
    secondary_structure: np.ndarray | None = None,
) -> np.ndarray:
    """[N, C] bool: atom n contributes to channel c.

    Args:
        element: [N] atomic numbers; atom_name: [N] str; residue_index: [N] int (-1 = context atom).
        channels: channel names (see the module docstring).
        secondary_structure: [N] int state of each atom's residue (codes of
            :mod:`protsteer.structure.secondary`; ignored for context atoms); needed by the ``helix``,
            ``strand`` and ``coil`` qualifiers.

    Raises:
        ProtsteerError: a channel needs secondary structure and none was given.
    """
    element = np.asarray(element)
    in_residue = np.asarray(residue_index) >= 0
    backbone_name = np.isin(atom_name, list(BACKBONE_ATOM_NAMES))
    sulfur = (element == _SULFUR) | (element == _SELENIUM)
    bases = {
        "C": element == _CARBON,
        "N": element == _NITROGEN,
        "O": element == _OXYGEN,
        "S": sulfur,
        "other": ~np.isin(element, (_HYDROGEN, _CARBON, _NITROGEN, _OXYGEN, _SULFUR, _SELENIUM)),
        "CA": in_residue & (atom_name == "CA"),
        "all": element != _HYDROGEN,
    }
    qualifiers = {
        None: np.ones(len(element), dtype=bool),
        "backbone": in_residue & backbone_name,
        "sidechain": in_residue & ~backbone_name,
        "hetero": ~in_residue,
    }
    if secondary_structure is not None:
        state = np.asarray(secondary_structure)
        for code, state_qualifier in enumerate(SECONDARY_STRUCTURE_QUALIFIERS):
            qualifiers[state_qualifier] = in_residue & (state == code)
    membership = np.zeros((len(element), len(channels)), dtype=bool)
    for column, name in enumerate(channels):
        base, qualifier = _parse_channel(name)
        if qualifier not in qualifiers:
            raise ProtsteerError(
                f"voxel channel {name!r} needs secondary structure, which only domain grids (the CATH task) "
                "compute"
            )
        membership[:, column] = bases[base] & qualifiers[qualifier]
    return membership


#: Residue environments (amino-acid propensity): 21^3 voxels of 1 Angstrom, sigma 0.75, 5 atom-type channels,
#: atoms within 9 Angstrom of the centre (a ball: the same atoms in every orientation).
RESIDUE_SPEC = VoxelSpec(crop_radius=9.0)

#: Whole-domain CA-only grids (CATH, as in Weiler et al. 2018): 50^3 voxels of 2 Angstrom, sigma 1 Angstrom.
DOMAIN_CA_SPEC = VoxelSpec(box_size=100.0, voxel_size=2.0, sigma=1.0, channels=("CA",))

#: Whole-domain all-atom grids: 50^3 voxels of 2 Angstrom, sigma 1 Angstrom, 5 atom-type channels.
DOMAIN_ATOM_SPEC = VoxelSpec(box_size=100.0, voxel_size=2.0, sigma=1.0, channels=ELEMENT_CHANNELS)
