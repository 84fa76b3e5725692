"""CATH architecture prediction for ``protsteer predict --tasks cath`` (the ``cath`` table).

Hook used by :mod:`protsteer.tasks.propensity.predict`: :data:`TABLE`, :data:`COLUMNS` (for the shipped
label set; the columns of any weights are :attr:`CathPredictor.columns`) and :func:`load_predictor`.
The library entry point is :func:`predict_domains`.

One row per chain of every model read (``domain_id`` = the chain id, ``_`` for a blank chain id,
``domain_source`` = ``whole_chain``), or, with a domains file (TSV with columns ``structure_id chain
domain_id segments``; segments like ``A:1-120,A:200-250`` in author numbering, insertion codes allowed), one
row per listed domain of the structure (``domain_source`` = ``user``).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protsteer.errors import ProtsteerError
from protsteer.io.tables import Column
from protsteer.models import DEFAULT_WEIGHTS
from protsteer.so3 import orientation_set
from protsteer.structure import ParsedStructure
from protsteer.tasks.cath.atoms import domain_mask
from protsteer.tasks.cath.labels import architecture_name
from protsteer.voxel import VoxelSpec, concatenate_environments, domain_environment

logger = logging.getLogger(__name__)

TABLE = "cath"
DOMAIN_FILE_COLUMNS = ("structure_id", "chain", "domain_id", "segments")
#: The label set of the shipped ``cath-v1`` and ``cath-v2`` weights (``models/cath-v2.md``).
SHIPPED_LABELS = ("1.10", "1.20", "1.25", "2.10", "2.40", "2.60", "3.10", "3.30", "3.40", "3.90")
BASE_COLUMNS = [
    Column("structure_id"),
    Column("model", "int"),
    Column("chain"),
    Column("domain_id"),
    Column("domain_source"),
    Column("segments"),
    Column("n_residues", "int"),
    Column("pred_architecture"),
    Column("pred_architecture_name"),
    Column("p_pred", "float"),
    Column("p_second", "float"),
    Column("architecture_second"),
]


def table_columns(labels: Iterable[str]) -> list[Column]:
    """The ``cath`` table columns: :data:`BASE_COLUMNS` then ``p_arch_<code>`` per label."""
    return BASE_COLUMNS + [Column(f"p_arch_{label}", "float") for label in labels]


COLUMNS = table_columns(SHIPPED_LABELS)


@dataclass(frozen=True)
class UserDomain:
    """One line of a domains file."""

    structure_id: str
    chain: str
    domain_id: str
    segments: str


def read_domains_file(path: str | Path) -> dict[str, list[UserDomain]]:
    """Read a domains TSV (header ``structure_id chain domain_id segments``): structure_id -> domains.

    Raises:
        ProtsteerError: missing columns, an empty field, or a repeated (structure_id, domain_id).
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            missing = [c for c in DOMAIN_FILE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ProtsteerError(f"domains file lacks columns {', '.join(missing)}", path)
            rows = list(reader)
    except OSError as err:
        raise ProtsteerError(f"cannot read domains file ({err.strerror})", path) from err
    result: dict[str, list[UserDomain]] = {}
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows, 2):
        values = {c: (row.get(c) or "").strip() for c in DOMAIN_FILE_COLUMNS}
        empty = [c for c in ("structure_id", "domain_id", "segments") if not values[c]]
        if empty:
            raise ProtsteerError(f"line {number}: empty {', '.join(empty)}", path)
        if (values["structure_id"], values["domain_id"]) in seen:
            raise ProtsteerError(f"line {number}: domain {values['domain_id']} listed twice", path)
        seen.add((values["structure_id"], values["domain_id"]))
        result.setdefault(values["structure_id"], []).append(UserDomain(**values))
    return result


def _chain_segment(structure: ParsedStructure, rows: np.ndarray, chain_label: str) -> str:
    """``CHAIN:FIRST-LAST`` (author numbering) spanning ``rows`` of one chain."""
    residues = structure.residues
    first, last = rows[0], rows[-1]
    return (
        f"{chain_label}:{int(residues.resseq[first])}{residues.icode[first]}"
        f"-{int(residues.resseq[last])}{residues.icode[last]}"
    )


def _domains_of(
    structure: ParsedStructure, user: list[UserDomain] | None
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """(row identity fields, [R] residue mask) of every domain to predict in ``structure``."""
    residues = structure.residues
    out: list[tuple[dict[str, Any], np.ndarray]] = []
    for model in structure.model_numbers:
        in_model = residues.model == model
        if user is None:
            chains = list(dict.fromkeys(residues.chain[in_model].tolist()))
            for chain in chains:
                mask = in_model & (residues.chain == chain)
                label = chain or "_"
                out.append(
                    (
                        {
                            "model": int(model),
                            "chain": chain,
                            "domain_id": label,
                            "domain_source": "whole_chain",
                            "segments": _chain_segment(structure, np.flatnonzero(mask), label),
                        },
                        mask,
                    )
                )
            continue
        for domain in user:
            mask = domain_mask(structure, domain.segments, model=int(model))
            out.append(
                (
                    {
                        "model": int(model),
                        "chain": domain.chain,
                        "domain_id": domain.domain_id,
                        "domain_source": "user",
                        "segments": domain.segments,
                    },
                    mask,
                )
            )
    return out


def predict_domains(
    structure: ParsedStructure,
    model: torch.nn.Module,
    labels: list[str],
    spec: VoxelSpec,
    domains: list[UserDomain] | None = None,
    device: torch.device | str = "cpu",
    batch_size: int = 16,
    orientations: int = 1,
    frame: str = "local",
) -> list[dict[str, Any]]:
    """CATH architecture probabilities for the chains (default) or the given domains of one structure.

    Args:
        structure: a parsed structure.
        model: a CATH network (eval mode) mapping ``[B, spec.n_channels, G, G, G]`` to ``[B, len(labels)]``.
        labels: architecture codes in logit order (strings, ``"3.40"``).
        spec: the grid the model was trained on.
        domains: user domains of this structure (``None``: one row per chain).
        device: where to run the model.
        batch_size: grids per forward pass.
        orientations: average the probabilities over this many orientations of each domain
            (:func:`protsteer.so3.orientation_set`; 1 = the input orientation only).
        frame: ``"local"``: each domain on its CA atoms' principal axes (predictions independent of the
            file's orientation); ``"input"``: the file's axes (:func:`protsteer.voxel.domain_environment`).

    Returns:
        rows with the keys of :func:`table_columns` (``labels``), in chain / domain order; domains whose
        segments match no residue raise.

    Raises:
        ProtsteerError: a user segment matches no residue of the structure.
    """
    targets = _domains_of(structure, domains)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(targets), batch_size):
        chunk = targets[start : start + batch_size]
        envs = concatenate_environments(
            [domain_environment(structure, spec, residues=m, frame=frame) for _, m in chunk]
        )
        with torch.no_grad():
            probabilities = (
                torch.stack(
                    [
                        torch.softmax(
                            model(
                                envs.voxelize(rotations=rotation.expand(envs.n_env, 3, 3), device=device)
                            ).double(),
                            dim=1,
                        )
                        for rotation in orientation_set(orientations)
                    ]
                )
                .mean(dim=0)
                .cpu()
                .numpy()
            )
        for (fields, mask), p in zip(chunk, probabilities, strict=True):
            order = np.argsort(-p, kind="stable")
            best, second = order[0], order[1] if len(order) > 1 else order[0]
            rows.append(
                {
                    "structure_id": structure.structure_id,
                    **fields,
                    "n_residues": int(mask.sum()),
                    "pred_architecture": labels[best],
                    "pred_architecture_name": architecture_name(labels[best]),
                    "p_pred": float(p[best]),
                    "p_second": float(p[second]),
                    "architecture_second": labels[second],
                    **{f"p_arch_{label}": float(v) for label, v in zip(labels, p, strict=True)},
                }
            )
    return rows


class CathPredictor:
    """``predictor(structure, file) -> rows`` for the predict command (weights loaded once).

    Attributes:
        columns: the table columns for these weights' labels.
        settings: JSON-serialisable options (weights name and sha256, domains file) for resume fingerprints.
    """

    def __init__(
        self,
        weights: Any,
        device: torch.device,
        domains: dict[str, list[UserDomain]] | None,
        domains_path: Path | None,
        orientations: int = 1,
        frame: str = "local",
    ) -> None:
        if weights.task != "cath":
            raise ProtsteerError(f"weights are for task {weights.task!r}, not cath", weights.path)
        self.weights = weights
        self.device = device
        self.domains = domains
        self.orientations = orientations
        self.frame = frame
        self.columns = table_columns(weights.labels)
        self.settings = {
            "weights": weights.name,
            "sha256": weights.sha256,
            "labels": list(weights.labels),
            "domains": None if domains_path is None else str(domains_path),
            "orientations": orientations,
            "frame": frame,
        }

    def __call__(self, structure: ParsedStructure, file: str) -> list[dict[str, Any]]:
        user = None
        if self.domains is not None:
            user = self._matching_domains(structure, file)
            if not user:
                return []
        try:
            return predict_domains(
                structure,
                self.weights.model,
                list(self.weights.labels),
                self.weights.voxel_spec,
                user,
                self.device,
                orientations=self.orientations,
                frame=self.frame,
            )
        except ProtsteerError as err:
            raise ProtsteerError(f"cath: {err.message}", file) from err

    def _matching_domains(self, structure: ParsedStructure, file: str) -> list[UserDomain]:
        """The domains file's domains of ``structure`` whose segments match residues; the others are
        skipped with a warning (the residue tables and the other domains of the input are kept)."""
        listed = (self.domains or {}).get(structure.structure_id, [])
        if not listed:
            logger.warning("%s: cath: no domains of %r in the domains file", file, structure.structure_id)
        kept = []
        for domain in listed:
            try:
                for model in structure.model_numbers:
                    domain_mask(structure, domain.segments, model=int(model))
            except ProtsteerError as err:
                logger.warning("%s: cath: domain %s skipped: %s", file, domain.domain_id, err.message)
                continue
            kept.append(domain)
        return kept


def load_predictor(
    weights: str | None,
    device: torch.device,
    domains: Path | None,
    orientations: int = 1,
    frame: str = "local",
) -> CathPredictor:
    """Load CATH weights (default ``DEFAULT_WEIGHTS["cath"]`` of :mod:`protsteer.models`) and an optional
    domains file; ``orientations`` and ``frame`` as in :func:`predict_domains`."""
    from protsteer.io.weights import load_weights

    loaded = load_weights(weights or DEFAULT_WEIGHTS["cath"], device=device)
    user = read_domains_file(domains) if domains is not None else None
    return CathPredictor(loaded, torch.device(device), user, domains, orientations, frame)
