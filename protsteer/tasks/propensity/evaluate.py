"""Evaluate propensity weights on a data split: accuracy per residue and per family, per amino acid,
confusion, and rotational robustness (top-1 agreement between unrotated and randomly rotated environments).

Residues of the split are subsampled evenly over families
(:func:`~protsteer.tasks.propensity.data.spread_subset`) when ``max_residues`` is smaller than the split;
the sample size is reported.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_write_text
from protsteer.io.tables import Column, write_table
from protsteer.io.weights import LoadedWeights
from protsteer.so3 import orientation_set
from protsteer.structure.policy import ReadPolicy
from protsteer.structure.residues import AMINO_ACIDS
from protsteer.tasks.collect import collect_outputs
from protsteer.tasks.precision import autocast_dtype
from protsteer.tasks.propensity.data import EnvironmentDataset, collate_environments, spread_subset
from protsteer.tasks.propensity.metrics import (
    calibration_bins,
    confusion_matrix,
    family_bootstrap_difference,
    family_macro,
    fit_temperature,
    per_class_rows,
    per_residue_correct,
)
from protsteer.tasks.propensity.task import PropensityData, environment_grids, load_split
from protsteer.voxel import VoxelSpec

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Results of :func:`evaluate_propensity`.

    Attributes:
        summary: JSON-serialisable overall numbers (per residue, family macro, rotation agreement, sizes).
        per_family: one row per family (family, n, top1, top3, log_loss).
        per_aa: one row per amino acid (aa, n, correct, accuracy, predicted, precision).
        confusion: [20, 20] int64 counts, rows = native, columns = predicted.
        calibration: reliability table of the top-1 probability (see
            :func:`~protsteer.tasks.propensity.metrics.calibration_bins`); its error is
            ``summary["calibration"]["ece"]``, and ``summary["calibration"]["temperature"]`` is the
            temperature that would minimise the log-loss on these residues
            (:func:`~protsteer.tasks.propensity.metrics.fit_temperature`; fit it on val, apply it with
            ``train export --temperature``).
        per_residue: [N] arrays ``top1`` / ``top3`` (bool) and ``nll`` (nats) of the evaluated residues.
        family: [N] family index of each evaluated residue.
        residue_ids: [N] ``file#row`` of each evaluated residue (two evaluations can be paired only when these
            are equal).
    """

    summary: dict
    per_family: list[dict]
    per_aa: list[dict]
    confusion: np.ndarray
    calibration: list[dict]
    per_residue: dict[str, np.ndarray]
    family: np.ndarray
    residue_ids: np.ndarray


def evaluate_propensity(
    weights: LoadedWeights,
    data_dir: Path,
    split: str,
    cache_dir: Path,
    *,
    max_residues: int | None = 10_000,
    rotations: bool = True,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    seed: int = 0,
    subset_seed: int = 20240531,
    cache_workers: int = 2,
    orientations: int = 1,
    frame: str = "local",
    precision: str = "fp32",
) -> Evaluation:
    """Evaluate ``weights`` (a loaded propensity model) on ``split`` of ``data_dir``.

    Args:
        max_residues: evaluate at most this many residues, spread over families (None: all).
        rotations: also evaluate each environment under one Haar-random rotation (seeded by ``seed``) and
            report the top-1 agreement with the unrotated prediction and the rotated accuracy: the
            network's own rotation robustness (with ``frame="local"`` the pipeline itself does not
            depend on the structure's orientation; ``benchmarks/rotation_agreement.py`` checks that end to
            end on rotated files).
        orientations: average the probabilities over this many orientations of each environment
            (:func:`protsteer.so3.orientation_set`, as ``predict --orientations``); the rotated pass applies
            each environment's random rotation first, so both passes run the same averaged predictor.
        frame: environment axes, ``"local"`` (as ``predict``) or ``"input"`` (the files' axes).
        precision: network arithmetic, ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA) autocast, as
            ``predict --precision`` (:mod:`protsteer.tasks.precision`).
    """
    if weights.task != "propensity" or list(weights.labels) != list(AMINO_ACIDS):
        raise ProtsteerError(f"not propensity weights (task {weights.task!r})", weights.path)
    device = torch.device(device)
    data = PropensityData(
        data_dir=Path(data_dir),
        cache_dir=Path(cache_dir),
        spec=weights.voxel_spec,
        policy=ReadPolicy.from_dict(weights.read_policy),
        cache_workers=cache_workers,
    )
    store, samples = load_split(data, split)
    n_split = len(samples)
    if max_residues is not None:
        samples = spread_subset(samples, max_residues, subset_seed)
    dataset = EnvironmentDataset(store, samples, weights.voxel_spec, frame=frame)
    model = weights.model.to(device)
    amp = autocast_dtype(precision, device)

    def run(seed: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities averaged over the orientations (logits when ``orientations`` is 1)."""
        outputs = []
        for orientation in orientation_set(orientations) if orientations > 1 else [None]:
            generator = None if seed is None else torch.Generator().manual_seed(seed)
            outputs.append(
                collect_outputs(
                    model,
                    dataset,
                    collate_environments,
                    functools.partial(_oriented_grids, weights.voxel_spec, generator, orientation),
                    device,
                    batch_size=batch_size,
                    amp=amp,
                )
            )
        targets = outputs[0][1]
        if len(outputs) == 1:
            return outputs[0]
        logps = torch.stack([torch.log_softmax(logits.double(), dim=1) for logits, _ in outputs])
        return (torch.logsumexp(logps, dim=0) - math.log(len(outputs))).float(), targets

    logits, targets = run(None)
    per_residue = per_residue_correct(logits, targets)
    predicted = logits.argmax(dim=1).numpy()
    summary: dict = {
        "weights": weights.name,
        "sha256": weights.sha256,
        "split": split,
        "data_dir": str(data_dir),
        "split_residues": n_split,
        "evaluated_residues": len(samples),
        "orientations": orientations,
        "frame": frame,
        "precision": precision,
        "families": int(len(np.unique(samples.family))),
        "per_residue": {key: float(np.mean(value)) for key, value in per_residue.items()},
        "family_macro": family_macro(per_residue, samples.family),
    }
    for scope in ("per_residue", "family_macro"):
        summary[scope]["log_loss"] = summary[scope].pop("nll")
    confidence = torch.softmax(logits.float(), dim=1).max(dim=1).values.numpy()
    ece, reliability = calibration_bins(confidence, per_residue["top1"])
    scaled = fit_temperature(logits, targets)
    summary["calibration"] = {
        "ece": ece,
        "mean_confidence": float(confidence.mean()),
        "top1": summary["per_residue"]["top1"],
        "bins": len(reliability),
        "temperature": scaled["temperature"],
        "log_loss_at_temperature": scaled["log_loss"],
    }
    if rotations:
        rotated_logits, _ = run(seed)
        rotated = per_residue_correct(rotated_logits, targets)
        agree = rotated_logits.argmax(dim=1).numpy() == predicted
        summary["rotation"] = {
            "top1_agreement": float(agree.mean()),
            "top1_agreement_family_macro": family_macro({"a": agree}, samples.family)["a"],
            "rotated_top1": float(rotated["top1"].mean()),
            "max_abs_logprob_difference": float(
                (torch.log_softmax(rotated_logits, 1) - torch.log_softmax(logits, 1)).abs().max()
            ),
        }
    confusion = confusion_matrix(predicted, targets.numpy())
    files = np.asarray(store.files, dtype=object)
    residue_ids = files[samples.file_index] + "#" + samples.residue.astype(str).astype(object)
    return Evaluation(
        summary,
        _family_rows(per_residue, samples),
        per_class_rows(confusion),
        confusion,
        reliability,
        per_residue,
        samples.family,
        residue_ids,
    )


def _oriented_grids(
    spec: VoxelSpec,
    generator: torch.Generator | None,
    orientation: torch.Tensor | None,
    batch: tuple[torch.Tensor, ...],
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`environment_grids` with its arguments in the order ``functools.partial`` needs."""
    return environment_grids(batch, spec, device, generator, orientation)


def compare_evaluations(evaluations: dict[str, Evaluation], seed: int = 0) -> list[dict]:
    """One row per model (in order): its per-residue and family-macro metrics, and its difference from the
    first model in top-1 and log-loss with a family-bootstrap 95 % interval (paired: the same residues; empty
    when a model was evaluated on other residues, e.g. under another read policy)."""
    reference_name, reference = next(iter(evaluations.items()))
    rows = []
    for name, evaluation in evaluations.items():
        summary = evaluation.summary
        row: dict = {
            "model": name,
            "sha256": summary["sha256"],
            "residues": summary["evaluated_residues"],
            "families": summary["families"],
            "top1": summary["per_residue"]["top1"],
            "top1_family_macro": summary["family_macro"]["top1"],
            "top3": summary["per_residue"]["top3"],
            "log_loss": summary["per_residue"]["log_loss"],
            "ece": summary["calibration"]["ece"],
            "temperature": summary["calibration"]["temperature"],
            "rotation_top1_agreement": summary.get("rotation", {}).get("top1_agreement"),
            "vs": reference_name,
        }
        paired = name != reference_name and np.array_equal(evaluation.residue_ids, reference.residue_ids)
        for metric, key in (("top1", "top1"), ("log_loss", "nll")):
            if paired:
                difference = family_bootstrap_difference(
                    evaluation.per_residue[key], reference.per_residue[key], evaluation.family, seed=seed
                )
                row[f"d_{metric}"] = difference["difference"]
                row[f"d_{metric}_ci_low"] = difference["ci_low"]
                row[f"d_{metric}_ci_high"] = difference["ci_high"]
            else:
                row[f"d_{metric}"] = row[f"d_{metric}_ci_low"] = row[f"d_{metric}_ci_high"] = None
        rows.append(row)
    return rows


COMPARISON_COLUMNS = [
    Column("model"),
    Column("sha256"),
    Column("residues", "int"),
    Column("families", "int"),
    Column("top1", "float"),
    Column("top1_family_macro", "float"),
    Column("top3", "float"),
    Column("log_loss", "float"),
    Column("ece", "float"),
    Column("temperature", "float"),
    Column("rotation_top1_agreement", "float"),
    Column("vs"),
    *(
        Column(f"d_{metric}{suffix}", "float")
        for metric in ("top1", "log_loss")
        for suffix in ("", "_ci_low", "_ci_high")
    ),
]


def _family_rows(per_residue: dict[str, np.ndarray], samples) -> list[dict]:
    rows = []
    for index in np.unique(samples.family):
        mask = samples.family == index
        rows.append(
            {
                "family": samples.family_names[index],
                "n": int(mask.sum()),
                **{
                    key if key != "nll" else "log_loss": float(value[mask].mean())
                    for key, value in per_residue.items()
                },
            }
        )
    return rows


def write_evaluation(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    """Write ``summary.json``, ``metrics.tsv``, ``per_family.tsv``, ``per_aa.tsv``, ``confusion.tsv`` and
    ``calibration.tsv``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = evaluation.summary
    names = ("summary.json", "metrics.tsv", "per_family.tsv", "per_aa.tsv", "confusion.tsv")
    paths = [out_dir / name for name in (*names, "calibration.tsv")]
    atomic_write_text(paths[0], json.dumps(summary, indent=2) + "\n")
    metric_columns = [
        Column("scope"),
        Column("n", "int"),
        Column("top1", "float"),
        Column("top3", "float"),
        Column("log_loss", "float"),
    ]
    write_table(
        paths[1],
        metric_columns,
        [
            {"scope": "per_residue", "n": summary["evaluated_residues"], **summary["per_residue"]},
            {"scope": "family_macro", "n": summary["families"], **summary["family_macro"]},
        ],
    )
    write_table(paths[2], [Column("family")] + metric_columns[1:], evaluation.per_family)
    write_table(
        paths[3],
        [
            Column("aa"),
            Column("n", "int"),
            Column("correct", "int"),
            Column("accuracy", "float"),
            Column("predicted", "int"),
            Column("precision", "float"),
        ],
        evaluation.per_aa,
    )
    write_table(
        paths[4],
        [Column("native")] + [Column(aa, "int") for aa in AMINO_ACIDS],
        [[aa, *row.tolist()] for aa, row in zip(AMINO_ACIDS, evaluation.confusion, strict=True)],
    )
    write_table(
        paths[5],
        [
            Column("bin_low", "float"),
            Column("bin_high", "float"),
            Column("n", "int"),
            Column("mean_confidence", "float"),
            Column("accuracy", "float"),
        ],
        evaluation.calibration,
    )
    return paths
