"""protsteer.voxel: residue environments, whole-domain atom sets and the batched Gaussian voxelizer.

Stable public API (everything importable from ``protsteer.voxel``)::

    VoxelSpec(box_size=21.0, voxel_size=1.0, sigma=0.75, channels=("C","N","O","S","other"), truncation=3.0,
              crop_radius=None)
        frozen; lengths in Angstrom; .grid_size (G = box_size / voxel_size, 21), .n_channels, .cutoff,
        .reach, .rotation_reach, .voxel_centres(), .to_dict() / VoxelSpec.from_dict().
        Presets: RESIDUE_SPEC (= VoxelSpec(crop_radius=9.0)), DOMAIN_CA_SPEC (50^3 x 2 A, sigma 1, ("CA",)),
        DOMAIN_ATOM_SPEC (50^3 x 2 A, sigma 1, atom types). Channel names: see protsteer.voxel.spec.

    residue_environments(structure, spec=RESIDUE_SPEC, residue_mask=None, rotatable=False, frame="input")
        -> Environments: atoms around each residue's virtual CB, own side chain (incl. CB) removed;
        O(N log N) cell list. rotatable=True selects the ball needed for randomly rotated grids (training
        augmentation); frame="local" expresses each environment in its residue's backbone frame
        (predictions independent of the file's orientation). FRAMES = ("input", "local").

    domain_environment(structure, spec=DOMAIN_CA_SPEC, residues=None | mask | "A:1-120,A:200-250",
                       include_context=False, frame="input") -> Environments (one environment,
        CA-centroid centred; frame="local" turns it onto the CA atoms' principal axes: principal_frame)

    Environments: coords [M,3] float32 A (relative to centre), channel [M], env_index [M] (sorted),
        offsets [n_env+1], residue_rows [n_env], centres [n_env,3], spec, rotatable, frame;
        .n_env, .select(envs), .voxelize(rotations=None, device=None) -> [n_env, C, G, G, G],
        concatenate_environments([...]) to batch across structures.

    voxelize(coords, channels, env_index, n_env, spec, rotations=None, device=None) -> Tensor
        [n_env, C, G, G, G] float32 on coords' device (or ``device``); rotations [n_env,3,3] rotate the
        coords about the box centre. Vectorised torch (index_add_ of separable truncated Gaussians),
        CPU and CUDA.

    neighbor_pairs(points, centres, reach, ball=False) -> (centre_index, point_index)
"""

from protsteer.structure.neighbors import neighbor_pairs
from protsteer.voxel.domain import domain_environment, principal_frame
from protsteer.voxel.environments import (
    FRAMES,
    Environments,
    concatenate_environments,
    environment_centres,
    residue_environments,
)
from protsteer.voxel.spec import (
    DOMAIN_ATOM_SPEC,
    DOMAIN_CA_SPEC,
    ELEMENT_CHANNELS,
    RESIDUE_SPEC,
    VoxelSpec,
    channel_membership,
)
from protsteer.voxel.voxelizer import voxelize

__all__ = [
    "DOMAIN_ATOM_SPEC",
    "DOMAIN_CA_SPEC",
    "ELEMENT_CHANNELS",
    "FRAMES",
    "RESIDUE_SPEC",
    "Environments",
    "VoxelSpec",
    "channel_membership",
    "concatenate_environments",
    "domain_environment",
    "environment_centres",
    "neighbor_pairs",
    "principal_frame",
    "residue_environments",
    "voxelize",
]
