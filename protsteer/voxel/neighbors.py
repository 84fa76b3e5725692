"""The neighbour search, at its contract path (docs/CONTRACTS.md); it lives in
:mod:`protsteer.structure.neighbors` so that structure-level code (secondary structure) can use it too."""

from protsteer.structure.neighbors import neighbor_offsets, neighbor_pairs

__all__ = ["neighbor_offsets", "neighbor_pairs"]
