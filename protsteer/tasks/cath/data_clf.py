"""CATH's own files: a domain list (CLF), domain boundaries, and a directory of structures or dompdb files.

Domain list (``cath-domain-list*.txt``, "CATH List File" format): whitespace-separated, ``#`` comments,
columns ``domain class architecture topology homology S35 S60 S95 S100 S100_count length resolution``;
the domain id is ``<pdb><chain><nn>`` (``1oaiA00``; chain ``0`` = blank chain id).

Boundaries (optional for dompdb directories), one domain per line, ``domain [code] boundaries``:
``1w5sA01 1.10.8.60.24 A.7-16,216-293`` (CATH_Final_List ``with_boundaries`` style: the chain is written once
and applies to the following ranges until another ``X.`` prefix) or ``1w5sA01 A:7-16,A:216-293`` (our
segment syntax). Residue numbers are author numbers, may be negative and may carry an insertion code
(``A.1A-181``).

Structures: a directory searched recursively; for each domain the first file whose name (without
``.gz``/``.pdb``/``.ent``/``.cif``/``.mmcif`` extensions) equals the domain id is a dompdb file (the whole
file is the domain); otherwise a file named after the PDB id (``1oai``, ``pdb1oai``) is cut with the
boundaries. Domains without a file are skipped (logged).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from protsteer.errors import ProtsteerError
from protsteer.io.inputs import structure_stem as io_structure_stem
from protsteer.tasks.cath.labels import architecture_of, topology_of
from protsteer.tasks.cath.records import SPLITS, DomainRecord, DomainSet

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^(-?\d+[A-Za-z]?)-(-?\d+[A-Za-z]?)$")
_DOMAIN_ID = re.compile(r"^[0-9][A-Za-z0-9]{3}[A-Za-z0-9]\d{2}$")


@dataclass(frozen=True)
class ClfEntry:
    """One line of a CATH domain list: ``cath_code`` = C.A.T.H, ``s35_cluster`` = C.A.T.H.S35."""

    domain: str
    cath_code: str
    s35_cluster: str
    length: int


def read_domain_list(path: str | Path) -> dict[str, ClfEntry]:
    """Read a CATH domain list (CLF) file: domain id -> :class:`ClfEntry`.

    Raises:
        ProtsteerError: a non-comment line without the 12 CLF columns of integers.
    """
    path = Path(path)
    entries: dict[str, ClfEntry] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 11 or not all(f.isdigit() for f in fields[1:11]):
                raise ProtsteerError(
                    f"line {number}: not a CATH domain list (CLF) line: {line.strip()!r}", path
                )
            code = ".".join(fields[1:5])
            entries[fields[0]] = ClfEntry(fields[0], code, f"{code}.{fields[5]}", int(fields[10]))
    if not entries:
        raise ProtsteerError("no domains in the CATH domain list", path)
    return entries


def boundaries_to_segments(text: str) -> str:
    """Convert a CATH boundary string to our segment syntax.

    ``"A.7-16,216-293"`` -> ``"A:7-16,A:216-293"``; ``"A:1-5,B:3-9"`` is returned normalised;
    a ``0`` chain (CATH's blank chain) becomes ``_``.

    Raises:
        ProtsteerError: a range without a chain, or a range that is not ``start-end``.
    """
    segments: list[str] = []
    chain = ""
    for part in text.strip().split(","):
        part = part.strip()
        match = re.match(r"^([A-Za-z0-9_])[.:](.*)$", part)
        if match:
            chain, part = match.group(1), match.group(2)
        if not chain:
            raise ProtsteerError(f"boundary range without a chain: {text!r}")
        if not _RANGE.match(part):
            raise ProtsteerError(f"boundary range is not start-end: {part!r} in {text!r}")
        segments.append(f"{'_' if chain == '0' else chain}:{part}")
    return ",".join(segments)


def read_boundaries(path: str | Path) -> dict[str, str]:
    """Read a boundaries file: domain id -> segments in our syntax (``A:7-16,A:216-293``)."""
    path = Path(path)
    result: dict[str, str] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) < 2:
                raise ProtsteerError(f"line {number}: expected 'domain [code] boundaries'", path)
            try:
                result[fields[0]] = boundaries_to_segments(fields[-1])
            except ProtsteerError as err:
                raise ProtsteerError(f"line {number}: {err.message}", path) from err
    return result


def structure_stem(path: Path) -> str:
    """:func:`protsteer.io.inputs.structure_stem` in lower case, also without the old ``.brk`` PDB suffix."""
    stem = io_structure_stem(path).lower()
    return stem[: -len(".brk")] if stem.endswith(".brk") and len(stem) > len(".brk") else stem


def index_structure_files(directory: str | Path) -> dict[str, Path]:
    """Lower-case stem -> file for every file below ``directory`` (first in sorted order wins)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProtsteerError("structure directory does not exist", directory)
    index: dict[str, Path] = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        index.setdefault(structure_stem(file), file)
    return index


def assign_topology_splits(
    topologies: list[str], fractions: tuple[float, float, float] = (0.7, 0.1, 0.2), seed: int = 0
) -> dict[str, str]:
    """Put whole topologies into train/val/test (no topology is shared between splits).

    Topologies are shuffled with ``random.Random(seed)`` and assigned in turn to the split that is furthest
    below its target share of domains (``topologies`` holds one entry per domain, so large topologies count
    more).
    """
    sizes: dict[str, int] = {}
    for t in topologies:
        sizes[t] = sizes.get(t, 0) + 1
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    total = sum(sizes.values())
    filled = dict.fromkeys(SPLITS, 0)
    result: dict[str, str] = {}
    for t in order:
        split = min(SPLITS, key=lambda s: filled[s] / total - fractions[SPLITS.index(s)])
        result[t] = split
        filled[split] += sizes[t]
    return result


def load_clf(
    domain_list: str | Path,
    structures: str | Path,
    boundaries: str | Path | None = None,
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    split_seed: int = 0,
) -> DomainSet:
    """Records for the domains of a CATH domain list that have a structure file.

    Args:
        domain_list: CLF file (labels; ``s35_cluster`` is the dedup key).
        structures: directory of dompdb files (named by domain id) or of whole entries (named by PDB id).
        boundaries: boundaries file; needed for domains found only as whole entries.
        split_fractions: train/val/test shares, assigned by topology (:func:`assign_topology_splits`).
        split_seed: seed of the topology shuffle.

    Raises:
        ProtsteerError: no domain of the list has a usable structure file.
    """
    entries = read_domain_list(domain_list)
    cuts = read_boundaries(boundaries) if boundaries is not None else {}
    files = index_structure_files(structures)
    found: list[tuple[ClfEntry, Path, str, str]] = []
    missing = 0
    for domain, entry in entries.items():
        if domain.lower() in files:
            found.append((entry, files[domain.lower()], "", ""))
            continue
        pdb_id = domain[:4].lower()
        whole = files.get(pdb_id) or files.get(f"pdb{pdb_id}")
        if whole is None or domain not in cuts or not _DOMAIN_ID.match(domain):
            missing += 1
            continue
        chain = "_" if domain[4] == "0" else domain[4]
        found.append((entry, whole, cuts[domain], chain))
    if missing:
        logger.info(
            "%d of %d listed domains have no structure file (or no boundaries); skipped",
            missing,
            len(entries),
        )
    if not found:
        raise ProtsteerError("no listed domain has a structure file (or boundaries) here", structures)
    topologies = [topology_of(entry.cath_code) for entry, *_ in found]
    splits = assign_topology_splits(topologies, split_fractions, split_seed)
    records = [
        DomainRecord(
            domain_id=entry.domain,
            dedup_key=entry.s35_cluster,
            architecture=architecture_of(entry.cath_code),
            split=splits[topology_of(entry.cath_code)],
            topology=topology_of(entry.cath_code),
            file=file,
            segments=segments,
            chain=chain,
        )
        for entry, file, segments, chain in found
    ]
    return DomainSet(records, source=f"clf:{domain_list}")


def _open_text(path: Path):
    try:
        return open(path, encoding="utf-8")
    except OSError as err:
        raise ProtsteerError(f"cannot read file ({err.strerror})", path) from err
