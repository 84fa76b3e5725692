"""Zero-shot ddG correlation of ``protsteer scan``: Spearman(log_odds, -ddG) per ddG dataset (test split).

    python benchmarks/ddg_spearman.py                        # the default shipped propensity weights
    python benchmarks/ddg_spearman.py --weights W.pt --out ddg_spearman.tsv [--orientations 8]

Rows used: ``structure_split == test`` (rows on train/val structures would measure memorisation), single
mutants (``n_mut == 1``), a structure file present and ``wt_matches_structure == yes``. All test structures
are scanned in one ``run_scan`` call with a mutation list in author numbering (``--numbering author``); rows
whose wild type the scan does not find are dropped and counted. ``ddg_kcal_mol`` is positive =
destabilising and ``log_odds`` positive = the model prefers the mutant, so a good model gives a POSITIVE
Spearman between ``log_odds`` and ``-ddG``.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from protsteer.models import DEFAULT_WEIGHTS

from protsteer.io.batch import OutputOptions
from protsteer.io.inputs import expand_inputs
from protsteer.io.tables import Column, iter_rows, write_table
from protsteer.tasks.propensity.runner import BatchRequest
from protsteer.tasks.propensity.scan import run_scan

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MUTATION_COLUMNS = [Column(name) for name in ("structure_id", "chain", "mutant", "dataset", "ddg", "row")]


def test_rows() -> list[dict]:
    """Single-mutant test-split rows with a structure whose wild type matches, from every ddG table."""
    rows = []
    for table in sorted((DATA / "ddg").glob("*.tsv")):
        with open(table, encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle, delimiter="\t")):
                if (
                    row["structure_split"] == "test"
                    and row["n_mut"] == "1"
                    and row["file"]
                    and row["wt_matches_structure"] == "yes"
                ):
                    rows.append({**row, "row": f"{table.stem}:{number}"})
    return rows


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", default=DEFAULT_WEIGHTS["propensity"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--orientations", type=int, default=1, help="as scan --orientations")
    parser.add_argument("--frame", choices=["local", "input"], default="local", help="as scan --frame")
    parser.add_argument("--out", type=Path, default=None, help="write the per-dataset table here (TSV)")
    args = parser.parse_args()
    rows = test_rows()
    files = sorted({str(DATA / row["file"]) for row in rows})
    ids = {str(item.path): item.structure_id for item in expand_inputs(files).files}
    with tempfile.TemporaryDirectory() as tmp:
        mutations = Path(tmp) / "mutations.tsv"
        write_table(
            mutations,
            MUTATION_COLUMNS,
            [
                {
                    "structure_id": ids[str(DATA / row["file"])],
                    "chain": row["chain"],
                    "mutant": f"{row['wt']}{row['resseq']}{row['icode']}{row['mt']}",
                    "dataset": row["dataset"],
                    "ddg": row["ddg_kcal_mol"],
                    "row": row["row"],
                }
                for row in rows
            ],
        )
        scored = Path(tmp) / "scan.tsv"
        request = BatchRequest(
            inputs=files,
            outdir=Path(tmp) / "scan.work",
            weights=args.weights,
            orientations=args.orientations,
            frame=args.frame,
            device=args.device,
            workers=args.workers,
            output=OutputOptions(target=scored),
        )
        summary = run_scan(request, mutations=mutations, numbering="author")
        print(summary.line())
        results = list(iter_rows(scored))
    by_dataset: dict[str, list[tuple[float, float]]] = defaultdict(list)
    dropped: dict[str, int] = defaultdict(int)
    for result in results:
        if result["scan_status"] == "ok":
            by_dataset[result["dataset"]].append((float(result["log_odds"]), -float(result["ddg"])))
        else:
            dropped[result["dataset"]] += 1
    table = []
    for dataset in sorted(set(by_dataset) | set(dropped)):
        pairs = np.array(by_dataset[dataset])
        rho = spearman(pairs[:, 0], pairs[:, 1]) if len(pairs) > 2 else float("nan")
        table.append({"dataset": dataset, "rows": len(pairs), "dropped": dropped[dataset], "spearman": rho})
    everything = np.array([pair for pairs in by_dataset.values() for pair in pairs])
    table.append(
        {
            "dataset": "all (pooled)",
            "rows": len(everything),
            "dropped": sum(dropped.values()),
            "spearman": spearman(everything[:, 0], everything[:, 1]),
        }
    )
    print("dataset\trows\tdropped\tspearman(log_odds, -ddG)")
    for line in table:
        print(f"{line['dataset']}\t{line['rows']}\t{line['dropped']}\t{line['spearman']:.3f}")
    if args.out:
        columns = [
            Column("dataset"),
            Column("rows", "int"),
            Column("dropped", "int"),
            Column("spearman", "float"),
        ]
        write_table(args.out, columns, table)


if __name__ == "__main__":
    main()
