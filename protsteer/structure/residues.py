"""Residue chemistry: the amino-acid alphabet, parent mapping of non-standard residues, expected side chains.

Classification uses gemmi's tabulated residues (``gemmi.find_tabulated_residue``): a non-standard amino acid
maps to its parent (``MSE -> M``, ``CSS -> C``, ``SEP -> S``) while the residue keeps its original name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gemmi

#: The amino-acid alphabet used everywhere in protsteer (table columns, logits, labels).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"

#: One-letter code of residues that are not one of the 20 (unknown, ambiguous, no standard parent).
UNKNOWN_AA = "X"

#: Atom names that belong to the backbone of an amino-acid residue (everything else is side chain).
BACKBONE_ATOM_NAMES = frozenset({"N", "CA", "C", "O", "OXT"})

#: Backbone atoms stored in :attr:`ParsedStructure.backbone`, in this order.
BACKBONE_ORDER = ("N", "CA", "C", "O")

#: Heavy side-chain atoms of the 20 standard residues (used to flag ``missing_sidechain``).
SIDECHAIN_HEAVY_ATOMS: dict[str, frozenset[str]] = {
    name: frozenset(atoms.split())
    for name, atoms in {
        "ALA": "CB",
        "ARG": "CB CG CD NE CZ NH1 NH2",
        "ASN": "CB CG OD1 ND2",
        "ASP": "CB CG OD1 OD2",
        "CYS": "CB SG",
        "GLN": "CB CG CD OE1 NE2",
        "GLU": "CB CG CD OE1 OE2",
        "GLY": "",
        "HIS": "CB CG ND1 CD2 CE1 NE2",
        "ILE": "CB CG1 CG2 CD1",
        "LEU": "CB CG CD1 CD2",
        "LYS": "CB CG CD CE NZ",
        "MET": "CB CG SD CE",
        "PHE": "CB CG CD1 CD2 CE1 CE2 CZ",
        "PRO": "CB CG CD",
        "SER": "CB OG",
        "THR": "CB OG1 CG2",
        "TRP": "CB CG CD1 CD2 NE1 CE2 CE3 CZ2 CZ3 CH2",
        "TYR": "CB CG CD1 CD2 CE1 CE2 CZ OH",
        "VAL": "CB CG1 CG2",
    }.items()
}


@dataclass(frozen=True)
class ResidueKind:
    """What a residue name is, as far as reading is concerned.

    Attributes:
        amino_acid: tabulated as an amino acid (standard, modified or D).
        d_amino_acid: a D-amino acid (``DVA``, ``DAL``...): native_aa X, its mirrored side chain is not an
            environment of the L parent.
        native_aa: one of :data:`AMINO_ACIDS` (the parent for modified residues) or ``"X"``.
        standard: one of the 20 standard residue names.
        buffer: gemmi's "buffer / crystallisation agent" class (``SO4``, ``GOL``, ``ZN``...).
        water: ``HOH``, ``DOD``, ``WAT``...
        tabulated: the name is in gemmi's table at all.
    """

    amino_acid: bool
    d_amino_acid: bool
    native_aa: str
    standard: bool
    buffer: bool
    water: bool
    tabulated: bool


@lru_cache(maxsize=4096)
def residue_kind(name: str) -> ResidueKind:
    """Classify a residue name (cached: called once per distinct name)."""
    info = gemmi.find_tabulated_residue(name)
    if info is None or not info.found():
        return ResidueKind(False, False, UNKNOWN_AA, False, False, False, False)
    amino_acid = info.is_amino_acid()
    d_amino_acid = info.kind == gemmi.ResidueKind.AAD
    letter = info.one_letter_code.upper() if amino_acid and not d_amino_acid else UNKNOWN_AA
    native = letter if letter in AMINO_ACIDS else UNKNOWN_AA
    return ResidueKind(
        amino_acid=amino_acid,
        d_amino_acid=d_amino_acid,
        native_aa=native,
        standard=name in SIDECHAIN_HEAVY_ATOMS,
        buffer=info.kind == gemmi.ResidueKind.BUF,
        water=info.is_water(),
        tabulated=True,
    )


def aa_index(letters: str) -> list[int]:
    """Index of each one-letter code in :data:`AMINO_ACIDS`, -1 for anything else (``X``)."""
    return [AMINO_ACIDS.find(letter) if letter else -1 for letter in letters]
