"""Turn per-row class probabilities into the CATH evaluation tables (deduplicated by domain).

Copies of one domain (rows sharing a ``dedup_key``, e.g. hundreds of T4 lysozyme chains) are merged by
averaging their class probabilities, so every distinct domain counts once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protsteer.tasks.cath import metrics
from protsteer.tasks.cath.labels import architecture_name, class_of


@dataclass
class CathEvaluation:
    """Evaluation of one model (or baseline) on one split.

    Attributes:
        labels: architecture codes in class-index order.
        keys: ``[D]`` distinct domain keys.
        targets: ``[D]`` true class index per domain.
        probabilities: ``[D, K]`` mean class probabilities per domain.
        n_rows: rows (chain copies) before deduplication.
    """

    labels: list[str]
    keys: list[str]
    targets: np.ndarray
    probabilities: np.ndarray
    n_rows: int

    @property
    def predictions(self) -> np.ndarray:
        """``[D]`` predicted class index per domain."""
        return self.probabilities.argmax(axis=1)

    def summary(self, n_bootstrap: int = 2000, seed: int = 0) -> dict[str, float | int]:
        """Accuracy and balanced accuracy (with percentile bootstrap 95% CIs over domains; NaN when
        ``n_bootstrap`` is 0), and accuracy at the CATH class level."""
        k, groups = len(self.labels), [class_of(a) for a in self.labels]
        targets, predictions = self.targets, self.predictions
        low = high = bal_low = bal_high = float("nan")
        if n_bootstrap > 0:
            low, high = metrics.bootstrap_ci(
                lambda idx: metrics.accuracy(targets[idx], predictions[idx]),
                len(targets),
                n_bootstrap,
                seed=seed,
            )
            bal_low, bal_high = metrics.bootstrap_ci(
                lambda idx: metrics.balanced_accuracy(targets[idx], predictions[idx], k),
                len(targets),
                n_bootstrap,
                seed=seed,
            )
        return {
            "n_domains": len(targets),
            "n_rows": self.n_rows,
            "accuracy": metrics.accuracy(targets, predictions),
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            "balanced_accuracy": metrics.balanced_accuracy(targets, predictions, k),
            "balanced_accuracy_ci_low": bal_low,
            "balanced_accuracy_ci_high": bal_high,
            "class_accuracy": metrics.group_accuracy(targets, predictions, groups),
        }

    def per_architecture(self) -> list[dict[str, str | int | float]]:
        """One row per architecture: support (true domains), predicted count, recall, precision."""
        k = len(self.labels)
        matrix = metrics.confusion_matrix(self.targets, self.predictions, k)
        rows = []
        for i, code in enumerate(self.labels):
            support, predicted = int(matrix[i].sum()), int(matrix[:, i].sum())
            rows.append(
                {
                    "architecture": code,
                    "name": architecture_name(code),
                    "support": support,
                    "predicted": predicted,
                    "recall": matrix[i, i] / support if support else float("nan"),
                    "precision": matrix[i, i] / predicted if predicted else float("nan"),
                }
            )
        return rows

    def confusion_rows(self) -> list[dict[str, str | int]]:
        """The confusion matrix as rows: ``true`` then one column per predicted architecture."""
        matrix = metrics.confusion_matrix(self.targets, self.predictions, len(self.labels))
        return [
            {"true": code, **{f"pred_{c}": int(v) for c, v in zip(self.labels, matrix[i], strict=True)}}
            for i, code in enumerate(self.labels)
        ]

    def per_domain(self) -> list[dict[str, str | float]]:
        """One row per distinct domain: key, true and predicted architecture, p of the prediction."""
        predictions = self.predictions
        return [
            {
                "domain": key,
                "true_architecture": self.labels[t],
                "pred_architecture": self.labels[p],
                "p_pred": float(self.probabilities[i, p]),
                "correct": int(t == p),
            }
            for i, (key, t, p) in enumerate(zip(self.keys, self.targets, predictions, strict=True))
        ]


def deduplicate(
    probabilities: np.ndarray, targets: np.ndarray, keys: list[str], labels: list[str]
) -> CathEvaluation:
    """Average the ``[N, K]`` row probabilities over rows sharing a key (first-seen key order).

    Raises:
        ValueError: rows of one key disagree on the target.
    """
    order: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    merged = np.stack([probabilities[rows].mean(axis=0) for rows in order.values()])
    merged_targets = []
    for key, rows in order.items():
        values = set(np.asarray(targets)[rows].tolist())
        if len(values) != 1:
            raise ValueError(f"copies of domain {key} have different labels")
        merged_targets.append(values.pop())
    return CathEvaluation(labels, list(order), np.array(merged_targets, dtype=np.int64), merged, len(keys))


def constant_prediction(reference: CathEvaluation, class_index: int) -> CathEvaluation:
    """The same domains as ``reference`` predicted as ``class_index`` (e.g. the majority-class baseline)."""
    probabilities = np.zeros_like(reference.probabilities)
    probabilities[:, class_index] = 1.0
    return CathEvaluation(
        reference.labels, reference.keys, reference.targets, probabilities, reference.n_rows
    )
