"""Classification metrics for the CATH task: accuracy, balanced accuracy, recall, confusion, bootstrap CI.

All functions take integer class indices (``[N]`` int arrays) and the number of classes ``K``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``[K, K]`` int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets), np.asarray(predictions)), 1)
    return matrix


def per_class_recall(targets: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """``[K]`` recall of each class (NaN for classes absent from ``targets``)."""
    matrix = confusion_matrix(targets, predictions, n_classes)
    support = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / support, np.nan)


def accuracy(targets: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of correct predictions (NaN when empty)."""
    targets = np.asarray(targets)
    return float(np.mean(targets == np.asarray(predictions))) if len(targets) else float("nan")


def balanced_accuracy(targets: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """Mean recall over the classes present in ``targets``."""
    recall = per_class_recall(targets, predictions, n_classes)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else float("nan")


def group_accuracy(targets: np.ndarray, predictions: np.ndarray, groups: Sequence[str]) -> float:
    """Accuracy after mapping classes to coarser groups (e.g. architecture -> CATH class).

    ``groups[k]`` is the group of class ``k``; a prediction is right when its group equals the target's.
    """
    lookup = np.asarray(groups)
    return accuracy(lookup[np.asarray(targets)], lookup[np.asarray(predictions)])


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n_items: int,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over items resampled with replacement.

    Args:
        statistic: maps an ``[n_items]`` index array (a resample) to a number.
        n_items: number of independent items (deduplicated domains).
        n_resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: numpy generator seed.

    Returns:
        ``(low, high)``.
    """
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n_items, n_items)) for _ in range(n_resamples)])
    values = values[~np.isnan(values)]
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def majority_class(train_targets: np.ndarray, n_classes: int) -> int:
    """The most frequent class of the (deduplicated) training targets: the majority baseline's answer."""
    return int(np.bincount(np.asarray(train_targets), minlength=n_classes).argmax())


def paired_difference(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    targets: np.ndarray,
    predictions_a: Sequence[np.ndarray],
    predictions_b: Sequence[np.ndarray],
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Difference of a metric between two groups of models scored on the SAME items, with a paired bootstrap.

    Each group is one or more models (e.g. training runs with different seeds); its score is the mean of
    ``statistic(targets, predictions)`` over its models. Every resample draws the items once and scores all
    models on it, so the variation the items share (some domains are hard for every model) cancels in the
    difference: the interval is much narrower than two separate intervals.

    Args:
        statistic: ``(targets [N], predictions [N]) -> float``, e.g. :func:`accuracy`.
        targets: ``[N]`` true class per item.
        predictions_a: ``[N]`` predictions of each model of group A.
        predictions_b: the same for group B.
        n_resamples, level, seed: as :func:`bootstrap_ci`.

    Returns:
        ``{"a", "b", "difference", "ci_low", "ci_high", "p_not_better"}``: group means, A - B, its percentile
        interval, and the fraction of resamples in which A - B <= 0 (a one-sided bootstrap p-value for
        "A is better").
    """
    targets = np.asarray(targets)

    def difference(idx: np.ndarray) -> float:
        score_a = np.mean([statistic(targets[idx], np.asarray(p)[idx]) for p in predictions_a])
        score_b = np.mean([statistic(targets[idx], np.asarray(p)[idx]) for p in predictions_b])
        return float(score_a - score_b)

    everything = np.arange(len(targets))
    rng = np.random.default_rng(seed)
    values = np.array([difference(rng.integers(0, len(targets), len(targets))) for _ in range(n_resamples)])
    tail = (1 - level) / 2 * 100
    return {
        "a": float(np.mean([statistic(targets, np.asarray(p)) for p in predictions_a])),
        "b": float(np.mean([statistic(targets, np.asarray(p)) for p in predictions_b])),
        "difference": difference(everything),
        "ci_low": float(np.percentile(values, tail)),
        "ci_high": float(np.percentile(values, 100 - tail)),
        "p_not_better": float(np.mean(values <= 0)),
    }
