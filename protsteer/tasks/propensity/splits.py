"""The data directory's chain table and splits: which chains (and families) of which files a split holds.

``<data>/chains.tsv`` has one row per protein chain (``chain_key``, ``file``, ``chain``, ``family`` ...);
``<data>/splits/<split>.txt`` lists the chain keys of a split. The chain id ``_`` stands for a blank chain id
in the file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from protsteer.errors import ProtsteerError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitChain:
    """One chain of a split.

    Attributes:
        chain_key: ``<source>/<stem>:<chain>``.
        file: path relative to the data directory.
        chain: author chain id as read from the file (``""`` for a blank id).
        family: family key (the 30 %-identity cluster representative's chain key).
        n_residues: residues with a CA in the chain (from the table).
    """

    chain_key: str
    file: str
    chain: str
    family: str
    n_residues: int


def read_split(data_dir: str | Path, split: str) -> list[SplitChain]:
    """The chains of ``split`` in ``chains.tsv`` order.

    Raises ProtsteerError when the data directory lacks ``chains.tsv`` or the split file, or the split names a
    chain the table does not have.
    """
    data_dir = Path(data_dir)
    table_path = data_dir / "chains.tsv"
    split_path = data_dir / "splits" / f"{split}.txt"
    for path in (table_path, split_path):
        if not path.is_file():
            raise ProtsteerError("not found (is --data a protsteer data directory?)", path)
    keys = [line.strip() for line in split_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    wanted = set(keys)
    chains = []
    with open(table_path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing_columns = {"chain_key", "file", "chain", "family", "n_residues"} - set(
            reader.fieldnames or ()
        )
        if missing_columns:
            raise ProtsteerError(f"missing columns {', '.join(sorted(missing_columns))}", table_path)
        for row in reader:
            if row["chain_key"] in wanted:
                chains.append(
                    SplitChain(
                        chain_key=row["chain_key"],
                        file=row["file"],
                        chain="" if row["chain"] == "_" else row["chain"],
                        family=row["family"],
                        n_residues=int(row["n_residues"]),
                    )
                )
    found = {chain.chain_key for chain in chains}
    if len(found) != len(wanted):
        unknown = sorted(wanted - found)
        raise ProtsteerError(f"{len(unknown)} chain keys not in chains.tsv (first: {unknown[0]})", split_path)
    if not chains:
        raise ProtsteerError("the split is empty", split_path)
    return chains


def chains_by_file(chains: list[SplitChain]) -> dict[str, list[SplitChain]]:
    """Group chains by file (files in first-seen order)."""
    grouped: dict[str, list[SplitChain]] = {}
    for chain in chains:
        grouped.setdefault(chain.file, []).append(chain)
    return grouped
