"""Residue geometry from backbone atoms."""

from __future__ import annotations

import numpy as np

# Ideal C-beta placement (tetrahedral geometry, bond length ~1.52 Angstrom) as a linear combination of
# b = CA - N, c = C - CA and their cross product a = b x c, added to CA.
_CB_CROSS, _CB_B, _CB_C = -0.58273431, 0.56802827, -0.54067466
# below this (Angstrom) the N side of the frame is undefined: N, CA, C collinear or coincident
_MIN_FRAME_NORM = 1e-3


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


def backbone_frames(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Right-handed orthonormal frame of each residue's backbone, as rotation matrices.

    Rows of the frame: ``x`` along CA -> C, ``y`` the component of CA -> N orthogonal to ``x``, ``z = x cross
    y``. A point ``p`` has local coordinates ``frame @ (p - origin)``. Rotating the structure
    by ``Q`` turns every frame ``F`` into ``F @ Q.T``, so local coordinates do not change: this is what makes
    predictions independent of how the input file is oriented.

    Args:
        n, ca, c: [..., 3] coordinates, Angstrom.

    Returns:
        [..., 3, 3] float64 rotation matrices (det +1); NaN where an atom is missing (NaN) or N, CA, C are
        (nearly) collinear.
    """
    n64, ca64, c64 = (np.asarray(v, dtype=np.float64) for v in (n, ca, c))
    along = c64 - ca64
    side = n64 - ca64
    with np.errstate(invalid="ignore", divide="ignore"):
        x = along / np.linalg.norm(along, axis=-1, keepdims=True)
        y = side - (side * x).sum(axis=-1, keepdims=True) * x
        y_norm = np.linalg.norm(y, axis=-1, keepdims=True)
        y = np.where(y_norm > _MIN_FRAME_NORM, y / y_norm, np.nan)
    frames = np.stack([x, y, np.cross(x, y)], axis=-2)
    frames[~np.isfinite(frames).all(axis=(-2, -1))] = np.nan
    return frames


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
