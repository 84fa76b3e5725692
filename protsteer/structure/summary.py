"""One summary row per structure and model: what the file holds and what the read policy did (``inspect``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from protsteer.structure.parsed import ParsedStructure

#: Summary columns, in output order.
SUMMARY_COLUMNS = (
    "structure_id",
    "model",
    "format",
    "compressed",
    "models_in_file",
    "chains",
    "n_chains",
    "n_residues",
    "n_atoms",
    "context_atoms",
    "nonstandard",
    "unknown",
    "insertion_codes",
    "chain_breaks",
    "numbering_gaps",
    "missing_sidechain",
    "missing_backbone",
    "altloc_residues",
    "microhetero_residues",
    "altloc_atoms_removed",
    "skipped",
    "skipped_residues",
    "hydrogens_removed",
    "waters_removed",
    "hetero_kept",
    "hetero_removed",
    "repairs",
    "policy",
    "path",
)

#: Integer-valued summary columns (the rest are text).
SUMMARY_INT_COLUMNS = frozenset(
    {
        "model",
        "models_in_file",
        "n_chains",
        "n_residues",
        "n_atoms",
        "context_atoms",
        "unknown",
        "insertion_codes",
        "chain_breaks",
        "numbering_gaps",
        "missing_sidechain",
        "missing_backbone",
        "altloc_residues",
        "microhetero_residues",
        "altloc_atoms_removed",
        "skipped",
        "hydrogens_removed",
        "waters_removed",
    }
)

_MAX_LISTED = 10


def _listing(items: list[str]) -> str:
    """Comma-joined, at most :data:`_MAX_LISTED` items then ``+N``."""
    shown = ",".join(items[:_MAX_LISTED])
    return shown + (f",+{len(items) - _MAX_LISTED}" if len(items) > _MAX_LISTED else "")


def numbering_gaps(resseq: np.ndarray, same_chain_as_previous: np.ndarray) -> int:
    """Rows whose residue number is not the previous row's number or that number + 1 (same chain)."""
    if len(resseq) < 2:
        return 0
    step = np.diff(resseq.astype(np.int64))
    return int((same_chain_as_previous[1:] & ((step < 0) | (step > 1))).sum())


def summarize(structure: ParsedStructure) -> list[dict[str, Any]]:
    """One row per model read (columns :data:`SUMMARY_COLUMNS`).

    Residue-derived columns are per model; the policy counts (altloc, hydrogens, waters, hetero) are over
    every model read.
    """
    table, report = structure.residues, structure.report
    rows = []
    for model in structure.model_numbers:
        in_model = table.model == model
        part = table.take(in_model)
        chain_ids = list(dict.fromkeys(part.chain.tolist()))
        same_chain = np.zeros(len(part), dtype=bool)
        same_chain[1:] = part.chain[1:] == part.chain[:-1]
        nonstandard = Counter(
            token.split(":", 1)[1]
            for flags in part.flags
            for token in flags.split(";")
            if token.startswith("nonstandard:")
        )
        skipped = [s for s in structure.skipped if s.model == model]
        atoms = structure.atom_model == model
        rows.append(
            {
                "structure_id": structure.structure_id,
                "model": model,
                "format": report.source_format,
                "compressed": "yes" if report.compressed else "no",
                "models_in_file": report.models_in_file,
                "chains": ",".join(f"{chain}:{int((part.chain == chain).sum())}" for chain in chain_ids),
                "n_chains": len(chain_ids),
                "n_residues": len(part),
                "n_atoms": int(atoms.sum()),
                "context_atoms": int((atoms & (structure.residue_index < 0)).sum()),
                "nonstandard": ",".join(f"{name}:{count}" for name, count in sorted(nonstandard.items())),
                "unknown": int((part.native_aa == "X").sum()),
                "insertion_codes": int((part.icode != "").sum()),
                "chain_breaks": int(part.has_flag("chain_break").sum()),
                "numbering_gaps": numbering_gaps(part.resseq, same_chain),
                "missing_sidechain": int(part.has_flag("missing_sidechain").sum()),
                "missing_backbone": int(
                    (part.has_flag("no_N") | part.has_flag("no_C") | part.has_flag("no_O")).sum()
                ),
                "altloc_residues": report.altloc_residues,
                "microhetero_residues": report.microhetero_residues,
                "altloc_atoms_removed": report.altloc_atoms_removed,
                "skipped": len(skipped),
                "skipped_residues": _listing(
                    [f"{s.address}:{s.resname}:{s.reason.replace(' ', '_')}" for s in skipped]
                ),
                "hydrogens_removed": report.hydrogens_removed,
                "waters_removed": report.waters_removed,
                "hetero_kept": _listing(list(report.hetero_kept_names)),
                "hetero_removed": _listing(list(report.hetero_removed_names)),
                "repairs": "atom_tail_columns_ignored" if report.atom_tail_columns_ignored else "",
                "policy": structure.policy.describe(),
                "path": structure.path or "-",
            }
        )
    return rows
