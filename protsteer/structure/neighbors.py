"""Vectorised neighbour search with a cell list: which points lie in a cube (or ball) around each centre.

Points are hashed into cubic cells of edge ``reach / 4`` and sorted by cell key ``(ix, iy, iz)``; the cells a
query cube covers form at most 9 x 9 runs of consecutive keys (one per ``(ix, iy)`` column), found with
``np.searchsorted``. Candidates (about 1.4x the cube's volume) are expanded with numpy ragged-array arithmetic
and filtered exactly. Work and memory are O(N log N + pairs), processed in chunks of centres; there is no
Python loop over atoms.
"""

from __future__ import annotations

import numpy as np

_CELLS_PER_REACH = 4
_MAX_CANDIDATES_PER_CHUNK = 4_000_000
_MAX_CELLS_PER_AXIS = 2**20


def neighbor_pairs(
    points: np.ndarray,
    centres: np.ndarray,
    reach: float,
    ball: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, point) pairs with the point inside the cube of half-edge ``reach`` about the centre
    (``ball=True``: inside the ball of radius ``reach``). Boundaries are inclusive.

    Args:
        points: [N, 3] Angstrom. centres: [E, 3] Angstrom (rows with NaN match nothing).
        reach: half-edge of the cube or radius of the ball, Angstrom.

    Returns:
        ``(centre_index [K] int64, point_index [K] int64)``, grouped by centre in increasing order.
        Points with non-finite coordinates are never returned.
    """
    centre_index, point_index, _ = neighbor_offsets(points, centres, reach, ball)
    return centre_index, point_index


def neighbor_offsets(
    points: np.ndarray,
    centres: np.ndarray,
    reach: float,
    ball: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`neighbor_pairs` plus ``offsets [K, 3] float32 = points[point] - centres[centre]`` (Angstrom),
    computed in float32 from float32 copies of the inputs."""
    points32 = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    centres32 = np.asarray(centres, dtype=np.float32).reshape(-1, 3)
    empty = np.zeros(0, dtype=np.int64)
    nothing = (empty, empty.copy(), np.zeros((0, 3), dtype=np.float32))
    finite = np.flatnonzero(np.isfinite(points32).all(axis=1))
    valid = np.flatnonzero(np.isfinite(centres32).all(axis=1))
    if len(finite) == 0 or len(valid) == 0:
        return nothing
    positions = points32[finite]
    as_float64 = positions.astype(np.float64)
    origin = as_float64.min(axis=0)
    span = float((as_float64.max(axis=0) - origin).max())
    cell = max(reach / _CELLS_PER_REACH, span / _MAX_CELLS_PER_AXIS)  # keeps cell keys within int64
    point_cells = np.floor((as_float64 - origin) / cell).astype(np.int64)
    dims = point_cells.max(axis=0) + 1
    keys = (point_cells[:, 0] * dims[1] + point_cells[:, 1]) * dims[2] + point_cells[:, 2]
    order = np.argsort(keys, kind="stable")
    grid = (origin, cell, dims, keys[order], order)
    density = len(positions) / max(float(np.prod(dims.astype(np.float64))), 1.0)
    per_centre = density * (2 * _CELLS_PER_REACH + 1) ** 3 + 1
    chunk = max(1, int(_MAX_CANDIDATES_PER_CHUNK / per_centre))
    parts = []
    for start in range(0, len(valid), chunk):
        ids = valid[start : start + chunk]
        owner, candidate, offsets = _query(positions, centres32[ids], reach, ball, grid)
        parts.append((ids[owner], finite[candidate], offsets))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


def _query(
    points: np.ndarray,
    query: np.ndarray,
    reach: float,
    ball: bool,
    grid: tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs for one chunk of centres: (row in ``query``, point index, offset)."""
    origin, cell, dims, sorted_keys, order = grid
    query64 = query.astype(np.float64)
    low = np.maximum(np.floor((query64 - reach - origin) / cell).astype(np.int64), 0)
    high = np.minimum(np.floor((query64 + reach - origin) / cell).astype(np.int64), dims - 1)
    span = 2 * _CELLS_PER_REACH + 1
    steps = np.arange(span)
    column_x = low[:, 0, None, None] + steps[None, :, None]  # [E, span, 1]
    column_y = low[:, 1, None, None] + steps[None, None, :]  # [E, 1, span]
    usable = (column_x <= high[:, 0, None, None]) & (column_y <= high[:, 1, None, None])
    usable &= (low[:, 2] <= high[:, 2])[:, None, None]
    column_key = (column_x * dims[1] + column_y) * dims[2]  # [E, span, span]
    first = np.searchsorted(sorted_keys, column_key + low[:, 2, None, None], side="left")
    last = np.searchsorted(sorted_keys, column_key + high[:, 2, None, None], side="right")
    lengths = np.where(usable, last - first, 0).reshape(-1)
    keep_runs = lengths > 0
    lengths = lengths[keep_runs]
    run_starts = first.reshape(-1)[keep_runs]
    run_owner = np.repeat(np.arange(len(query)), span * span)[keep_runs]
    total = int(lengths.sum())
    run_offsets = np.cumsum(lengths) - lengths
    within = np.arange(total) - np.repeat(run_offsets, lengths)
    candidate = order[np.repeat(run_starts, lengths) + within]
    owner = np.repeat(run_owner, lengths)
    delta = points[candidate] - query[owner]
    if ball:
        inside = np.flatnonzero(np.einsum("ij,ij->i", delta, delta) <= np.float32(reach) ** 2)
    else:
        inside = np.flatnonzero(np.abs(delta).max(axis=1) <= np.float32(reach))
    return owner[inside], candidate[inside], delta[inside]
