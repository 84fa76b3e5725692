"""The result of reading a structure: flat numpy arrays for atoms, a column-wise residue table, and a report.

Nothing downstream iterates over per-atom Python objects: environments and grids are computed from
:attr:`ParsedStructure.coords` and friends with vectorised numpy / torch code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protsteer.structure.policy import ReadPolicy
from protsteer.structure.residues import AMINO_ACIDS

#: Residue table columns, in output order.
RESIDUE_COLUMNS = (
    "structure_id",
    "model",
    "chain",
    "resseq",
    "icode",
    "seq_index",
    "resname",
    "native_aa",
    "flags",
)


@dataclass(frozen=True, eq=False)
class ResidueTable:
    """One row per protein residue with a CA atom, in file order (never sorted, never renumbered).

    All columns are numpy arrays of length R:

    - ``model`` int32: model number (``MODEL`` serial / ``pdbx_PDB_model_num``).
    - ``chain`` str: author chain id (multi-letter ids kept).
    - ``resseq`` int32, ``icode`` str (``""`` when none): author numbering.
    - ``seq_index`` int32: 0-based position of the residue among the rows of its (model, chain).
    - ``resname`` str: residue name as in the file (``MSE`` stays ``MSE``).
    - ``native_aa`` str: one of ``ACDEFGHIKLMNPQRSTVWY`` (parent of modified residues) or ``X``.
    - ``flags`` str: ``;``-joined tokens, ``""`` when none. Tokens: ``nonstandard:<NAME>``, ``unknown``
      (native_aa X), ``hetatm`` (given as HETATM), ``altloc`` (had alternative locations), ``microhetero``
      (altlocs with different residue names), ``missing_sidechain`` (a standard residue lacks heavy
      side-chain atoms), ``no_N`` / ``no_C`` / ``no_O`` (backbone atom missing), ``chain_break`` (CA-CA
      distance to the previous row of the chain > 4.2 Angstrom), ``unlinked`` (no peptide bond, C-N <= 2.0
      Angstrom, to the previous or the next row of its chain: free amino-acid ligands, residues listed out of
      order, one-residue fragments), ``d_amino_acid`` (a D-amino acid: native_aa X).
    """

    structure_id: str
    model: np.ndarray
    chain: np.ndarray
    resseq: np.ndarray
    icode: np.ndarray
    seq_index: np.ndarray
    resname: np.ndarray
    native_aa: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.resseq)

    @property
    def aa_index(self) -> np.ndarray:
        """[R] int64: index of ``native_aa`` in ``ACDEFGHIKLMNPQRSTVWY``, -1 for ``X``."""
        lookup = {letter: index for index, letter in enumerate(AMINO_ACIDS)}
        return np.array([lookup.get(letter, -1) for letter in self.native_aa.tolist()], dtype=np.int64)

    def address(self, row: int) -> str:
        """Author address of a row, ``CHAIN:RESSEQ[ICODE]`` (e.g. ``H:100A``)."""
        return f"{self.chain[row]}:{int(self.resseq[row])}{self.icode[row]}"

    def addresses(self) -> list[str]:
        """:meth:`address` of every row."""
        columns = zip(self.chain.tolist(), self.resseq.tolist(), self.icode.tolist(), strict=True)
        return [f"{chain}:{resseq}{icode}" for chain, resseq, icode in columns]

    def has_flag(self, token: str) -> np.ndarray:
        """[R] bool: rows whose flags contain ``token`` exactly (``nonstandard:`` matches any name)."""
        if token.endswith(":"):
            flags = self.flags.tolist()
            return np.array([any(t.startswith(token) for t in f.split(";")) for f in flags], dtype=bool)
        return np.array([token in f.split(";") for f in self.flags.tolist()], dtype=bool)

    def to_columns(self) -> dict[str, list]:
        """The table as ``{column: list}`` in :data:`RESIDUE_COLUMNS` order (plain Python values)."""
        columns: dict[str, list] = {"structure_id": [self.structure_id] * len(self)}
        for name in RESIDUE_COLUMNS[1:]:
            columns[name] = getattr(self, name).tolist()
        return columns

    def take(self, rows: np.ndarray) -> ResidueTable:
        """A table with the given rows (index array or boolean mask), ``seq_index`` unchanged."""
        return ResidueTable(self.structure_id, *(getattr(self, name)[rows] for name in RESIDUE_COLUMNS[1:]))


@dataclass(frozen=True)
class SkippedResidue:
    """A protein residue that is not in the residue table (its atoms stay as context atoms)."""

    model: int
    chain: str
    resseq: int
    icode: str
    resname: str
    reason: str

    @property
    def address(self) -> str:
        return f"{self.chain}:{self.resseq}{self.icode}"


@dataclass(frozen=True)
class ReadReport:
    """What the file held and what the policy did with it (all counts over the models read).

    Attributes:
        source_format: ``"pdb"``, ``"mmcif"`` or ``"mmjson"``.
        compressed: the input was gzip-compressed.
        atom_tail_columns_ignored: PDB columns 73-80 of ATOM/HETATM lines held something else than segment,
            element and charge (old-style ``1ACB1930`` ids); they were ignored and elements were inferred
            from the atom names.
        models_in_file: number of models in the file.
        models_read: model numbers that were read.
        altloc_residues: residues (protein or not) that had alternative locations.
        microhetero_residues: residues whose altlocs had different residue names.
        altloc_atoms_removed: atoms dropped by the altloc policy.
        hydrogens_removed / waters_removed: atoms dropped by those policies.
        hetero_atoms_kept / hetero_atoms_removed: non-protein, non-water atoms kept as context or dropped.
        hetero_removed_names: residue names whose atoms the hetero policy dropped (sorted).
        hetero_kept_names: residue names of kept non-protein context atoms (sorted).
    """

    source_format: str
    compressed: bool
    atom_tail_columns_ignored: bool
    models_in_file: int
    models_read: tuple[int, ...]
    altloc_residues: int = 0
    microhetero_residues: int = 0
    altloc_atoms_removed: int = 0
    hydrogens_removed: int = 0
    waters_removed: int = 0
    hetero_atoms_kept: int = 0
    hetero_atoms_removed: int = 0
    hetero_removed_names: tuple[str, ...] = ()
    hetero_kept_names: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class ParsedStructure:
    """A structure read with a :class:`ReadPolicy`: atoms as arrays, protein residues as a table.

    Atom arrays (length N, file order, only kept atoms; hydrogens/waters per policy):
        coords: [N, 3] float32, Angstrom.
        element: [N] uint8 atomic number (0 = unknown element).
        atom_name: [N] str, e.g. ``"CA"``.
        residue_index: [N] int32 row of the atom's residue in :attr:`residues`, -1 for context atoms
            (ligands, metals, nucleic acids, waters when kept, atoms of skipped residues).
        is_sidechain: [N] bool, True for every atom of a residue-table residue except N, CA, C, O, OXT.
        atom_model: [N] int32 model number of the atom.

    Residue arrays (length R, rows of :attr:`residues`):
        backbone: [R, 4, 3] float32 Angstrom, atoms N, CA, C, O; NaN where missing (CA is never missing).
        virtual_cb: [R, 3] float32 Angstrom, ideal C-beta from N, CA, C (also for glycine); NaN when N or C
            is missing.

    Also: ``skipped`` (protein residues left out of the table, with the reason), ``report`` (what the policy
    did), ``policy`` (the policy used), ``path`` (None when read from bytes).
    """

    structure_id: str
    path: str | None
    policy: ReadPolicy
    coords: np.ndarray
    element: np.ndarray
    atom_name: np.ndarray
    residue_index: np.ndarray
    is_sidechain: np.ndarray
    atom_model: np.ndarray
    residues: ResidueTable
    backbone: np.ndarray
    virtual_cb: np.ndarray
    report: ReadReport
    skipped: tuple[SkippedResidue, ...] = field(default_factory=tuple)

    @property
    def n_atoms(self) -> int:
        return len(self.coords)

    @property
    def n_residues(self) -> int:
        return len(self.residues)

    @property
    def ca(self) -> np.ndarray:
        """[R, 3] float32 CA coordinates, Angstrom."""
        return self.backbone[:, 1]

    @property
    def model_numbers(self) -> tuple[int, ...]:
        """Model numbers present (in file order)."""
        return self.report.models_read
