"""Paired comparison of two groups of CATH models on the same domains (e.g. steerable vs plain seeds).

    protsteer evaluate cath --weights s0.pt --weights s1.pt --weights p0.pt --weights p1.pt \\
        --data ../shared/data --split test -o eval-test
    python benchmarks/cath_paired.py eval-test/per_domain.tsv --a s0,s1 --b p0,p1

Reads the ``per_domain.tsv`` table of ``protsteer evaluate cath`` (one row per model and distinct domain;
models are named by their weights file stem). Each group's score is the mean over its models; the difference
A - B gets a paired bootstrap interval over domains (every resample scores all models on the same domains,
so the domains that are hard for every model cancel) and a one-sided bootstrap p-value for "A is better".
Prints accuracy, balanced accuracy and CATH class accuracy.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from protsteer.tasks.cath import metrics
from protsteer.tasks.cath.labels import class_of


def read_predictions(path: Path) -> tuple[list[str], dict[str, dict[str, tuple[str, str]]]]:
    """``(domains, {model: {domain: (true, predicted)}})`` from a ``per_domain.tsv`` table."""
    by_model: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            by_model[row["model"]][row["domain"]] = (row["true_architecture"], row["pred_architecture"])
    domains = sorted(set.intersection(*(set(rows) for rows in by_model.values())))
    return domains, dict(by_model)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("table", type=Path, help="per_domain.tsv of protsteer evaluate cath")
    parser.add_argument("--a", required=True, help="comma-separated model names of group A")
    parser.add_argument("--b", required=True, help="comma-separated model names of group B")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args()

    domains, by_model = read_predictions(args.table)
    groups = {"A": args.a.split(","), "B": args.b.split(",")}
    missing = [name for names in groups.values() for name in names if name not in by_model]
    if missing:
        sys.exit(f"{args.table}: no model(s) {missing}; the table has {sorted(by_model)}")
    codes = sorted({code for rows in by_model.values() for pair in rows.values() for code in pair})
    index = {code: i for i, code in enumerate(codes)}
    reference = by_model[groups["A"][0]]
    targets = np.array([index[reference[d][0]] for d in domains])
    predictions = {
        name: [np.array([index[by_model[m][d][1]] for d in domains]) for m in names]
        for name, names in groups.items()
    }
    class_codes = [class_of(code) for code in codes]
    statistics = {
        "accuracy": metrics.accuracy,
        "balanced accuracy": lambda t, p: metrics.balanced_accuracy(t, p, len(codes)),
        "CATH class accuracy": lambda t, p: metrics.group_accuracy(t, p, class_codes),
    }
    print(f"{len(domains)} domains; A = {groups['A']}; B = {groups['B']}; {args.resamples} paired resamples")
    for label, statistic in statistics.items():
        r = metrics.paired_difference(
            statistic, targets, predictions["A"], predictions["B"], n_resamples=args.resamples
        )
        print(
            f"{label:<20} A {r['a']:.3f}  B {r['b']:.3f}  A-B {r['difference']:+.3f} "
            f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]  p(A-B <= 0) {r['p_not_better']:.3f}"
        )


if __name__ == "__main__":
    main()
