"""Residue geometry from backbone atoms."""

from __future__ import annotations

import numpy as np

# Ideal C-beta placement (tetrahedral geometry, bond length ~1.52 Angstrom) as a linear combination of
# b = CA - N, c = C - CA and their cross product a = b x c, added to CA.
_CB_CROSS, _CB_B, _CB_C = -0.58273431, 0.56802827, -0.54067466


def virtual_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Ideal C-beta position from backbone N, CA, C (the same for every residue type, glycine included).

    Args:
        n, ca, c: [..., 3] coordinates, Angstrom.

    Returns:
        [..., 3] float32, Angstrom; NaN where any input is NaN.
    """
    n64, ca64, c64 = (np.asarray(x, dtype=np.float64) for x in (n, ca, c))
    b = ca64 - n64
    c_vec = c64 - ca64
    a = np.cross(b, c_vec)
    return (ca64 + _CB_CROSS * a + _CB_B * b + _CB_C * c_vec).astype(np.float32)


def ca_ca_breaks(ca: np.ndarray, same_chain_as_previous: np.ndarray, max_distance: float = 4.2) -> np.ndarray:
    """[R] bool: the row's CA is farther than ``max_distance`` Angstrom from the previous row's CA while both
    rows belong to the same chain (row 0 and first rows of chains are False)."""
    breaks = np.zeros(len(ca), dtype=bool)
    if len(ca) > 1:
        step = np.linalg.norm(np.diff(ca.astype(np.float64), axis=0), axis=1)
        breaks[1:] = same_chain_as_previous[1:] & (step > max_distance)
    return breaks


def peptide_links(
    backbone: np.ndarray, same_chain_as_previous: np.ndarray, max_bond: float = 2.0
) -> np.ndarray:
    """[R] bool: the row has a peptide bond (C of the previous row to its N, or its C to the next row's N,
    within ``max_bond`` Angstrom) to a neighbouring row of the same chain.

    Args:
        backbone: [R, 4, 3] N, CA, C, O coordinates (NaN when missing), Angstrom.
        same_chain_as_previous: [R] bool.
    """
    linked = np.zeros(len(backbone), dtype=bool)
    if len(backbone) > 1:
        bond = np.linalg.norm(backbone[1:, 0].astype(np.float64) - backbone[:-1, 2], axis=1)
        link = same_chain_as_previous[1:] & (bond <= max_bond)  # NaN compares False
        linked[1:] |= link
        linked[:-1] |= link
    return linked
