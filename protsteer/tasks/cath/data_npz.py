"""Reader (and writer) for the CATH npz format of Weiler et al. 2018 (``cath_10arch_ca.npz``).

Keys (N proteins, M = the largest atom count):

- ``n_atoms`` ``[N]`` int: atoms per protein;
- ``atom_types`` ``[N, M]`` bytes/str: atom name per position (``b"CA"`` in the CA-only sets);
- ``res_indices`` ``[N, M]`` int: residue index of each atom along the chain;
- ``positions`` ``[N, M, 3]`` float, Angstrom: protein ``i`` is ``positions[i, :n_atoms[i]]`` (padded rows
  beyond ``n_atoms[i]`` are ignored);
- ``labels`` ``[N, depth]`` int: CATH code fields (class, architecture, ...), e.g. ``(3, 40)`` -> ``"3.40"``;
- ``split_start_indices`` ``[10]`` int: proteins are ordered by split; split ``k`` is
  ``[start[k], start[k+1])`` (the last runs to N). Splits 0-6 are train, 7 val, 8-9 test (as in the paper);
  different splits never share a CATH topology.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.tasks.cath.atoms import atoms_from_names
from protsteer.tasks.cath.records import DomainRecord, DomainSet
from protsteer.voxel import VoxelSpec

NPZ_KEYS = ("n_atoms", "atom_types", "res_indices", "positions", "labels", "split_start_indices")

#: paper split number (0-9) -> our split name
PAPER_SPLITS: dict[int, str] = {**{k: "train" for k in range(7)}, 7: "val", 8: "test", 9: "test"}


def _split_of_index(starts: np.ndarray, n_proteins: int) -> np.ndarray:
    """``[N]`` paper split number (0..len(starts)-1) of every protein."""
    if np.any(np.diff(starts) < 0) or starts[0] != 0 or starts[-1] > n_proteins:
        raise ProtsteerError("split_start_indices must start at 0 and be non-decreasing within n_proteins")
    return np.searchsorted(starts, np.arange(n_proteins), side="right") - 1


def read_paper_npz(path: str | Path, spec: VoxelSpec) -> DomainSet:
    """Load a paper-format CATH npz into a loaded :class:`DomainSet` (atom entries for ``spec``).

    Args:
        path: the ``.npz`` file.
        spec: grid channels; the published sets hold only ``CA`` atoms, so use a spec whose channels see
            CA atoms (``("CA",)`` as in the paper, or ``C``/``all``).

    Returns:
        records with ``architecture`` = ``"<class>.<arch>"`` from the first two label fields, ``split`` from
        :data:`PAPER_SPLITS`, ``dedup_key`` = ``domain_id`` = ``<stem>:<index>`` (each protein is distinct),
        ``topology`` = ``"<class>.<arch>.<topology>"`` when labels have a third field, else ``""``.

    Raises:
        ProtsteerError: missing keys, inconsistent shapes, labels without an architecture level, or a
            protein with no atom in any channel of ``spec``.
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ProtsteerError(f"not a readable npz file ({err})", path) from err
    with data:
        missing = [k for k in NPZ_KEYS if k not in data.files]
        if missing:
            raise ProtsteerError(f"npz lacks keys {', '.join(missing)} (needs {', '.join(NPZ_KEYS)})", path)
        n_atoms = np.asarray(data["n_atoms"]).astype(np.int64).reshape(-1)
        positions = np.asarray(data["positions"])
        atom_types = np.asarray(data["atom_types"])
        labels = np.asarray(data["labels"])
        starts = np.asarray(data["split_start_indices"]).astype(np.int64).reshape(-1)
    n = len(n_atoms)
    if positions.ndim != 3 or positions.shape[0] != n or positions.shape[2] != 3:
        raise ProtsteerError(f"positions must be [n_proteins, max_atoms, 3], got {positions.shape}", path)
    if atom_types.shape[:2] != positions.shape[:2]:
        raise ProtsteerError(f"atom_types shape {atom_types.shape} does not match positions", path)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.shape[0] != n or labels.shape[1] < 2:
        raise ProtsteerError(
            f"labels must be [n_proteins, >=2] (class, architecture); got {labels.shape}", path
        )
    if np.any(n_atoms > positions.shape[1]) or np.any(n_atoms < 1):
        raise ProtsteerError("n_atoms out of range of the positions array", path)
    if len(starts) != len(PAPER_SPLITS):
        raise ProtsteerError(f"expected {len(PAPER_SPLITS)} split_start_indices, got {len(starts)}", path)
    split_numbers = _split_of_index(starts, n)
    records: list[DomainRecord] = []
    coords: list[np.ndarray] = []
    channels: list[np.ndarray] = []
    axes: list[np.ndarray] = []
    for i in range(n):
        types = np.char.strip(atom_types[i, : n_atoms[i]].astype(str))
        entries, channel, principal_axes = atoms_from_names(positions[i, : n_atoms[i]], types, spec)
        if not len(entries):
            raise ProtsteerError(f"protein {i} has no atom in the channels {', '.join(spec.channels)}", path)
        fields = [str(int(v)) for v in labels[i]]
        domain_id = f"{path.stem}:{i}"
        records.append(
            DomainRecord(
                domain_id=domain_id,
                dedup_key=domain_id,
                architecture=".".join(fields[:2]),
                split=PAPER_SPLITS[int(split_numbers[i])],
                topology=".".join(fields[:3]) if len(fields) >= 3 else "",
            )
        )
        coords.append(entries)
        channels.append(channel)
        axes.append(principal_axes)
    return DomainSet(records, coords, channels, axes, source=f"npz:{path}")
