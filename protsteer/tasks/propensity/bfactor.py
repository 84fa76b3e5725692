"""``--write-structure``: the input structure as mmCIF with a per-residue score in the B-factor column.

Every atom of a scored residue gets the residue's score; atoms of other residues (ligands, waters, residues
without a prediction) get 0. Colour by B-factor in PyMOL (``spectrum b``) or ChimeraX (``color bfactor``).
"""

from __future__ import annotations

import math
from pathlib import Path

import gemmi
import numpy as np

from protsteer.io.atomic import atomic_write_text
from protsteer.structure import ResidueTable
from protsteer.structure.policy import DEFAULT_MAX_BYTES
from protsteer.structure.source import decompress, detect_format, load_bytes, parse_gemmi


def write_scored_mmcif(
    source: str | Path,
    target: Path,
    residues: ResidueTable,
    scores: np.ndarray,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> None:
    """Write ``source`` to ``target`` (mmCIF, atomically) with ``scores`` [R] as per-residue B-factors.

    Residues are matched by (model number, chain, resseq, icode); NaN scores become 0.
    """
    content, _ = decompress(load_bytes(source, max_bytes), max_bytes, str(source))
    structure = parse_gemmi(content, detect_format(content), str(source))
    lookup: dict[tuple[int, str, int | None, str], float] = {  # residue number None: never in the table
        (int(m), str(c), int(n), str(i)): float(s)
        for m, c, n, i, s in zip(
            residues.model.tolist(),
            residues.chain.tolist(),
            residues.resseq.tolist(),
            residues.icode.tolist(),
            scores.tolist(),
            strict=True,
        )
    }
    for index, model in enumerate(structure):
        number = _model_number(model, index)
        for chain in model:
            for residue in chain:
                icode = residue.seqid.icode.strip()
                score = lookup.get((number, chain.name, residue.seqid.num, icode), 0.0)
                value = 0.0 if math.isnan(score) else score
                for atom in residue:
                    atom.b_iso = value
    structure.setup_entities()
    atomic_write_text(target, structure.make_mmcif_document().as_string())


def _model_number(model: gemmi.Model, index: int) -> int:
    """The model's number as the structure reader reports it (gemmi 0.7: ``num``; older: ``name``)."""
    number = getattr(model, "num", None)
    if number is None:
        name = getattr(model, "name", "")
        return int(name) if str(name).lstrip("-").isdigit() else index + 1
    return int(number)
