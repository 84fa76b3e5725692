"""Mutation lists for ``protsteer scan --mutations FILE``: parsing and matching against a structure.

A mutation file is a table (``.tsv``, ``.csv``, ``.jsonl``) with a ``mutant`` (or ``mutation``) column, or a
plain text file with one mutant per line. A mutant is ``[CHAIN:]{wt}{position}{mt}`` where, by default
(``numbering="seq_index"``), ``position = seq_index + 1`` (1-based index among the residues of the chain, in
file order), e.g. ``G12V`` or ``B:G12V``; with ``numbering="author"`` the position is the author residue
number with an optional insertion code (``H:G100AV`` = residue 100A of chain H), as in most ddG tables.
Three-letter codes and the HGVS protein form are read too (``Gly12Val``, ``p.Gly12Val``,
``p.[Gly12Val;Leu20Val]``, as in MaveDB): a ``p.`` prefix and brackets are dropped.

A cell may name a multi-point mutant: sites joined by ``:``, ``,``, ``;`` or spaces (``A10G:L20V``, as in
ProteinGym). A chain prefix applies to the sites after it until the next one (``A:G12V,L20V:B:K5E`` = A G12V,
A L20V, B K5E). Its scores are the sums over the sites (``log_odds``, ``logp_wt``, ``logp_mt``; ``p_wt`` and
``p_mt`` the products), each site scored in the wild-type environment: an additive model without epistasis.
On such a row ``chain``, ``wt`` and ``mt`` list the sites joined by ``:``, ``resseq``, ``icode`` and
``seq_index`` are empty, and the status is the first that is not ``ok`` among the sites. Naming one residue
twice is ``invalid_mutant``.
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
from protsteer.structure.residues import residue_kind
from protsteer.tasks.propensity.tables import SCAN_COLUMNS, native_index, scan_row

_SITE = re.compile(
    r"^(?P<wt>[A-Za-z]{3}|[A-Za-z])(?P<position>-?\d+)(?P<icode>[A-Za-z]?)(?P<mt>[A-Za-z]{3}|[A-Za-z])$"
)
_SITE_SEPARATORS = re.compile(r"[:,;\s]+")
_HGVS_DECORATION = re.compile(r"\bp\.|[\[\]()]")  # p.[Gly12Val;Leu20Val] -> Gly12Val;Leu20Val
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


def parse_mutations(
    text: str, chain: str | None = None, numbering: str = "seq_index"
) -> tuple[Mutation, ...] | None:
    """``"B:G12V"`` -> (Mutation("B", "G", 12, "", "V"),); ``"A10G:L20V"`` -> two sites (module docstring).

    ``chain`` applies to the sites before any chain prefix. None when malformed or when a letter is not one
    of the 20 amino acids (a residue named twice is caught when the sites are located). Insertion codes and
    zero or negative positions are only valid with ``numbering="author"``.
    """
    sites: list[Mutation] = []
    prefix_pending = False
    for token in _SITE_SEPARATORS.split(_HGVS_DECORATION.sub("", text).strip()):
        if not token:
            continue
        match = _SITE.match(token)
        if match is None:  # not shaped like a site: a chain prefix for the sites after it
            if prefix_pending:
                return None
            chain, prefix_pending = token, True
            continue
        wt, mt = _one_letter(match["wt"]), _one_letter(match["mt"])
        position, icode = int(match["position"]), match["icode"]
        if wt is None or mt is None:
            return None
        if numbering == "seq_index" and (position < 1 or icode):
            return None
        sites.append(Mutation(chain or None, wt, position, icode, mt))
        prefix_pending = False
    return tuple(sites) if sites and not prefix_pending else None


def _one_letter(code: str) -> str | None:
    """``"g"`` / ``"Gly"`` -> ``"G"``; None for anything but the 20 standard amino acids."""
    if len(code) == 1:
        return code.upper() if code.upper() in AMINO_ACIDS else None
    kind = residue_kind(code.upper())
    return kind.native_aa if kind.standard else None


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
    for source, sites, status, rows in _located(mutations, residues, numbering):
        record: dict = dict(source)
        record[scan_names[0]] = residues.structure_id  # SCAN_COLUMNS[0]: which input, also when not found
        if sites is not None and rows is not None:  # parsed sites that each name a residue
            if any(native[row] < 0 for row in rows):
                status = "unknown_native"
            else:
                pairs = list(zip(sites, rows, strict=True))
                per_site = [scan_row(residues, row, logp[row], site.mt) for site, row in pairs]
                scores = per_site[0] if len(per_site) == 1 else _combined(per_site)
                record.update(zip(scan_names, (scores[c.name] for c in SCAN_COLUMNS), strict=True))
                matches = all(AMINO_ACIDS[native[row]] == site.wt for site, row in pairs)
                status = "ok" if matches else "wt_mismatch"
        record["scan_status"] = status
        yield record


def _combined(per_site: list[dict]) -> dict:
    """The scan row of a multi-point mutant from its sites' rows: sums of the log scores, products of the
    probabilities, the sites' chain / wt / mt / mutant joined by ``:``, no single residue address."""
    joined = {name: ":".join(site[name] for site in per_site) for name in ("chain", "wt", "mt", "mutant")}
    sums = {name: sum(site[name] for site in per_site) for name in ("log_odds", "logp_wt", "logp_mt")}
    return {
        "structure_id": per_site[0]["structure_id"],
        "model": per_site[0]["model"],
        "resseq": None,
        "icode": None,
        "seq_index": None,
        **joined,
        **sums,
        "p_wt": float(np.exp(sums["logp_wt"])),
        "p_mt": float(np.exp(sums["logp_mt"])),
    }


@dataclass(frozen=True)
class MutationSelector:
    """Picklable ``residues -> [R] bool``: the residues some mutation of the list names (only those need
    a prediction)."""

    mutations: MutationList
    numbering: str = "seq_index"

    def __call__(self, residues: ResidueTable) -> np.ndarray:
        mask = np.zeros(len(residues), dtype=bool)
        for _, _, _, rows in _located(self.mutations, residues, self.numbering):
            if rows is not None:
                mask[rows] = True
        return mask


def _located(
    mutations: MutationList, residues: ResidueTable, numbering: str
) -> Iterator[tuple[dict[str, str], tuple[Mutation, ...] | None, str, list[int] | None]]:
    """``(source row, parsed sites, status, residue row of each site or None)`` for each mutation that
    applies to ``residues`` (all rows, or those whose ``structure_id`` column names this structure); the
    rows are given only when every site was found, once each."""
    first_model = int(residues.model[0]) if len(residues) else 0
    in_model = residues.model == first_model
    chains = sorted(set(residues.chain[in_model].tolist()))
    by_structure = "structure_id" in mutations.columns
    for source in mutations.rows:
        if by_structure and source.get("structure_id") and source["structure_id"] != residues.structure_id:
            continue
        text = source.get(mutations.mutant_column, "")
        sites = parse_mutations(text, source.get("chain") or None, numbering)
        if sites is None:
            yield source, None, "invalid_mutant", None
            continue
        located = [_locate(site, residues, in_model, chains, numbering) for site in sites]
        status = next((status for status, _ in located if status != "ok"), "ok")
        rows = [row for _, row in located if row is not None]
        if status == "ok" and len(set(rows)) != len(rows):
            status = "invalid_mutant"  # one residue named twice
        yield source, sites, status, rows if status == "ok" else None


def _locate(
    mutation: Mutation, residues: ResidueTable, in_model: np.ndarray, chains: list[str], numbering: str
) -> tuple[str, int | None]:
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
