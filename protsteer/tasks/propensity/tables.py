"""The output tables of the propensity model: per-residue propensities and per-mutation log-odds.

Both are computed from ``logp``: ``[R, 20]`` float64 natural-log probabilities over ``ACDEFGHIKLMNPQRSTVWY``
for the R rows of a :class:`~protsteer.structure.ResidueTable` (each from the residue's environment with
the residue's own side chain removed).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from protsteer.io.tables import Column
from protsteer.structure import AMINO_ACIDS, ResidueTable

RESIDUES_TABLE = "residues"
SCAN_TABLE = "scan"

_ADDRESS = [
    Column("model", "int"),
    Column("chain"),
    Column("resseq", "int"),
    Column("icode"),
    Column("seq_index", "int"),
]

#: ``residues.tsv`` columns, in output order.
RESIDUE_COLUMNS: list[Column] = [
    Column("structure_id"),
    Column("file"),
    *_ADDRESS,
    Column("resname"),
    Column("native_aa"),
    Column("flag"),
    *(Column(f"p_{aa}", "float") for aa in AMINO_ACIDS),
    Column("pred_aa"),
    Column("p_pred", "float"),
    Column("p_native", "float"),
    Column("logp_native", "float"),
    Column("rank_native", "int"),
    Column("entropy", "float"),
]

#: ``scan.tsv`` columns, in output order.
SCAN_COLUMNS: list[Column] = [
    Column("structure_id"),
    *_ADDRESS,
    Column("wt"),
    Column("mt"),
    Column("mutant"),
    Column("log_odds", "float"),
    Column("logp_wt", "float"),
    Column("logp_mt", "float"),
    Column("p_wt", "float"),
    Column("p_mt", "float"),
]

#: per-residue scores that ``--write-structure`` can put in the B-factor column.
STRUCTURE_SCORES = ("logp_native", "p_native", "entropy", "p_pred", "rank_native")

_AA_INDEX = {aa: index for index, aa in enumerate(AMINO_ACIDS)}


def native_index(residues: ResidueTable) -> np.ndarray:
    """[R] int64 index of the native amino acid in ``AMINO_ACIDS``, -1 for X."""
    return np.array([_AA_INDEX.get(aa, -1) for aa in residues.native_aa.tolist()], dtype=np.int64)


def residue_scores(logp: np.ndarray, native: np.ndarray) -> dict[str, np.ndarray]:
    """Per-residue summaries of ``logp`` [R, 20] given native indices [R] (-1 = unknown).

    Returns arrays of length R: ``p`` [R, 20], ``pred`` (argmax index), ``p_pred``, ``p_native`` and
    ``logp_native`` (NaN for unknown natives), ``rank_native`` (1 = most probable; 0 for unknown natives:
    written as an empty cell), ``entropy`` (nats).
    """
    probabilities = np.exp(logp)
    rows = np.arange(len(logp))
    known = native >= 0
    logp_native = np.where(known, logp[rows, np.where(known, native, 0)], np.nan)
    rank = np.where(known, 1 + (logp > logp_native[:, None]).sum(axis=1), 0)
    pred = logp.argmax(axis=1)
    return {
        "p": probabilities,
        "pred": pred,
        "p_pred": probabilities[rows, pred],
        "p_native": np.exp(logp_native),
        "logp_native": logp_native,
        "rank_native": rank,
        "entropy": -(probabilities * logp).sum(axis=1),
    }


def _optional(values: np.ndarray, present: np.ndarray) -> list:
    """``values`` as a Python list with None where ``present`` is False (an empty cell)."""
    return [value if keep else None for value, keep in zip(values.tolist(), present.tolist(), strict=True)]


def residue_rows(residues: ResidueTable, file: str, logp: np.ndarray) -> Iterator[tuple]:
    """Rows of ``residues.tsv`` for every residue, as tuples in :data:`RESIDUE_COLUMNS` order (built
    column-wise with numpy: a few microseconds per residue)."""
    native = native_index(residues)
    known = native >= 0
    scores = residue_scores(logp, native)
    count = len(residues)
    letters = np.array(list(AMINO_ACIDS))
    columns = [
        [residues.structure_id] * count,
        [file] * count,
        residues.model.tolist(),
        residues.chain.tolist(),
        residues.resseq.tolist(),
        residues.icode.tolist(),
        residues.seq_index.tolist(),
        residues.resname.tolist(),
        residues.native_aa.tolist(),
        residues.flags.tolist(),
        *scores["p"].T.tolist(),
        letters[scores["pred"]].tolist(),
        scores["p_pred"].tolist(),
        _optional(scores["p_native"], known),
        _optional(scores["logp_native"], known),
        _optional(scores["rank_native"], known),
        scores["entropy"].tolist(),
    ]
    return zip(*columns, strict=True)


def mutant_name(wt: str, seq_index: int, mt: str) -> str:
    """``{wt}{seq_index + 1}{mt}``, e.g. ``G12V`` for seq_index 11."""
    return f"{wt}{seq_index + 1}{mt}"


def scan_row(residues: ResidueTable, row: int, logp: np.ndarray, mt: str) -> dict:
    """One ``scan.tsv`` row: mutation of residue ``row`` (native must be one of the 20) to ``mt``.

    ``logp`` is the [20] log-probability vector of that residue; ``log_odds = logp[mt] - logp[wt]``.
    """
    wt = str(residues.native_aa[row])
    logp_wt, logp_mt = float(logp[_AA_INDEX[wt]]), float(logp[_AA_INDEX[mt]])
    return {
        "structure_id": residues.structure_id,
        "model": int(residues.model[row]),
        "chain": str(residues.chain[row]),
        "resseq": int(residues.resseq[row]),
        "icode": str(residues.icode[row]),
        "seq_index": int(residues.seq_index[row]),
        "wt": wt,
        "mt": mt,
        "mutant": mutant_name(wt, int(residues.seq_index[row]), mt),
        "log_odds": logp_mt - logp_wt,
        "logp_wt": logp_wt,
        "logp_mt": logp_mt,
        "p_wt": float(np.exp(logp_wt)),
        "p_mt": float(np.exp(logp_mt)),
    }


def scan_rows(residues: ResidueTable, logp: np.ndarray, rows: np.ndarray) -> Iterator[tuple]:
    """Every single mutant (19 per residue) of the selected ``rows`` whose native is one of the 20, as
    tuples in :data:`SCAN_COLUMNS` order; ``logp`` [R, 20] is indexed by residue-table row."""
    native = native_index(residues)
    rows = rows[native[rows] >= 0]
    wt = np.repeat(native[rows], 20)
    mt = np.tile(np.arange(20), len(rows))
    keep = wt != mt
    row = np.repeat(rows, 20)[keep]
    wt, mt = wt[keep], mt[keep]
    logp_wt, logp_mt = logp[row, wt], logp[row, mt]
    letters = np.array(list(AMINO_ACIDS))
    seq_index = residues.seq_index[row]
    wt_letters, mt_letters = letters[wt].tolist(), letters[mt].tolist()
    columns = [
        [residues.structure_id] * len(row),
        residues.model[row].tolist(),
        residues.chain[row].tolist(),
        residues.resseq[row].tolist(),
        residues.icode[row].tolist(),
        seq_index.tolist(),
        wt_letters,
        mt_letters,
        [mutant_name(w, i, m) for w, i, m in zip(wt_letters, seq_index.tolist(), mt_letters, strict=True)],
        (logp_mt - logp_wt).tolist(),
        logp_wt.tolist(),
        logp_mt.tolist(),
        np.exp(logp_wt).tolist(),
        np.exp(logp_mt).tolist(),
    ]
    return zip(*columns, strict=True)
