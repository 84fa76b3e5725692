"""protsteer.structure: reading protein structures into flat numpy arrays (gemmi does the parsing).

Stable public API (everything importable from ``protsteer.structure``)::

    read_structure(source, policy=ReadPolicy(), structure_id=None) -> ParsedStructure
        source: path (PDB / mmCIF / mmJSON, plain or gzip, detected by content; any extension) or bytes.
        Raises ProtsteerError(reason, path) for every kind of bad input, never a gemmi/unicode/zlib error.

    ReadPolicy(model="first"|"all"|int, altloc="occupancy"|"first",
               hetero="cofactors"|"all"|"metals"|"none", keep_waters=False, keep_hydrogens=False,
               max_bytes=1 GiB)        frozen; .to_dict() / ReadPolicy.from_dict() for provenance.
        Use the same policy for training and inference (the default, unless there is a reason).

    ParsedStructure (frozen):
        structure_id, path, policy, report (ReadReport), skipped (tuple[SkippedResidue])
        atoms  [N]: coords [N,3] float32 A, element [N] uint8 atomic number, atom_name [N] str,
                    residue_index [N] int32 (row in .residues, -1 = context atom: ligand, metal, ...),
                    is_sidechain [N] bool (residue atoms except N, CA, C, O, OXT), atom_model [N] int32
        residues [R]: residues (ResidueTable), backbone [R,4,3] float32 (N, CA, C, O; NaN if missing),
                    virtual_cb [R,3] float32 (ideal CB from N, CA, C; NaN if N or C missing), ca [R,3]

    ResidueTable: column arrays model, chain, resseq, icode, seq_index, resname, native_aa, flags
        (+ structure_id); .to_columns() (RESIDUE_COLUMNS order), .addresses(), .aa_index, .has_flag(),
        .take(rows). Rows: protein residues with a CA atom, in file order, author numbering, never renumbered.

    parse_residue_selection("A:1-120,A:200-250") -> list[ResidueRange]
    select_residues(residues, "H:100A,L:1-20", model=None, strict=True) -> [R] bool mask

    AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"; virtual_cb(n, ca, c); backbone_frames(n, ca, c) -> [R,3,3]
    ca_secondary_structure(ca [R,3], segment=None) -> [R] int8 (COIL 0, HELIX 1, STRAND 2) from CA geometry;
    structure_secondary_structure(parsed) -> the same for every residue-table row

Residue classification: a residue is a *protein residue* when gemmi tabulates its name as an amino acid
(standard or modified: MSE -> native_aa M, resname stays MSE, flag ``nonstandard:MSE``), or when its name is
not tabulated at all and it has N, CA and C atoms (native_aa X, flag ``unknown``). Protein residues without a
CA atom are not in the table (``skipped``, logged) but their atoms stay as context atoms.
"""

from protsteer.structure.geometry import backbone_frames, virtual_cb
from protsteer.structure.parsed import (
    RESIDUE_COLUMNS,
    ParsedStructure,
    ReadReport,
    ResidueTable,
    SkippedResidue,
)
from protsteer.structure.policy import ReadPolicy
from protsteer.structure.reading import read_structure
from protsteer.structure.residues import AMINO_ACIDS, UNKNOWN_AA
from protsteer.structure.secondary import (
    COIL,
    HELIX,
    STRAND,
    ca_secondary_structure,
    structure_secondary_structure,
)
from protsteer.structure.selection import ResidueRange, parse_residue_selection, select_residues

__all__ = [
    "AMINO_ACIDS",
    "COIL",
    "HELIX",
    "STRAND",
    "RESIDUE_COLUMNS",
    "UNKNOWN_AA",
    "ParsedStructure",
    "ReadPolicy",
    "ReadReport",
    "ResidueRange",
    "ResidueTable",
    "SkippedResidue",
    "backbone_frames",
    "ca_secondary_structure",
    "parse_residue_selection",
    "read_structure",
    "select_residues",
    "structure_secondary_structure",
    "virtual_cb",
]
