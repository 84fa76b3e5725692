"""Classification metrics of the propensity model: top-k, log-loss, per amino acid, confusion, per family."""

from __future__ import annotations

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
