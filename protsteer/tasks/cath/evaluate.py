"""``protsteer evaluate cath``: accuracy tables of CATH weights (and baselines) on one split.

Every model sees the same domains, each rotated by the same seeded Haar-random rotation (``frame="input"``,
the expected accuracy over orientations) or each on its principal axes (``frame="local"``, what ``predict``
does by default). Copies of a
domain are merged by averaging probabilities (:mod:`.summary`). The majority-class baseline predicts the
architecture with the most distinct training domains.

Tables written to the output directory:

- ``summary.tsv``: one row per model and one for the majority baseline: n_domains, n_rows, accuracy with
  a bootstrap 95% CI, balanced accuracy with CI, CATH-class accuracy;
- ``per_architecture.tsv``: model, architecture, name, support, predicted, recall, precision;
- ``confusion_<model>.tsv``: true architecture x predicted architecture counts (distinct domains);
- ``per_domain.tsv``: model, domain, true and predicted architecture, p_pred, correct.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from protsteer.io.tables import Column, write_table
from protsteer.so3 import orientation_set
from protsteer.tasks.cath.metrics import majority_class
from protsteer.tasks.cath.records import DomainSet
from protsteer.tasks.cath.summary import CathEvaluation, constant_prediction, deduplicate
from protsteer.tasks.cath.task import DomainAtomsDataset, collate_domains, domain_grids
from protsteer.tasks.collect import collect_outputs
from protsteer.voxel import VoxelSpec

logger = logging.getLogger(__name__)

MAJORITY = "majority_class"
SUMMARY_COLUMNS = [
    Column("model"),
    Column("n_domains", "int"),
    Column("n_rows", "int"),
    Column("accuracy", "float"),
    Column("accuracy_ci_low", "float"),
    Column("accuracy_ci_high", "float"),
    Column("balanced_accuracy", "float"),
    Column("balanced_accuracy_ci_low", "float"),
    Column("balanced_accuracy_ci_high", "float"),
    Column("class_accuracy", "float"),
]
PER_ARCHITECTURE_COLUMNS = [
    Column("model"),
    Column("architecture"),
    Column("name"),
    Column("support", "int"),
    Column("predicted", "int"),
    Column("recall", "float"),
    Column("precision", "float"),
]
PER_DOMAIN_COLUMNS = [
    Column("model"),
    Column("domain"),
    Column("true_architecture"),
    Column("pred_architecture"),
    Column("p_pred", "float"),
    Column("correct", "int"),
]


def evaluate_model(
    model: torch.nn.Module,
    labels: list[str],
    spec: VoxelSpec,
    domains: DomainSet,
    device: torch.device,
    batch_size: int = 16,
    seed: int = 0,
    orientations: int = 1,
    frame: str = "input",
) -> CathEvaluation:
    """Probabilities of ``model`` on ``domains`` (loaded for ``spec``; architectures outside ``labels`` are
    left out), merged per distinct domain; with ``orientations`` > 1 averaged over the orientations of
    :func:`protsteer.so3.orientation_set` applied after each domain's random rotation (``frame="input"``)
    or principal-axes frame (``frame="local"``), as ``predict``."""
    kept = domains.with_labels(labels)
    dataset = DomainAtomsDataset(kept, labels, frame)
    runs = []
    for orientation in orientation_set(orientations):
        generator = torch.Generator().manual_seed(seed) if frame == "input" else None

        def prepare(batch, target, g=generator, r=orientation) -> tuple[torch.Tensor, torch.Tensor]:
            return domain_grids(batch, spec, target, g, r), batch["targets"].to(target)

        runs.append(collect_outputs(model, dataset, collate_domains, prepare, device, batch_size=batch_size))
    probabilities = torch.stack([torch.softmax(logits.double(), dim=1) for logits, _ in runs]).mean(dim=0)
    targets = runs[0][1]
    return deduplicate(probabilities.numpy(), targets.numpy(), [r.dedup_key for r in kept.records], labels)


def majority_baseline(reference: CathEvaluation, train: DomainSet) -> CathEvaluation:
    """The majority-class baseline on ``reference``'s domains (majority of distinct training domains)."""
    labels = reference.labels
    index = {label: i for i, label in enumerate(labels)}
    distinct = {(r.dedup_key, r.architecture) for r in train.records if r.architecture in index}
    counts = Counter(a for _, a in distinct)
    train_targets = np.array([index[a] for a, n in counts.items() for _ in range(n)], dtype=np.int64)
    return constant_prediction(reference, majority_class(train_targets, len(labels)))


def write_evaluation(
    out_dir: Path, evaluations: dict[str, CathEvaluation], n_bootstrap: int = 2000, seed: int = 0
) -> list[dict[str, Any]]:
    """Write the tables of the module docstring; returns the summary rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_rows, architecture_rows, domain_rows = [], [], []
    for name, evaluation in evaluations.items():
        summary_rows.append({"model": name, **evaluation.summary(n_bootstrap, seed)})
        architecture_rows += [{"model": name, **row} for row in evaluation.per_architecture()]
        domain_rows += [{"model": name, **row} for row in evaluation.per_domain()]
        if name != MAJORITY:
            labels = evaluation.labels
            write_table(
                out_dir / f"confusion_{name}.tsv",
                [Column("true")] + [Column(f"pred_{label}", "int") for label in labels],
                evaluation.confusion_rows(),
            )
    write_table(out_dir / "summary.tsv", SUMMARY_COLUMNS, summary_rows)
    write_table(out_dir / "per_architecture.tsv", PER_ARCHITECTURE_COLUMNS, architecture_rows)
    write_table(out_dir / "per_domain.tsv", PER_DOMAIN_COLUMNS, domain_rows)
    return summary_rows
