"""SO(3) math: real spherical harmonics, Wigner D matrices, Clebsch-Gordan coefficients, rotations.

Conventions (see docs/so3.md): order-l quantities have 2l+1 real components ordered m = -l..l of the
standard real harmonics with polar axis y (so order 1 is (x, y, z) and ``wigner_D(1, R) == R``);
harmonics are orthonormal on the unit sphere; rotations are active and right-handed.
"""

from __future__ import annotations

from protsteer.so3.clebsch_gordan import clebsch_gordan
from protsteer.so3.harmonics import spherical_harmonics
from protsteer.so3.rotations import (
    character,
    cube_rotations,
    orientation_set,
    quaternion_to_matrix,
    random_rotations,
    rotate_grid,
    rotation_matrix,
)
from protsteer.so3.wigner import wigner_D

__all__ = [
    "character",
    "clebsch_gordan",
    "cube_rotations",
    "orientation_set",
    "quaternion_to_matrix",
    "random_rotations",
    "rotate_grid",
    "rotation_matrix",
    "spherical_harmonics",
    "wigner_D",
]
