"""Structure cache for training: every structure file is parsed ONCE into a compact ``.npz``.

Layout: ``<cache_dir>/structures-<key>/<file relative to the data dir>.npz`` where ``<key>`` hashes the
cache format version, the reader's output version (``READER_VERSION``) and the
:class:`~protsteer.structure.policy.ReadPolicy`, so neither a different policy nor a changed reader reuses a
stale cache. Each ``.npz`` holds the arrays of :class:`~protsteer.structure.parsed.ParsedStructure`
that environments need:

- atoms (N): ``coords`` [N, 3] float32 Angstrom, ``element`` [N] uint8 atomic number, ``atom_name`` [N]
  bytes (``S4``), ``residue_index`` [N] int32 (row in the residue arrays, -1 for context atoms),
  ``is_sidechain`` [N] bool.
- residues (R): ``chain`` [R] str, ``model`` [R] int32, ``aa`` [R] int8 (index in ``ACDEFGHIKLMNPQRSTVWY``,
  -1 for X), ``virtual_cb`` [R, 3] float32 Angstrom (NaN when N or C is missing).

:class:`StructureStore` loads a set of cached files into a few concatenated in-memory arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_write_bytes
from protsteer.structure.policy import ReadPolicy
from protsteer.structure.reading import READER_VERSION, read_structure

logger = logging.getLogger(__name__)

CACHE_VERSION = 2
ATOM_ARRAYS = ("coords", "element", "atom_name", "residue_index", "is_sidechain")
RESIDUE_ARRAYS = ("chain", "model", "aa", "virtual_cb")


def cache_root(cache_dir: str | Path, policy: ReadPolicy) -> Path:
    """``<cache_dir>/structures-<key>``: the key depends on the cache version, the reader version and the
    read policy."""
    blob = json.dumps(
        {"version": CACHE_VERSION, "reader": READER_VERSION, "policy": policy.to_dict()}, sort_keys=True
    )
    return Path(cache_dir) / f"structures-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def cached_path(root: Path, relative_file: str) -> Path:
    """Cache file of one structure file (``relative_file`` is relative to the data directory)."""
    return root / f"{relative_file}.npz"


def structure_arrays(path: Path, policy: ReadPolicy) -> dict[str, np.ndarray]:
    """Read one structure file and return the cached arrays (see the module docstring)."""
    parsed = read_structure(path, policy=policy)
    return {
        "coords": parsed.coords.astype(np.float32),
        "element": parsed.element.astype(np.uint8),
        "atom_name": np.char.encode(np.asarray(parsed.atom_name, dtype=str), "ascii").astype("S4"),
        "residue_index": parsed.residue_index.astype(np.int32),
        "is_sidechain": parsed.is_sidechain.astype(bool),
        "chain": np.asarray(parsed.residues.chain, dtype=str),
        "model": parsed.residues.model.astype(np.int32),
        "aa": parsed.residues.aa_index.astype(np.int8),
        "virtual_cb": parsed.virtual_cb.astype(np.float32),
    }


def write_cached_arrays(target: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write one structure's cached arrays (see the module docstring) atomically to ``target``."""
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    atomic_write_bytes(target, buffer.getvalue())


def write_cache_policy(root: Path, policy: ReadPolicy) -> None:
    """Record a cache root's read policy in ``<root>/policy.json`` (for people: the key hashes it)."""
    (root / "policy.json").write_text(json.dumps(policy.to_dict(), indent=2), encoding="utf-8")


def _cache_one(job: tuple[Path, Path, ReadPolicy]) -> tuple[str, str | None]:
    source, target, policy = job
    try:
        arrays = structure_arrays(source, policy)
    except ProtsteerError as err:
        return str(source), err.one_line()
    write_cached_arrays(target, arrays)
    return str(source), None


def build_cache(
    data_dir: str | Path, files: list[str], cache_dir: str | Path, policy: ReadPolicy, workers: int = 1
) -> tuple[Path, dict[str, str]]:
    """Parse the files that are not cached yet (a ``spawn`` process pool of ``workers``; a script calling
    this with ``workers > 1`` must guard its top level with ``if __name__ == "__main__":``).

    Returns ``(cache root, {file: error})`` for files that could not be read (they are skipped by training).
    """
    root = cache_root(cache_dir, policy)
    jobs = [
        (Path(data_dir) / f, cached_path(root, f), policy) for f in files if not cached_path(root, f).exists()
    ]
    errors: dict[str, str] = {}
    if jobs:
        logger.info(
            "caching %d of %d structure files in %s (%d workers)", len(jobs), len(files), root, workers
        )
        if workers > 1:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                results = list(pool.imap_unordered(_cache_one, jobs, chunksize=4))
        else:
            results = [_cache_one(job) for job in jobs]
        data_dir = Path(data_dir)
        for source, error in results:
            if error is not None:
                errors[str(Path(source).relative_to(data_dir))] = error
                logger.warning("skipping %s: %s", source, error)
    write_cache_policy(root, policy)
    return root, errors


@dataclass
class StructureStore:
    """Cached structures concatenated in memory.

    Attributes:
        files: data-relative file names, in store order.
        coords [N, 3] float32, element [N] uint8, atom_name [N] S4, residue_index [N] int32 (file-local
        residue row, -1 context), is_sidechain [N] bool: all atoms of all files.
        atom_offsets [F + 1] int64: atoms of file f are ``atom_offsets[f]:atom_offsets[f + 1]``.
        chain [R] str, model [R] int32, aa [R] int8, virtual_cb [R, 3] float32: all residues of all files.
        residue_offsets [F + 1] int64: residues of file f.
    """

    files: list[str]
    coords: np.ndarray
    element: np.ndarray
    atom_name: np.ndarray
    residue_index: np.ndarray
    is_sidechain: np.ndarray
    atom_offsets: np.ndarray
    chain: np.ndarray
    model: np.ndarray
    aa: np.ndarray
    virtual_cb: np.ndarray
    residue_offsets: np.ndarray

    @classmethod
    def load(cls, root: Path, files: list[str]) -> StructureStore:
        """Load the cached arrays of ``files`` (each must exist under ``root``)."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in ATOM_ARRAYS + RESIDUE_ARRAYS}
        for name in files:
            path = cached_path(root, name)
            try:
                with np.load(path) as arrays:
                    for key in parts:
                        parts[key].append(arrays[key])
            except (OSError, KeyError, ValueError) as err:
                raise ProtsteerError(f"unreadable cache file ({err}); delete it to rebuild", path) from err
        atom_counts = [len(a) for a in parts["coords"]]
        residue_counts = [len(a) for a in parts["aa"]]
        return cls(
            files=list(files),
            **{key: np.concatenate(values) if values else np.zeros(0) for key, values in parts.items()},
            atom_offsets=np.concatenate([[0], np.cumsum(atom_counts)]).astype(np.int64),
            residue_offsets=np.concatenate([[0], np.cumsum(residue_counts)]).astype(np.int64),
        )

    def atoms_of(self, file_index: int) -> slice:
        """Slice of the atom arrays that belongs to file ``file_index``."""
        return slice(int(self.atom_offsets[file_index]), int(self.atom_offsets[file_index + 1]))

    def backbone(self) -> np.ndarray:
        """[R, 3, 3] float32 N, CA, C coordinates of every residue, Angstrom (NaN where missing)."""
        backbone = np.full((len(self.aa), 3, 3), np.nan, dtype=np.float32)
        file_of_atom = np.repeat(np.arange(len(self.files)), np.diff(self.atom_offsets))
        residue = self.residue_offsets[file_of_atom] + self.residue_index
        for slot, name in enumerate((b"N", b"CA", b"C")):
            atoms = np.flatnonzero((self.residue_index >= 0) & (self.atom_name == name))
            backbone[residue[atoms], slot] = self.coords[atoms]
        return backbone

    def residues_of(self, file_index: int) -> slice:
        """Slice of the residue arrays that belongs to file ``file_index``."""
        return slice(int(self.residue_offsets[file_index]), int(self.residue_offsets[file_index + 1]))
