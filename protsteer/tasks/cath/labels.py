"""CATH architecture codes, their names, and the choice of a label set.

Architecture codes are strings ``"<class>.<architecture>"`` (``"3.40"``, never ``3.4``); the class is the
first field (``"3"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protsteer.errors import ProtsteerError

#: CATH class number -> name.
CLASS_NAMES: dict[str, str] = {
    "1": "Mainly Alpha",
    "2": "Mainly Beta",
    "3": "Alpha Beta",
    "4": "Few Secondary Structures",
    "6": "Special",
}

#: CATH architecture code -> name (CATH v4.3 architecture names).
ARCHITECTURE_NAMES: dict[str, str] = {
    "1.10": "Orthogonal Bundle",
    "1.20": "Up-down Bundle",
    "1.25": "Alpha Horseshoe",
    "1.40": "Alpha solenoid",
    "1.50": "Alpha/alpha barrel",
    "2.10": "Ribbon",
    "2.20": "Single Sheet",
    "2.30": "Roll",
    "2.40": "Beta Barrel",
    "2.50": "Clam",
    "2.60": "Sandwich",
    "2.70": "Distorted Sandwich",
    "2.80": "Trefoil",
    "2.90": "Orthogonal Prism",
    "2.100": "Aligned Prism",
    "2.102": "3-layer Sandwich",
    "2.105": "3 Propeller",
    "2.110": "4 Propeller",
    "2.115": "5 Propeller",
    "2.120": "6 Propeller",
    "2.130": "7 Propeller",
    "2.140": "8 Propeller",
    "2.150": "2 Solenoid",
    "2.160": "3 Solenoid",
    "2.170": "Beta Complex",
    "2.180": "Shell",
    "3.10": "Roll",
    "3.15": "Super Roll",
    "3.20": "Alpha-Beta Barrel",
    "3.30": "2-Layer Sandwich",
    "3.40": "3-Layer(aba) Sandwich",
    "3.50": "3-Layer(bba) Sandwich",
    "3.55": "3-layer(bab) Sandwich",
    "3.60": "4-Layer Sandwich",
    "3.65": "Alpha-beta prism",
    "3.70": "Box",
    "3.75": "5-stranded propeller",
    "3.80": "Alpha-Beta Horseshoe",
    "3.90": "Alpha-Beta Complex",
    "3.100": "Ribosomal Protein L15; Chain: K; domain 2",
    "4.10": "Irregular",
    "6.10": "Helix non-globular",
    "6.20": "Other non-globular",
}


def architecture_of(cath_code: str) -> str:
    """The architecture code (first two fields) of a CATH code: ``"3.40.50.300"`` -> ``"3.40"``.

    Raises:
        ProtsteerError: the code does not start with two integer fields.
    """
    fields = str(cath_code).strip().split(".")
    if len(fields) < 2 or not all(f.isdigit() for f in fields[:2]):
        raise ProtsteerError(f"not a CATH code with class and architecture: {cath_code!r}")
    return f"{int(fields[0])}.{int(fields[1])}"


def topology_of(cath_code: str) -> str:
    """The topology code (first three fields) of a CATH code: ``"3.40.50.300"`` -> ``"3.40.50"``."""
    fields = str(cath_code).strip().split(".")
    if len(fields) < 3 or not all(f.isdigit() for f in fields[:3]):
        raise ProtsteerError(f"not a CATH code with class, architecture and topology: {cath_code!r}")
    return ".".join(str(int(f)) for f in fields[:3])


def class_of(architecture: str) -> str:
    """The CATH class (first field) of an architecture code: ``"3.40"`` -> ``"3"``."""
    return str(architecture).split(".")[0]


def architecture_name(architecture: str) -> str:
    """The CATH name of an architecture code, or ``""`` when the code is not in :data:`ARCHITECTURE_NAMES`."""
    return ARCHITECTURE_NAMES.get(architecture, "")


def architecture_sort_key(architecture: str) -> tuple[int, ...]:
    """Numeric sort key so that ``"2.60" < "2.100"``."""
    return tuple(int(f) for f in architecture.split("."))


def choose_label_set(train_counts: Mapping[str, int], min_train_domains: int) -> list[str]:
    """The architectures with at least ``min_train_domains`` distinct training domains, in numeric order.

    Args:
        train_counts: architecture -> number of distinct (deduplicated) training domains.
        min_train_domains: the smallest count kept; rarer architectures are dropped from training and
            evaluation (a mixed "other" class would be structurally meaningless).

    Raises:
        ProtsteerError: fewer than two architectures remain.
    """
    labels = sorted((a for a, n in train_counts.items() if n >= min_train_domains), key=architecture_sort_key)
    if len(labels) < 2:
        raise ProtsteerError(
            f"only {len(labels)} architecture(s) have >= {min_train_domains} training domains; "
            "lower --min-train-domains or add data"
        )
    return labels


def count_distinct(pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Count distinct keys per label: ``pairs`` of (label, dedup_key) -> label -> number of distinct keys."""
    seen: dict[str, set[str]] = {}
    for label, key in pairs:
        seen.setdefault(label, set()).add(key)
    return {label: len(keys) for label, keys in seen.items()}
