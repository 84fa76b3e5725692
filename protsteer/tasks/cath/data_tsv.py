"""Reader for our ``cath/domains.tsv`` (see ``shared/data/README.md``, "CATH labels").

One row per domain copy in a chain: ``domain_id chain_key file chain segments cath_code class architecture
topology superfamily label_source identity coverage split cath_domain n_residues chain_split``. ``file`` is
relative to the data root (the directory holding ``cath/domains.tsv``); ``split`` is the CATH split (whole
topologies per split); ``cath_domain`` is the S35 representative used to deduplicate copies.
"""

from __future__ import annotations

import csv
from pathlib import Path

from protsteer.errors import ProtsteerError
from protsteer.tasks.cath.labels import architecture_of
from protsteer.tasks.cath.records import SPLITS, DomainRecord, DomainSet

REQUIRED_COLUMNS = ("domain_id", "file", "chain", "segments", "cath_code", "split", "cath_domain")


def find_domains_tsv(data: str | Path) -> tuple[Path, Path]:
    """``(tsv, data_root)`` for ``data`` = a data directory (holding ``cath/domains.tsv``) or the tsv itself.

    The data root is the directory that ``file`` paths are relative to: the tsv's grandparent when the tsv
    sits in a ``cath/`` directory, else its own directory.
    """
    data = Path(data)
    tsv = data / "cath" / "domains.tsv" if data.is_dir() else data
    if not tsv.is_file():
        raise ProtsteerError("no cath/domains.tsv here (give the data directory or the tsv)", data)
    root = tsv.parent.parent if tsv.parent.name == "cath" else tsv.parent
    return tsv, root


def read_domains_tsv(data: str | Path) -> DomainSet:
    """Records of every row of ``domains.tsv`` whose split is train, val or test (without coordinates).

    Raises:
        ProtsteerError: missing columns, a bad CATH code, or a structure file that does not exist.
    """
    tsv, root = find_domains_tsv(data)
    with open(tsv, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ProtsteerError(f"missing columns: {', '.join(missing)}", tsv)
        rows = list(reader)
    records: list[DomainRecord] = []
    for number, row in enumerate(rows, 2):
        if row["split"] not in SPLITS:
            continue
        file = root / row["file"]
        if not file.is_file():
            raise ProtsteerError(f"line {number}: structure file {row['file']} not found under {root}", tsv)
        try:
            architecture = architecture_of(row["cath_code"])
        except ProtsteerError as err:
            raise ProtsteerError(f"line {number}: {err.message}", tsv) from err
        records.append(
            DomainRecord(
                domain_id=row["domain_id"],
                dedup_key=row["cath_domain"],
                architecture=architecture,
                split=row["split"],
                topology=row.get("topology", ""),
                file=file,
                segments=row["segments"],
                chain=row["chain"],
            )
        )
    if not records:
        raise ProtsteerError("no train/val/test rows", tsv)
    return DomainSet(records, source=f"tsv:{tsv}")
