"""CATH evaluation metrics and deduplication by domain."""

from __future__ import annotations

import numpy as np
import pytest

from protsteer.tasks.cath import metrics
from protsteer.tasks.cath.summary import constant_prediction, deduplicate


def test_confusion_recall_balanced_accuracy():
    targets = np.array([0, 0, 0, 0, 1, 2, 2])
    predictions = np.array([0, 0, 0, 1, 1, 0, 2])
    matrix = metrics.confusion_matrix(targets, predictions, 4)
    assert matrix.sum() == 7 and matrix[0, 0] == 3 and matrix[0, 1] == 1 and matrix[2, 0] == 1
    recall = metrics.per_class_recall(targets, predictions, 4)
    np.testing.assert_allclose(recall[:3], [0.75, 1.0, 0.5])
    assert np.isnan(recall[3])  # absent class ignored by balanced accuracy
    assert metrics.balanced_accuracy(targets, predictions, 4) == pytest.approx((0.75 + 1 + 0.5) / 3)
    assert metrics.accuracy(targets, predictions) == pytest.approx(5 / 7)
    # classes 0,1 form group "1", class 2 group "3", class 3 group "2": 0->1 confusions become right
    assert metrics.group_accuracy(targets, predictions, ["1", "1", "3", "2"]) == pytest.approx(6 / 7)
    assert metrics.majority_class(targets, 4) == 0


def test_bootstrap_interval_contains_estimate_and_narrows():
    rng = np.random.default_rng(0)
    correct_small = rng.random(40) < 0.6
    correct_large = rng.random(4000) < 0.6
    small = metrics.bootstrap_ci(lambda i: correct_small[i].mean(), 40, 500)
    large = metrics.bootstrap_ci(lambda i: correct_large[i].mean(), 4000, 500)
    assert small[0] <= correct_small.mean() <= small[1]
    assert large[0] <= correct_large.mean() <= large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 4


def test_paired_difference_cancels_shared_item_difficulty():
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 3, 120)
    easy = rng.random(120) < 0.5  # items every model gets right
    wrong = (targets + 1) % 3

    def model(extra: float) -> np.ndarray:
        return np.where(easy | (rng.random(120) < extra), targets, wrong)

    group_a, group_b = [model(0.3), model(0.3)], [model(0.05), model(0.05)]
    result = metrics.paired_difference(metrics.accuracy, targets, group_a, group_b, n_resamples=500)
    assert result["difference"] == pytest.approx(result["a"] - result["b"])
    assert 0 < result["ci_low"] <= result["difference"] <= result["ci_high"] and result["p_not_better"] < 0.01
    separate = [
        metrics.bootstrap_ci(lambda i, p=p: metrics.accuracy(targets[i], p[i]), 120, 500)
        for p in (group_a[0], group_b[0])
    ]
    widths = [high - low for low, high in separate]
    assert result["ci_high"] - result["ci_low"] < min(widths)  # paired: narrower than either interval alone
    same = metrics.paired_difference(
        lambda t, p: metrics.balanced_accuracy(t, p, 3), targets, group_a, group_a, n_resamples=50
    )
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0 and same["p_not_better"] == 1


def test_deduplicate_averages_copies_and_counts_each_domain_once():
    labels = ["1.10", "2.60", "3.40"]
    # 3 copies of domain a (true 0): two say class 1 weakly, one says class 0 strongly -> mean picks 0
    probabilities = np.array(
        [
            [0.1, 0.5, 0.4],
            [0.1, 0.5, 0.4],
            [0.95, 0.05, 0.0],
            [0.0, 0.1, 0.9],
        ]
    )
    evaluation = deduplicate(probabilities, np.array([0, 0, 0, 2]), ["a", "a", "a", "b"], labels)
    assert evaluation.keys == ["a", "b"] and evaluation.n_rows == 4
    np.testing.assert_array_equal(evaluation.predictions, [0, 2])
    summary = evaluation.summary(n_bootstrap=100)
    assert summary["accuracy"] == 1.0 and summary["n_domains"] == 2
    rows = evaluation.per_architecture()
    assert [r["support"] for r in rows] == [1, 0, 1] and rows[2]["name"] == "3-Layer(aba) Sandwich"
    assert evaluation.confusion_rows()[2] == {"true": "3.40", "pred_1.10": 0, "pred_2.60": 0, "pred_3.40": 1}
    majority = constant_prediction(evaluation, 0)
    assert majority.summary(n_bootstrap=100)["accuracy"] == 0.5
    with pytest.raises(ValueError):
        deduplicate(probabilities[:2], np.array([0, 1]), ["a", "a"], labels)


def test_class_level_accuracy_uses_first_digit():
    labels = ["1.10", "1.20", "3.40"]
    probabilities = np.eye(3)[[1, 0, 2]]  # 1.10 predicted as 1.20 and vice versa: wrong arch, right class
    evaluation = deduplicate(probabilities, np.array([0, 1, 2]), ["a", "b", "c"], labels)
    summary = evaluation.summary(n_bootstrap=50)
    assert summary["accuracy"] == pytest.approx(1 / 3)
    assert summary["class_accuracy"] == 1.0
