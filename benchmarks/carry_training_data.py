"""Pack the parsed training structures into one compact file, and unpack it into a structure cache elsewhere.

A borrowed GPU machine gets only the checkout (a few tens of MiB), not ``../shared/data``. ``pack`` writes the
chain table, the split files and the cached arrays of the chosen splits' structures
(:mod:`protsteer.tasks.propensity.cache`) into ``OUT/`` (``chains.tsv``, ``splits/``, ``structures.npz``);
coordinates are stored as 0.01 Angstrom steps from each file's minimum (uint16, at most 0.005 Angstrom off),
atom names as indices into a vocabulary. ``unpack`` rebuilds the per-file cache there, so that
``protsteer train propensity --data OUT --cache-dir CACHE`` runs without the structure files.

    python benchmarks/carry_training_data.py pack --data ../shared/data --cache runs/cache --out carry/data
    python benchmarks/carry_training_data.py unpack --pack carry/data --cache /tmp/cache

The train and val splits (943 + 131 files) pack into about 25 MiB.
"""

from __future__ import annotations

import argparse
import io
import shutil
from pathlib import Path

import numpy as np

from protsteer.io.atomic import atomic_write_bytes
from protsteer.structure.policy import ReadPolicy
from protsteer.tasks.propensity.cache import (
    ATOM_ARRAYS,
    RESIDUE_ARRAYS,
    StructureStore,
    build_cache,
    cache_root,
    cached_path,
    write_cache_policy,
    write_cached_arrays,
)
from protsteer.tasks.propensity.splits import read_split

STEP = 0.01  # Angstrom per coordinate step
PACKED_FILE = "structures.npz"


def pack(data_dir: Path, cache_dir: Path, out: Path, splits: list[str], workers: int) -> None:
    """Write ``out/{chains.tsv, splits/, structures.npz}`` for the files of ``splits``."""
    policy = ReadPolicy()
    files = sorted({chain.file for split in splits for chain in read_split(data_dir, split)})
    root, errors = build_cache(data_dir, files, cache_dir, policy, workers)
    files = [f for f in files if f not in errors]
    store = StructureStore.load(root, files)
    low = np.stack([store.coords[store.atoms_of(f)].min(axis=0) for f in range(len(files))])
    atom_file = np.repeat(np.arange(len(files)), np.diff(store.atom_offsets))
    steps = np.rint((store.coords - low[atom_file]) / STEP)
    if steps.max() > np.iinfo(np.uint16).max:
        raise SystemExit("a structure spans more than 655 Angstrom; cannot pack it as uint16 steps")
    names, name_index = np.unique(store.atom_name, return_inverse=True)
    arrays = {
        "files": np.asarray(files),
        "atom_offsets": store.atom_offsets,
        "residue_offsets": store.residue_offsets,
        "low": low.astype(np.float32),
        "coord_steps": steps.astype(np.uint16),
        "atom_names": names,
        "atom_name_index": name_index.astype(np.uint16),
        **{
            key: getattr(store, key)
            for key in ATOM_ARRAYS + RESIDUE_ARRAYS
            if key not in ("coords", "atom_name")
        },
    }
    (out / "splits").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_dir / "chains.tsv", out / "chains.tsv")
    for split in splits:
        shutil.copyfile(data_dir / "splits" / f"{split}.txt", out / "splits" / f"{split}.txt")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out / PACKED_FILE, buffer.getvalue())
    print(f"packed {len(files)} files, {len(store.coords)} atoms: {len(buffer.getvalue()) / 2**20:.1f} MiB")


def unpack(pack_dir: Path, cache_dir: Path) -> None:
    """Rebuild the per-file structure cache of ``pack_dir/structures.npz`` under ``cache_dir``."""
    root = cache_root(cache_dir, ReadPolicy())
    with np.load(pack_dir / PACKED_FILE) as packed:
        arrays = {key: packed[key] for key in packed.files}
    atoms, residues = arrays["atom_offsets"], arrays["residue_offsets"]
    for f, name in enumerate(arrays["files"]):
        a, r = slice(atoms[f], atoms[f + 1]), slice(residues[f], residues[f + 1])
        item = {key: arrays[key][a] for key in ATOM_ARRAYS if key not in ("coords", "atom_name")}
        item |= {key: arrays[key][r] for key in RESIDUE_ARRAYS}
        item["coords"] = (arrays["coord_steps"][a].astype(np.float32) * STEP + arrays["low"][f]).astype(
            np.float32
        )
        item["atom_name"] = arrays["atom_names"][arrays["atom_name_index"][a]]
        write_cached_arrays(cached_path(root, str(name)), item)
    write_cache_policy(root, ReadPolicy())
    print(f"unpacked {len(arrays['files'])} files into {root}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pack_parser = commands.add_parser("pack")
    pack_parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    pack_parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    pack_parser.add_argument("--out", type=Path, required=True)
    pack_parser.add_argument("--splits", default="train,val")
    pack_parser.add_argument("--workers", type=int, default=2)
    unpack_parser = commands.add_parser("unpack")
    unpack_parser.add_argument("--pack", type=Path, required=True)
    unpack_parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.data, args.cache, args.out, args.splits.split(","), args.workers)
    else:
        unpack(args.pack, args.cache)


if __name__ == "__main__":
    main()
