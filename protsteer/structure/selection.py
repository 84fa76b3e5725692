"""Residue addresses and selections in author numbering: ``A:10``, ``A:10A``, ``A:10-20``, ``A:1-9,B:5-7``,
``A`` or ``A:`` (all of chain A).

Grammar (whitespace around items ignored)::

    selection := item ("," item)*
    item      := CHAIN [ ":" [ address [ "-" address ] ] ]   (CHAIN: any characters except ':' and ',')
    address   := ["-"] DIGITS [ICODE]                     (ICODE: one letter; negative numbers allowed)

Chain ``_`` is the blank chain id (old PDB files) unless the structure has a chain named ``_``. A bare
``CHAIN`` or ``CHAIN:`` selects every residue of the chain (a bare item that reads as residue numbers, ``10``
or ``10-20``, is refused as a missing chain; all of a chain named ``10`` is ``10:``). A range ``A:S-E``
selects, within chain A, every residue from S to E inclusive. When both ends are present in the chain, it is
the run of residue-table rows between them in file order (so ``H:100-101`` includes ``100A``, ``100B`` and
works whatever the order of insertion codes); otherwise residues are compared by ``(resseq, icode)`` with the
blank insertion code first (a CATH segment may start at a residue that is not observed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.structure.parsed import ResidueTable

_ITEM = re.compile(
    r"^(?P<chain>[^:,]+):(?P<start>-?\d+)(?P<si>[A-Za-z]?)(?:-(?P<end>-?\d+)(?P<ei>[A-Za-z]?))?$"
)

#: a bare item that reads as residue numbers, not as a chain id (``10``, ``10A``, ``10-20``)
_NUMBERS = re.compile(r"^-?\d+[A-Za-z]?(?:--?\d+[A-Za-z]?)?$")


@dataclass(frozen=True)
class ResidueRange:
    """Residues ``chain:start .. chain:end`` (inclusive; a single residue when start == end), or the whole
    chain when ``start`` and ``end`` are None."""

    chain: str
    start: int | None
    start_icode: str
    end: int | None
    end_icode: str

    def __str__(self) -> str:
        if self.start is None:
            return self.chain
        first = f"{self.chain}:{self.start}{self.start_icode}"
        if (self.start, self.start_icode) == (self.end, self.end_icode):
            return first
        return f"{first}-{self.end}{self.end_icode}"


def parse_residue_selection(text: str) -> list[ResidueRange]:
    """Parse a selection string into ranges (see the module docstring); ProtsteerError if malformed."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ProtsteerError(f"empty residue selection item in {text!r}")
    ranges = []
    for item in items:
        whole_chain = item[:-1].strip() if item.endswith(":") and item.count(":") == 1 else None
        if whole_chain:
            ranges.append(ResidueRange(whole_chain, None, "", None, ""))
            continue
        if ":" not in item:
            if _NUMBERS.match(item):
                raise ProtsteerError(
                    f"residue address {item!r} has no chain (write CHAIN:{item}; all of a chain named "
                    f"{item!r}: {item}:)"
                )
            ranges.append(ResidueRange(item, None, "", None, ""))
            continue
        match = _ITEM.match(item)
        if match is None:
            raise ProtsteerError(
                f"invalid residue address {item!r} (expected CHAIN, CHAIN:RESSEQ[ICODE] or CHAIN:START-END)"
            )
        start, start_icode = int(match["start"]), match["si"]
        end, end_icode = (start, start_icode) if match["end"] is None else (int(match["end"]), match["ei"])
        if (end, end_icode) < (start, start_icode):
            raise ProtsteerError(f"residue range {item!r} ends before it starts")
        ranges.append(ResidueRange(match["chain"].strip(), start, start_icode, end, end_icode))
    return ranges


def select_residues(
    residues: ResidueTable,
    selection: str | list[ResidueRange],
    model: int | None = None,
    strict: bool = True,
) -> np.ndarray:
    """[R] bool mask of the residue-table rows in ``selection``.

    Args:
        residues: the table to select from.
        selection: a selection string or parsed ranges.
        model: restrict to this model number (default: every model in the table).
        strict: raise ProtsteerError when an item matches no residue (typo, wrong chain); False ignores it.
    """
    ranges = parse_residue_selection(selection) if isinstance(selection, str) else selection
    mask = np.zeros(len(residues), dtype=bool)
    in_model = np.ones(len(residues), dtype=bool) if model is None else residues.model == model
    blank_is_underscore = "_" not in set(residues.chain.tolist())
    for item in ranges:
        chain = "" if item.chain == "_" and blank_is_underscore else item.chain
        chain_rows = np.flatnonzero(in_model & (residues.chain == chain))
        hit = _range_rows(residues, chain_rows, item)
        if strict and not hit.any():
            where = "" if model is None else f" in model {model}"
            what = f"chain {item}" if item.start is None else f"residue selection {item}"
            raise ProtsteerError(f"{what} matches no residue{where}")
        mask[chain_rows[hit]] = True
    return mask


def _range_rows(residues: ResidueTable, rows: np.ndarray, item: ResidueRange) -> np.ndarray:
    """Boolean mask over ``rows`` (one chain of one or more models) for one range."""
    if item.start is None or item.end is None:  # the whole chain
        return np.ones(len(rows), dtype=bool)
    resseq = residues.resseq[rows]
    icode = residues.icode[rows]
    hit = np.zeros(len(rows), dtype=bool)
    models = residues.model[rows]
    for model in np.unique(models):
        local = np.flatnonzero(models == model)
        starts = local[(resseq[local] == item.start) & (icode[local] == item.start_icode)]
        ends = local[(resseq[local] == item.end) & (icode[local] == item.end_icode)]
        if len(starts) and len(ends) and starts[0] <= ends[-1]:
            hit[starts[0] : ends[-1] + 1] = True
            continue
        number, letter = resseq[local], icode[local]
        after_start = (number > item.start) | ((number == item.start) & (letter >= item.start_icode))
        before_end = (number < item.end) | ((number == item.end) & (letter <= item.end_icode))
        hit[local[after_start & before_end]] = True
    return hit
