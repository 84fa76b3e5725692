"""Classification metrics of the propensity model: top-k, log-loss, per amino acid, confusion, per family,
calibration."""

from __future__ import annotations

import math

import numpy as np
import torch

from protsteer.structure.residues import AMINO_ACIDS


def summary_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """``top1``, ``top3`` accuracy and ``log_loss`` (mean negative log-likelihood, nats) over N residues.

    Args:
        logits: [N, 20] float.
        targets: [N] int64 amino-acid indices.
    """
    logits = logits.float()
    top3 = logits.topk(3, dim=1).indices
    return {
        "top1": float((top3[:, 0] == targets).float().mean()),
        "top3": float((top3 == targets[:, None]).any(dim=1).float().mean()),
        "log_loss": float(torch.nn.functional.cross_entropy(logits, targets)),
    }


def per_residue_correct(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, np.ndarray]:
    """Per residue: ``top1`` / ``top3`` hit (bool) and ``nll`` (nats), each [N]."""
    logits = logits.float()
    top3 = logits.topk(3, dim=1).indices
    nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    return {
        "top1": (top3[:, 0] == targets).numpy(),
        "top3": (top3 == targets[:, None]).any(dim=1).numpy(),
        "nll": nll.numpy().astype(np.float64),
    }


def calibration_bins(
    confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10
) -> tuple[float, list[dict]]:
    """Reliability of the top-1 probability: the expected calibration error and its reliability table.

    The residues are binned by ``confidence`` into ``n_bins`` equal-width bins of [0, 1]; the error is
    ``sum_b n_b / N * |accuracy_b - mean confidence_b|`` (0 for a calibrated model: of the residues predicted
    with probability 0.4, 40 % are right).

    Args:
        confidence: [N] probability of the predicted (top-1) amino acid.
        correct: [N] bool, the top-1 prediction is the native.
        n_bins: number of bins.

    Returns:
        ``(ece, rows)``, one row per bin: ``bin_low, bin_high, n, mean_confidence, accuracy`` (the last two
        NaN for an empty bin).
    """
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, np.float64)
    index = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / counts
    filled = counts > 0
    gaps = np.abs(accuracy[filled] - mean_confidence[filled])
    ece = float(np.sum(counts[filled] * gaps) / max(len(index), 1))
    rows = [
        {
            "bin_low": b / n_bins,
            "bin_high": (b + 1) / n_bins,
            "n": int(counts[b]),
            "mean_confidence": float(mean_confidence[b]),
            "accuracy": float(accuracy[b]),
        }
        for b in range(n_bins)
    ]
    return ece, rows


def fit_temperature(
    logits: torch.Tensor, targets: torch.Tensor, bounds: tuple[float, float] = (0.1, 10.0)
) -> dict:
    """The temperature T that minimises the log-loss of ``softmax(logits / T)`` (temperature scaling).

    T > 1 softens an overconfident model, T < 1 sharpens an underconfident one (an ensemble's mean of
    probabilities is typically underconfident); the top-1 and top-k predictions do not change. The log-loss
    is convex in 1 / T, so a golden-section search over 1 / T in ``[1 / bounds[1], 1 / bounds[0]]`` finds the
    optimum (to 1e-6 relative).

    Args:
        logits: [N, C] float (logits or log-probabilities).
        targets: [N] int64 class indices.
        bounds: the range searched for T.

    Returns:
        ``{"temperature": T, "log_loss": <at T>, "log_loss_at_1": <at T = 1>}`` (nats).
    """
    logits = logits.double()

    def log_loss(inverse_temperature: float) -> float:
        return float(torch.nn.functional.cross_entropy(logits * inverse_temperature, targets))

    low, high = 1.0 / bounds[1], 1.0 / bounds[0]
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - golden * (high - low), low + golden * (high - low)
    loss_a, loss_b = log_loss(a), log_loss(b)
    while high - low > 1e-6 * high:
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - golden * (high - low)
            loss_a = log_loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + golden * (high - low)
            loss_b = log_loss(b)
    inverse = (low + high) / 2.0
    return {"temperature": 1.0 / inverse, "log_loss": log_loss(inverse), "log_loss_at_1": log_loss(1.0)}


def family_macro(values: dict[str, np.ndarray], family: np.ndarray) -> dict[str, float]:
    """Mean over families of the per-family mean of each per-residue value (each family weighs the same)."""
    families, inverse = np.unique(family, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(families))
    return {
        key: float(
            np.mean(np.bincount(inverse, weights=value.astype(np.float64), minlength=len(families)) / counts)
        )
        for key, value in values.items()
    }


def confusion_matrix(
    predicted: np.ndarray, targets: np.ndarray, n_classes: int = len(AMINO_ACIDS)
) -> np.ndarray:
    """``[true, predicted]`` counts, int64 ``[n_classes, n_classes]``."""
    return np.bincount(targets * n_classes + predicted, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def per_class_rows(confusion: np.ndarray) -> list[dict]:
    """One row per amino acid: ``aa, n, correct, accuracy (recall), precision, predicted``."""
    rows = []
    for index, letter in enumerate(AMINO_ACIDS):
        n = int(confusion[index].sum())
        predicted = int(confusion[:, index].sum())
        correct = int(confusion[index, index])
        rows.append(
            {
                "aa": letter,
                "n": n,
                "correct": correct,
                "accuracy": correct / n if n else float("nan"),
                "predicted": predicted,
                "precision": correct / predicted if predicted else float("nan"),
            }
        )
    return rows


def family_bootstrap_difference(
    values_a: np.ndarray,
    values_b: np.ndarray,
    family: np.ndarray,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Per-residue mean of ``values_a - values_b`` (two models scored on the SAME residues) with a paired
    bootstrap interval that resamples whole families (residues of one family are not independent).

    Args:
        values_a, values_b: [N] per-residue values of models A and B (e.g. top-1 hits, log-loss in nats).
        family: [N] family index of each residue.
        n_resamples, level, seed: bootstrap resamples, interval coverage, numpy generator seed.

    Returns:
        ``{"a", "b", "difference", "ci_low", "ci_high", "p_not_positive"}``: the per-residue means, A - B, its
        percentile interval, and the fraction of resamples in which A - B <= 0.
    """
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    _, inverse = np.unique(family, return_inverse=True)
    n_families = int(inverse.max()) + 1 if len(inverse) else 0
    size = np.bincount(inverse, minlength=n_families).astype(np.float64)
    total = np.bincount(inverse, weights=a - b, minlength=n_families)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_families, np.full(n_families, 1.0 / n_families), size=n_resamples)
    resampled = (draws @ total) / (draws @ size)
    tail = (1 - level) / 2 * 100
    return {
        "a": float(a.mean()),
        "b": float(b.mean()),
        "difference": float((a - b).mean()),
        "ci_low": float(np.percentile(resampled, tail)),
        "ci_high": float(np.percentile(resampled, 100 - tail)),
        "p_not_positive": float(np.mean(resampled <= 0)),
    }
