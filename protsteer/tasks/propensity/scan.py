"""``protsteer scan``: zero-shot scores of point mutations from the propensity model.

For each residue (all, or ``--positions``) and each of the 19 other amino acids, ``log_odds = ln p(mt) -
ln p(wt)`` from the residue's environment with its own side chain removed: positive = the model prefers the
mutant (the opposite sign of a ddG-style score, where positive = destabilising). With ``--mutations FILE``
only the listed mutants are scored and every column of the file is kept (see
:mod:`protsteer.tasks.propensity.mutations`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.io.batch import BatchRun, BatchSummary
from protsteer.tasks.propensity.inference import PreparedInput, file_sha256
from protsteer.tasks.propensity.mutations import (
    NUMBERINGS,
    MutationSelector,
    mutation_rows,
    read_mutation_list,
)
from protsteer.tasks.propensity.runner import BatchRequest, Parts, run_propensity_batch
from protsteer.tasks.propensity.tables import SCAN_COLUMNS, SCAN_TABLE, scan_rows


def run_scan(
    request: BatchRequest,
    *,
    positions: str | None = None,
    mutations: Path | None = None,
    numbering: str = "seq_index",
) -> BatchSummary:
    """Scan every input of ``request``; the table is ``request.outdir/scan.<fmt>``."""
    if positions and mutations:
        raise ProtsteerError("use either --positions or --mutations, not both")
    settings: dict = {}
    selector = None
    if mutations is not None:
        if numbering not in NUMBERINGS:
            raise ProtsteerError(f"--numbering must be one of {', '.join(NUMBERINGS)}")
        mutation_list = read_mutation_list(mutations)
        selector = MutationSelector(mutation_list, numbering)  # predict only the residues the list names
        columns = mutation_list.output_columns()
        settings.update(mutations_sha256=file_sha256(mutations), numbering=numbering)

        def make_parts(run: BatchRun, prepared: PreparedInput, logp: np.ndarray) -> Parts:
            rows = mutation_rows(mutation_list, prepared.residues, _by_row(prepared, logp), numbering)
            return {SCAN_TABLE: (columns, list(rows))}
    else:
        columns = SCAN_COLUMNS

        def make_parts(run: BatchRun, prepared: PreparedInput, logp: np.ndarray) -> Parts:
            rows = prepared.environments.residue_rows
            return {SCAN_TABLE: (columns, list(scan_rows(prepared.residues, _by_row(prepared, logp), rows)))}

    summary, _ = run_propensity_batch(
        "scan",
        request,
        tables={SCAN_TABLE: columns},
        make_parts=make_parts,
        settings=settings,
        positions=positions,
        residue_selector=selector,
    )
    return summary


def _by_row(prepared: PreparedInput, logp: np.ndarray) -> np.ndarray:
    """``logp`` [n_env, 20] of the predicted residues spread to [R, 20] by residue-table row (NaN
    elsewhere)."""
    full = np.full((len(prepared.residues), logp.shape[1]), np.nan)
    full[prepared.environments.residue_rows] = logp
    return full
