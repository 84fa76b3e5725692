"""``read_structure``: PDB / mmCIF / mmJSON (plain or gzipped, path or bytes) -> :class:`ParsedStructure`.

Steps: load bytes (size limit) -> gunzip -> reject empty/binary content -> detect the format from the content
-> gemmi parses -> pick models -> strip hydrogens and waters -> resolve alternative locations per residue ->
classify residues (protein with CA -> residue table; protein without CA -> skipped, atoms kept as context;
everything else -> context atoms per the hetero policy) -> numpy arrays.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field

import gemmi
import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure.geometry import ca_ca_breaks, peptide_links, virtual_cb
from protsteer.structure.parsed import ParsedStructure, ReadReport, ResidueTable, SkippedResidue
from protsteer.structure.policy import ReadPolicy
from protsteer.structure.residues import (
    BACKBONE_ATOM_NAMES,
    BACKBONE_ORDER,
    SIDECHAIN_HEAVY_ATOMS,
    UNKNOWN_AA,
    residue_kind,
)
from protsteer.structure.source import (
    check_text,
    decompress,
    default_structure_id,
    detect_format,
    has_misused_tail_columns,
    load_bytes,
    parse_gemmi,
    strip_atom_tails,
)

logger = logging.getLogger(__name__)

DEFAULT_POLICY = ReadPolicy()
#: version of what :func:`read_structure` returns for a given file and policy; bump it whenever a change of
#: the reader changes its output, so that caches built from parsed structures are rebuilt
READER_VERSION = 1

#: Coordinates beyond this (Angstrom, any axis) are corruption: no real structure is that large.
MAX_COORDINATE = 1e5

_METAL_NUMBERS = frozenset(z for z in range(1, 119) if gemmi.Element(z).is_metal)
_NO_ALTLOC = "\0"
_BACKBONE_SLOT = {name: slot for slot, name in enumerate(BACKBONE_ORDER)}

# One atom as extracted from gemmi: (name, altloc, occupancy, atomic number, x, y, z).
_Atom = tuple[str, str, float, int, float, float, float]


def read_structure(
    source: str | os.PathLike[str] | bytes,
    policy: ReadPolicy = DEFAULT_POLICY,
    structure_id: str | None = None,
) -> ParsedStructure:
    """Read one structure file (or its bytes) with a cleanup policy.

    Args:
        source: a path (any extension or none; gzip detected by content) or the file's bytes.
        policy: see :class:`ReadPolicy`; the default is what protsteer models are trained with.
        structure_id: id for tables; default: the file name without structure/gzip suffixes
            (:func:`protsteer.structure.source.default_structure_id`), ``"stdin"`` for bytes.

    Returns:
        A :class:`ParsedStructure` (all models in one object when ``policy.model == "all"``).

    Raises:
        ProtsteerError: unreadable, too large, empty, binary, corrupt or truncated input, a missing model
            number, non-finite or absurd coordinates, or no protein residue with a CA atom. No other
            exception type escapes for bad input.
    """
    path = None if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)
    if path is None:
        raw = bytes(source)  # type: ignore[arg-type]
        if len(raw) > policy.max_bytes:
            raise ProtsteerError(f"input too large ({len(raw)} bytes > limit {policy.max_bytes})")
    else:
        raw = load_bytes(path, policy.max_bytes)
    content, compressed = decompress(raw, policy.max_bytes, path)
    check_text(content, path)
    source_format = detect_format(content)
    tails_ignored = source_format == "pdb" and has_misused_tail_columns(content)
    if tails_ignored:
        content = strip_atom_tails(content)
    try:
        structure = parse_gemmi(content, source_format, path)
    except ProtsteerError as err:
        if source_format != "pdb" or tails_ignored or "charge" not in err.message:
            raise
        structure = parse_gemmi(strip_atom_tails(content), source_format, path)  # garbage charge columns
        tails_ignored = True
    if structure_id is None:
        structure_id = default_structure_id(path) if path is not None else "stdin"
    try:
        return _convert(structure, policy, structure_id, path, source_format, compressed, tails_ignored)
    except ProtsteerError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError, UnicodeError) as err:  # gemmi surprises
        reason = str(err).strip()[:200] or type(err).__name__
        raise ProtsteerError(f"cannot interpret structure: {reason}", path) from err


@dataclass
class _Builder:
    """Accumulates atoms and residue rows while walking the gemmi hierarchy."""

    policy: ReadPolicy
    coords: list[tuple[float, float, float]] = field(default_factory=list)
    element: list[int] = field(default_factory=list)
    atom_name: list[str] = field(default_factory=list)
    residue_index: list[int] = field(default_factory=list)
    is_sidechain: list[bool] = field(default_factory=list)
    atom_model: list[int] = field(default_factory=list)
    rows: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    backbone: list[list[tuple[float, float, float] | None]] = field(default_factory=list)
    skipped: list[SkippedResidue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hetero_removed: set[str] = field(default_factory=set)
    hetero_kept: set[str] = field(default_factory=set)

    def add_atoms(self, atoms: list[_Atom], model: int, row: int, protein: bool) -> None:
        for name, _altloc, _occ, z, x, y, zc in atoms:
            self.coords.append((x, y, zc))
            self.element.append(z)
            self.atom_name.append(name)
            self.residue_index.append(row)
            self.is_sidechain.append(protein and name not in BACKBONE_ATOM_NAMES)
            self.atom_model.append(model)

    def add_unit(self, unit: _Unit, model: int, chain: str, seq_counter: dict[str, int]) -> None:
        kind = residue_kind(unit.name)
        names = {atom[0] for atom in unit.atoms}
        if unit.water:
            self.add_atoms(unit.atoms, model, -1, False)
            return
        protein = kind.amino_acid or (not kind.tabulated and {"N", "CA", "C"} <= names)
        if not protein:
            self._add_hetero(unit, kind.buffer, model)
            return
        if "CA" not in names:
            reason = "no CA atom"
            self.skipped.append(SkippedResidue(model, chain, unit.resseq, unit.icode, unit.name, reason))
            logger.info("skipped residue %s:%d%s %s: %s", chain, unit.resseq, unit.icode, unit.name, reason)
            self.add_atoms(unit.atoms, model, -1, False)
            return
        row = len(self.backbone)
        slots: list[tuple[float, float, float] | None] = [None, None, None, None]
        for atom in unit.atoms:
            slot = _BACKBONE_SLOT.get(atom[0])
            if slot is not None and slots[slot] is None:
                slots[slot] = (atom[4], atom[5], atom[6])
        self.backbone.append(slots)
        self.add_atoms(unit.atoms, model, row, True)
        native = kind.native_aa if kind.amino_acid else UNKNOWN_AA
        flags = []
        if unit.name not in SIDECHAIN_HEAVY_ATOMS and unit.name != "UNK":
            flags.append(f"nonstandard:{unit.name}")
        if native == UNKNOWN_AA:
            flags.append("unknown")
        if kind.d_amino_acid:
            flags.append("d_amino_acid")
        if unit.hetatm:
            flags.append("hetatm")
        if unit.altloc:
            flags.append("altloc")
        if unit.microhetero:
            flags.append("microhetero")
        if unit.name in SIDECHAIN_HEAVY_ATOMS and not SIDECHAIN_HEAVY_ATOMS[unit.name] <= names:
            flags.append("missing_sidechain")
        flags.extend(f"no_{name}" for name, slot in zip(BACKBONE_ORDER, slots, strict=True) if slot is None)
        rows = self.rows
        rows["model"].append(model)
        rows["chain"].append(chain)
        rows["resseq"].append(unit.resseq)
        rows["icode"].append(unit.icode)
        rows["seq_index"].append(seq_counter[chain])
        seq_counter[chain] += 1
        rows["resname"].append(unit.name)
        rows["native_aa"].append(native)
        rows["flags"].append(flags)

    def _add_hetero(self, unit: _Unit, buffer: bool, model: int) -> None:
        hetero = self.policy.hetero
        if hetero == "all" or (hetero == "cofactors" and not buffer):
            kept = unit.atoms
        elif hetero == "none":
            kept = []
        else:  # "metals", or a buffer-class group under "cofactors": metal ions survive
            kept = [atom for atom in unit.atoms if atom[3] in _METAL_NUMBERS]
        removed = len(unit.atoms) - len(kept)
        self.counts["hetero_atoms_kept"] += len(kept)
        self.counts["hetero_atoms_removed"] += removed
        if kept:
            self.hetero_kept.add(unit.name)
            self.add_atoms(kept, model, -1, False)
        if removed:
            self.hetero_removed.add(unit.name)


@dataclass
class _Unit:
    """One residue after altloc resolution."""

    name: str
    resseq: int
    icode: str
    hetatm: bool
    water: bool
    atoms: list[_Atom]
    altloc: bool = False
    microhetero: bool = False


def _extract(residue: gemmi.Residue) -> list[_Atom]:
    atoms = []
    for atom in residue:
        pos = atom.pos
        atoms.append((atom.name, atom.altloc, atom.occ, atom.element.atomic_number, pos.x, pos.y, pos.z))
    return atoms


def _resolve_group(group: list[gemmi.Residue], policy: ReadPolicy, counts: dict[str, int]) -> list[_Unit]:
    """Residues sharing one (chain, seqid) in a row -> units, applying the altloc policy."""
    extracted = [_extract(residue) for residue in group]
    has_altloc = [any(atom[1] != _NO_ALTLOC for atom in atoms) for atoms in extracted]
    if not any(has_altloc) or (len(group) > 1 and not all(has_altloc)):
        # plain residues (also: repeated numbering without altlocs, which is not microheterogeneity)
        return [_unit(residue, atoms) for residue, atoms in zip(group, extracted, strict=True)]
    occupancy: dict[str, list[float]] = {}
    for atoms in extracted:
        for atom in atoms:
            if atom[1] != _NO_ALTLOC:
                occupancy.setdefault(atom[1], []).append(atom[2])
    letters = list(occupancy)
    chosen = letters[0]
    if policy.altloc == "occupancy":
        best = -1.0
        for letter in letters:
            mean = sum(occupancy[letter]) / len(occupancy[letter])
            if mean > best:
                chosen, best = letter, mean
    owner = next(i for i, atoms in enumerate(extracted) if any(atom[1] == chosen for atom in atoms))
    chosen_name = group[owner].name
    kept: dict[str, _Atom] = {}
    fallback: dict[str, _Atom] = {}
    total = 0
    for residue, atoms in zip(group, extracted, strict=True):
        total += len(atoms)
        for atom in atoms:
            if atom[1] in (_NO_ALTLOC, chosen):
                kept.setdefault(atom[0], atom)
            elif residue.name == chosen_name and (atom[0] not in fallback or atom[2] > fallback[atom[0]][2]):
                fallback[atom[0]] = atom
    for name, atom in fallback.items():
        kept.setdefault(name, atom)
    atoms_kept = list(kept.values())
    counts["altloc_residues"] += 1
    microhetero = len({residue.name for residue in group}) > 1
    counts["microhetero_residues"] += microhetero
    counts["altloc_atoms_removed"] += total - len(atoms_kept)
    unit = _unit(group[owner], atoms_kept)
    unit.altloc = True
    unit.microhetero = microhetero
    return [unit]


def _unit(residue: gemmi.Residue, atoms: list[_Atom]) -> _Unit:
    seqid = residue.seqid
    if seqid.num is None:  # gemmi already fell back from auth_seq_id to label_seq_id
        raise ValueError(f"residue {residue.name} has no sequence number (auth_seq_id, label_seq_id unset)")
    return _Unit(
        name=residue.name,
        resseq=seqid.num,
        icode=seqid.icode.strip(),
        hetatm=residue.het_flag == "H",
        water=residue.is_water(),
        atoms=atoms,
    )


def _select_models(structure: gemmi.Structure, policy: ReadPolicy, path: str | None) -> list[gemmi.Model]:
    models = list(structure)
    if not models:
        raise ProtsteerError("no atoms found (not a PDB/mmCIF/mmJSON structure?)", path)
    if policy.model == "first":
        return models[:1]
    if policy.model == "all":
        return models
    chosen = [model for model in models if model.num == policy.model]
    if not chosen:
        available = ", ".join(str(model.num) for model in models[:10])
        raise ProtsteerError(f"no model {policy.model} in file (models: {available})", path)
    return chosen[:1]


def _convert(
    structure: gemmi.Structure,
    policy: ReadPolicy,
    structure_id: str,
    path: str | None,
    source_format: str,
    compressed: bool,
    tails_ignored: bool,
) -> ParsedStructure:
    models = _select_models(structure, policy, path)
    builder = _Builder(policy)
    atoms_in_file = 0
    for model in models:
        before = model.count_atom_sites()
        atoms_in_file += before
        if not policy.keep_hydrogens:
            model.remove_hydrogens()
            after = model.count_atom_sites()
            builder.counts["hydrogens_removed"] += before - after
            before = after
        if not policy.keep_waters:
            model.remove_waters()
            builder.counts["waters_removed"] += before - model.count_atom_sites()
        seq_counter: dict[str, int] = defaultdict(int)
        for chain in model:
            group: list[gemmi.Residue] = []
            for residue in chain:
                if group and residue.seqid == group[0].seqid:
                    group.append(residue)
                    continue
                _flush(builder, group, model.num, chain.name, seq_counter)
                group = [residue]
            _flush(builder, group, model.num, chain.name, seq_counter)
    if atoms_in_file == 0:
        raise ProtsteerError("no atoms found (not a PDB/mmCIF/mmJSON structure?)", path)
    if not builder.backbone:
        raise ProtsteerError("no protein residues with CA atoms", path)
    report = ReadReport(
        source_format=source_format,
        compressed=compressed,
        atom_tail_columns_ignored=tails_ignored,
        models_in_file=len(structure),
        models_read=tuple(model.num for model in models),
        altloc_residues=builder.counts["altloc_residues"],
        microhetero_residues=builder.counts["microhetero_residues"],
        altloc_atoms_removed=builder.counts["altloc_atoms_removed"],
        hydrogens_removed=builder.counts["hydrogens_removed"],
        waters_removed=builder.counts["waters_removed"],
        hetero_atoms_kept=builder.counts["hetero_atoms_kept"],
        hetero_atoms_removed=builder.counts["hetero_atoms_removed"],
        hetero_removed_names=tuple(sorted(builder.hetero_removed)),
        hetero_kept_names=tuple(sorted(builder.hetero_kept)),
    )
    return _finish(builder, structure_id, path, report)


def _flush(
    builder: _Builder, group: list[gemmi.Residue], model: int, chain: str, seq_counter: dict[str, int]
) -> None:
    if group:
        for unit in _resolve_group(group, builder.policy, builder.counts):
            if unit.atoms:
                builder.add_unit(unit, model, chain, seq_counter)


def _finish(builder: _Builder, structure_id: str, path: str | None, report: ReadReport) -> ParsedStructure:
    coords = np.asarray(builder.coords, dtype=np.float64).reshape(-1, 3)
    bad = ~(np.abs(coords) <= MAX_COORDINATE).all(axis=1)  # also catches NaN
    if bad.any():
        reason = f"non-finite or out-of-range coordinates (|x| > {MAX_COORDINATE:g} A)"
        raise ProtsteerError(f"{int(bad.sum())} atoms with {reason}", path)
    nan3 = (np.nan, np.nan, np.nan)
    filled = [[slot if slot is not None else nan3 for slot in slots] for slots in builder.backbone]
    backbone = np.array(filled, dtype=np.float32).reshape(-1, 4, 3)
    rows = builder.rows
    model = np.asarray(rows["model"], dtype=np.int32)
    chain = np.asarray(rows["chain"], dtype=str)
    same_chain = np.zeros(len(model), dtype=bool)
    same_chain[1:] = (model[1:] == model[:-1]) & (chain[1:] == chain[:-1])
    breaks = ca_ca_breaks(backbone[:, 1], same_chain)
    unlinked = ~peptide_links(backbone, same_chain)
    flags = []
    for tokens, brk, alone in zip(rows["flags"], breaks.tolist(), unlinked.tolist(), strict=True):
        flags.append(";".join(tokens + ["chain_break"] * brk + ["unlinked"] * alone))
    residues = ResidueTable(
        structure_id=structure_id,
        model=model,
        chain=chain,
        resseq=np.asarray(rows["resseq"], dtype=np.int32),
        icode=np.asarray(rows["icode"], dtype=str),
        seq_index=np.asarray(rows["seq_index"], dtype=np.int32),
        resname=np.asarray(rows["resname"], dtype=str),
        native_aa=np.asarray(rows["native_aa"], dtype=str),
        flags=np.asarray(flags, dtype=str),
    )
    return ParsedStructure(
        structure_id=structure_id,
        path=path,
        policy=builder.policy,
        coords=coords.astype(np.float32),
        element=np.asarray(builder.element, dtype=np.uint8),
        atom_name=np.asarray(builder.atom_name, dtype=str),
        residue_index=np.asarray(builder.residue_index, dtype=np.int32),
        is_sidechain=np.asarray(builder.is_sidechain, dtype=bool),
        atom_model=np.asarray(builder.atom_model, dtype=np.int32),
        residues=residues,
        backbone=backbone,
        virtual_cb=virtual_cb(backbone[:, 0], backbone[:, 1], backbone[:, 2]),
        report=report,
        skipped=tuple(builder.skipped),
    )
