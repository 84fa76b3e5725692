"""How a structure file is cleaned up while it is read: :class:`ReadPolicy`.

Training and inference must read structures with the same policy (the default one unless there is a reason),
because every choice here changes what the environments around a residue contain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from protsteer.errors import ProtsteerError

HeteroPolicy = Literal["cofactors", "all", "metals", "none"]
AltlocPolicy = Literal["occupancy", "first"]
ModelPolicy = Literal["first", "all"] | int

#: Default ceiling on the (uncompressed) size of one structure file, bytes.
DEFAULT_MAX_BYTES = 1 << 30


@dataclass(frozen=True)
class ReadPolicy:
    """Reading and cleanup policy (all defaults are what the shipped models were trained with).

    Attributes:
        model: ``"first"`` (the first model in the file; default), ``"all"`` (every model; the residue table's
            ``model`` column and :attr:`ParsedStructure.atom_model` tell them apart and environments never
            mix models) or an ``int``: the model with that number (``MODEL`` serial / ``pdbx_PDB_model_num``).
        altloc: ``"occupancy"`` (default): per residue, keep the alternative location with the highest mean
            occupancy, ties -> the first one in the file; atoms without an altloc are always kept. Works when
            the altlocs carry different residue names (microheterogeneity): the residue takes the name of the
            chosen conformer. ``"first"``: the first altloc in the file, whatever its occupancy.
        hetero: what happens to atoms that are neither protein residues nor water:
            ``"cofactors"`` (default) keeps metal ions, cofactors, other ligands, sugars and nucleic acids as
            context atoms and strips what gemmi's residue table classes as buffer / crystallisation agents
            (``SO4``, ``GOL``, ``EDO``, ``MPD``, ``CL``, ...; metal ions in that class are kept);
            ``"all"`` keeps every one; ``"metals"`` keeps metal ions only; ``"none"`` keeps protein atoms
            only.
        keep_waters: keep water molecules as context atoms (default False: stripped).
        keep_hydrogens: keep hydrogen and deuterium atoms (default False: stripped; the voxel channels have
            no hydrogen channel and predicted/experimental structures differ in their hydrogens).
        max_bytes: refuse files larger than this (uncompressed), bytes.
    """

    model: ModelPolicy = "first"
    altloc: AltlocPolicy = "occupancy"
    hetero: HeteroPolicy = "cofactors"
    keep_waters: bool = False
    keep_hydrogens: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        model_ok = self.model in ("first", "all") or (
            isinstance(self.model, int) and not isinstance(self.model, bool)
        )
        if not model_ok:
            raise ProtsteerError(f"policy model must be 'first', 'all' or a model number, got {self.model!r}")
        if self.altloc not in ("occupancy", "first"):
            raise ProtsteerError(f"policy altloc must be 'occupancy' or 'first', got {self.altloc!r}")
        if self.hetero not in ("cofactors", "all", "metals", "none"):
            raise ProtsteerError(
                f"policy hetero must be one of cofactors, all, metals, none, got {self.hetero!r}"
            )
        if self.max_bytes <= 0:
            raise ProtsteerError(f"policy max_bytes must be positive, got {self.max_bytes}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for ``run.json`` provenance and model cards)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReadPolicy:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a policy from a newer version)."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProtsteerError(f"unknown read policy fields: {', '.join(sorted(unknown))}")
        return cls(**values)

    def describe(self) -> str:
        """One compact line, e.g. ``model=first;altloc=occupancy;hetero=cofactors;waters=strip;H=strip``."""
        return (
            f"model={self.model};altloc={self.altloc};hetero={self.hetero};"
            f"waters={'keep' if self.keep_waters else 'strip'};H={'keep' if self.keep_hydrogens else 'strip'}"
        )
