"""``protsteer predict``: per-residue amino-acid propensities (``residues`` table), optionally CATH
architectures (``--tasks cath``) and mmCIF files scored in the B-factor column (``--write-structure``).

CATH hook: when ``--tasks`` contains ``cath``, the module ``protsteer.tasks.cath.predict`` must provide

- ``TABLE: str`` (the table name, e.g. ``"cath"``) and ``COLUMNS: list[protsteer.io.tables.Column]``
  (a predictor's own ``columns`` attribute, when present, takes precedence: they depend on its weights);
- ``load_predictor(weights: str | None, device: torch.device, domains: Path | None) -> predictor`` where
  ``predictor(structure: ParsedStructure, file: str) -> Iterable[dict]`` gives the table rows of one
  structure (read with the propensity weights' policy), and ``predictor.settings`` is a JSON-serialisable
  dict (weights sha256 and options: part of the resume fingerprint).

Without that module ``--tasks cath`` is a clear error.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from protsteer.errors import ProtsteerError
from protsteer.io.batch import BatchRun, BatchSummary
from protsteer.io.rundir import safe_child
from protsteer.tasks.propensity.bfactor import write_scored_mmcif
from protsteer.tasks.propensity.inference import PreparedInput
from protsteer.tasks.propensity.runner import BatchRequest, Parts, run_propensity_batch
from protsteer.tasks.propensity.tables import (
    RESIDUE_COLUMNS,
    RESIDUES_TABLE,
    STRUCTURE_SCORES,
    native_index,
    residue_rows,
    residue_scores,
)

logger = logging.getLogger(__name__)

TASKS = ("propensity", "cath")
STRUCTURES_DIR = "structures"
CATH_MODULE = "protsteer.tasks.cath.predict"


def parse_tasks(text: str) -> tuple[str, ...]:
    """``"propensity,cath"`` -> ``("propensity", "cath")`` (validated, de-duplicated, in TASKS order)."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(TASKS))
    if unknown or not names:
        raise ProtsteerError(f"--tasks: unknown or empty {','.join(unknown)}; choose from {','.join(TASKS)}")
    return tuple(task for task in TASKS if task in names)


def check_task_options(tasks: Sequence[str], domains: Path | None, cath_weights: str | None) -> None:
    """Raise ``ProtsteerError`` when ``tasks`` lacks propensity or an option needs a task not asked for."""
    if domains is not None and "cath" not in tasks:
        raise ProtsteerError("--domains only applies with --tasks cath")
    if cath_weights is not None and "cath" not in tasks:
        raise ProtsteerError("--cath-weights only applies with --tasks cath")
    if "propensity" not in tasks:
        raise ProtsteerError("--tasks: propensity is required (CATH runs alongside it)")


def load_cath_predictor(
    device, domains: Path | None, weights: str | None, orientations: int = 1, frame: str = "local"
):
    """The CATH predictor of ``protsteer.tasks.cath.predict`` (see the module docstring)."""
    try:
        module = importlib.import_module(CATH_MODULE)
    except ModuleNotFoundError as err:
        if err.name not in (CATH_MODULE, "protsteer.tasks.cath"):
            raise
        raise ProtsteerError("--tasks cath: CATH prediction is not available in this version") from err
    predictor = module.load_predictor(weights, device, domains, orientations, frame)
    return module.TABLE, getattr(predictor, "columns", module.COLUMNS), predictor


def run_predict(
    request: BatchRequest,
    *,
    positions: str | None = None,
    tasks: Sequence[str] = ("propensity",),
    domains: Path | None = None,
    cath_weights: str | None = None,
    write_structure: bool = False,
    structure_score: str = "logp_native",
) -> BatchSummary:
    """Predict every input of ``request`` (every residue, or the residue selection ``positions``); returns
    the run summary (tables in ``request.outdir``)."""
    if structure_score not in STRUCTURE_SCORES:
        raise ProtsteerError(f"--structure-score must be one of {', '.join(STRUCTURE_SCORES)}")
    check_task_options(tasks, domains, cath_weights)
    tables = {RESIDUES_TABLE: RESIDUE_COLUMNS}
    settings = {"tasks": list(tasks), "write_structure": structure_score if write_structure else None}
    cath = None
    if "cath" in tasks:
        from protsteer.tasks.device import resolve_device

        cath_table, cath_columns, cath = load_cath_predictor(
            resolve_device(request.device), domains, cath_weights, request.orientations, request.frame
        )
        tables[cath_table] = cath_columns
        settings["cath"] = cath.settings

    def make_parts(run: BatchRun, prepared: PreparedInput, logp: np.ndarray) -> Parts:
        file = str(prepared.item.path)
        predicted = prepared.residues.take(prepared.environments.residue_rows)  # all, or --positions
        parts: Parts = {RESIDUES_TABLE: (RESIDUE_COLUMNS, residue_rows(predicted, file, logp))}
        if cath is not None:
            parts[cath_table] = (cath_columns, list(cath(prepared.structure, file)))
        if write_structure:
            scores = residue_scores(logp, native_index(predicted))
            values = scores[structure_score].astype(np.float64)
            target = safe_child(run.rundir.root, f"{STRUCTURES_DIR}/{prepared.item.structure_id}.cif")
            write_scored_mmcif(prepared.item.path, target, predicted, values)  # 0 for the others
        return parts

    summary, _ = run_propensity_batch(
        "predict",
        request,
        tables=tables,
        make_parts=make_parts,
        settings=settings,
        positions=positions,
        keep_structure=cath is not None,
    )
    return summary
