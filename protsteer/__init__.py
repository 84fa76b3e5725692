"""protsteer: 3D steerable CNNs (Weiler, Geiger, Welling, Boomsma, Cohen, NeurIPS 2018) for proteins.

Layers, read top-down (lower layers never import higher ones)::

    cli/        protsteer predict | scan | inspect | train | evaluate | merge
    tasks/      propensity, cath: datasets, the shared training loop, evaluation, prediction
    networks/   network definitions built from nn/ blocks
    voxel/      VoxelSpec, residue environments, whole-domain grids, batched voxelizer
    structure/  gemmi-based reading, cleanup policies, residue tables, domain segments
    nn/         FieldType, SteerableConv3d, kernel basis, nonlinearities, batch norm, pooling
    so3/        real spherical harmonics, Wigner D, Clebsch-Gordan, rotations
    io/         tables, atomic writes, run.json provenance, weights loading
"""

from protsteer.errors import ProtsteerError

__version__ = "0.1.0"
__all__ = ["ProtsteerError", "__version__"]
