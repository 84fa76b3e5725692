"""Mutation lists for ``protsteer scan --mutations FILE``: parsing and matching against a structure.

A mutation file is a table (``.tsv``, ``.csv``, ``.jsonl``) with a ``mutant`` (or ``mutation``) column, or a
plain text file with one mutant per line. A mutant is ``[CHAIN:]{wt}{position}{mt}`` where, by default
(``numbering="seq_index"``), ``position = seq_index + 1`` (1-based index among the residues of the chain, in
file order), e.g. ``G12V`` or ``B:G12V``; with ``numbering="author"`` the position is the author residue
number with an optional insertion code (``H:G100AV`` = residue 100A of chain H), as in most ddG tables.
Optional columns: ``chain`` (used when the mutant has no ``CHAIN:`` prefix) and ``structure_id`` (the row
applies only to that input). In a plain text file, blank lines and lines starting with ``#`` are skipped.
Every input column is kept in the output; scan columns whose names clash with
input columns are prefixed ``scan_``, and ``scan_status`` says what happened to the row: ``ok``,
``wt_mismatch`` (the structure has another residue there; scores are still given for the structure's
residue), ``not_found``, ``ambiguous_chain``, ``invalid_mutant``, ``unknown_native``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.io.tables import Column, format_from_path, iter_rows, read_header
from protsteer.structure import AMINO_ACIDS, ResidueTable
from protsteer.tasks.propensity.tables import SCAN_COLUMNS, native_index, scan_row

_MUTANT = re.compile(
    r"^(?:(?P<chain>[^:\s]+):)?(?P<wt>[A-Za-z])(?P<position>-?\d+)(?P<icode>[A-Za-z]?)(?P<mt>[A-Za-z])$"
)
NUMBERINGS = ("seq_index", "author")
_MUTANT_COLUMNS = ("mutant", "mutation")


@dataclass(frozen=True)
class Mutation:
    """A requested point mutation: ``chain`` (None = not given), ``wt``, ``position`` (seq_index + 1, or the
    author residue number), ``icode`` (author numbering only), ``mt``."""

    chain: str | None
    wt: str
    position: int
    icode: str
    mt: str


def parse_mutant(text: str, chain: str | None = None, numbering: str = "seq_index") -> Mutation | None:
    """``"B:G12V"`` -> Mutation("B", "G", 12, "", "V"); None when malformed or not in the 20 amino acids.

    Insertion codes and zero or negative positions are only valid with ``numbering="author"``.
    """
    match = _MUTANT.match(text.strip())
    if match is None:
        return None
    wt, mt = match["wt"].upper(), match["mt"].upper()
    position, icode = int(match["position"]), match["icode"]
    if wt not in AMINO_ACIDS or mt not in AMINO_ACIDS:
        return None
    if numbering == "seq_index" and (position < 1 or icode):
        return None
    return Mutation(match["chain"] or (chain or None), wt, position, icode, mt)


@dataclass
class MutationList:
    """The rows of a mutation file (all cells as strings) and the name of its mutant column."""

    columns: list[str]
    rows: list[dict[str, str]]
    mutant_column: str

    def output_columns(self) -> list[Column]:
        """Input columns (text), then the scan columns (``scan_``-prefixed on a clash), then scan_status."""
        taken = set(self.columns)
        scan = [Column(f"scan_{c.name}" if c.name in taken else c.name, c.kind) for c in SCAN_COLUMNS]
        return [Column(name) for name in self.columns] + scan + [Column("scan_status")]


def read_mutation_list(path: str | Path) -> MutationList:
    """Read a mutation file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ProtsteerError("mutation file not found", path)
    if path.suffix.lower() in (".tsv", ".csv", ".jsonl"):
        columns = read_header(path, format_from_path(path))
        rows = [{k: "" if v is None else str(v) for k, v in row.items()} for row in iter_rows(path)]
        candidates = [c for c in _MUTANT_COLUMNS if c in columns] or (columns if len(columns) == 1 else [])
        if not candidates:
            raise ProtsteerError(f"no 'mutant' column (columns: {', '.join(columns) or 'none'})", path)
        if not rows:
            raise ProtsteerError("the mutation table has no rows", path)
        return MutationList(columns, rows, candidates[0])
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]  # as @lists: comments, blanks
    if lines and lines[0].lower() in _MUTANT_COLUMNS:
        lines = lines[1:]
    if not lines:
        raise ProtsteerError("the mutation file lists no mutants", path)
    return MutationList(["mutant"], [{"mutant": line} for line in lines], "mutant")


def mutation_rows(
    mutations: MutationList, residues: ResidueTable, logp: np.ndarray, numbering: str = "seq_index"
) -> Iterator[dict]:
    """Output rows (see :meth:`MutationList.output_columns`) of the mutations that apply to ``residues``;
    ``logp`` [R, 20] holds the log-probabilities of the residue-table rows (at least those the mutations
    name: :class:`MutationSelector`)."""
    out_columns = mutations.output_columns()
    scan_names = [c.name for c in out_columns[len(mutations.columns) : -1]]
    native = native_index(residues)
    for source, mutation, status, row in _located(mutations, residues, numbering):
        record: dict = dict(source)
        record[scan_names[0]] = residues.structure_id  # SCAN_COLUMNS[0]: which input, also when not found
        if mutation is not None and row is not None:  # a parsed mutation that names a residue
            if native[row] < 0:
                status = "unknown_native"
            else:
                structure_wt = AMINO_ACIDS[native[row]]
                scores = scan_row(residues, row, logp[row], mutation.mt)
                record.update(zip(scan_names, (scores[c.name] for c in SCAN_COLUMNS), strict=True))
                status = "ok" if structure_wt == mutation.wt else "wt_mismatch"
        record["scan_status"] = status
        yield record


@dataclass(frozen=True)
class MutationSelector:
    """Picklable ``residues -> [R] bool``: the residues some mutation of the list names (only those need
    a prediction)."""

    mutations: MutationList
    numbering: str = "seq_index"

    def __call__(self, residues: ResidueTable) -> np.ndarray:
        mask = np.zeros(len(residues), dtype=bool)
        for _, _, _, row in _located(self.mutations, residues, self.numbering):
            if row is not None:
                mask[row] = True
        return mask


def _located(
    mutations: MutationList, residues: ResidueTable, numbering: str
) -> Iterator[tuple[dict[str, str], Mutation | None, str, int | None]]:
    """``(source row, parsed mutation, status, residue row or None)`` for each mutation that applies to
    ``residues`` (all rows, or those whose ``structure_id`` column names this structure)."""
    first_model = int(residues.model[0]) if len(residues) else 0
    in_model = residues.model == first_model
    chains = sorted(set(residues.chain[in_model].tolist()))
    by_structure = "structure_id" in mutations.columns
    for source in mutations.rows:
        if by_structure and source.get("structure_id") and source["structure_id"] != residues.structure_id:
            continue
        text = source.get(mutations.mutant_column, "")
        mutation = parse_mutant(text, source.get("chain") or None, numbering)
        status, row = _locate(mutation, residues, in_model, chains, numbering)
        yield source, mutation, status, row


def _locate(
    mutation: Mutation | None, residues: ResidueTable, in_model: np.ndarray, chains: list[str], numbering: str
) -> tuple[str, int | None]:
    if mutation is None:
        return "invalid_mutant", None
    chain = mutation.chain
    if chain is None:
        if len(chains) != 1:
            return "ambiguous_chain", None
        chain = chains[0]
    if numbering == "author":
        at_position = (residues.resseq == mutation.position) & (residues.icode == mutation.icode)
    else:
        at_position = residues.seq_index == mutation.position - 1
    hits = np.flatnonzero(in_model & (residues.chain == chain) & at_position)
    return ("not_found", None) if len(hits) == 0 else ("ok", int(hits[0]))
