"""SO(3) math: real spherical harmonics, Wigner D matrices, Clebsch-Gordan coefficients, rotations."""
