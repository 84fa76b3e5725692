"""Featurization throughput: parse + residue environments + voxelization (residues/s), CPU and CUDA.

    python benchmarks/featurize_speed.py                  # 5 largest files of ../shared/data
    python benchmarks/featurize_speed.py --workers 2 --largest 8
    python benchmarks/featurize_speed.py FILE...          # given files

End to end = read_structure + residue_environments + voxelize of every residue, in batches (what training
and prediction do), for plain grids and for rotated grids (training: ``rotatable=True`` environments +
random rotations). Reported per stage for one process (wall clock and per CPU-second, the latter robust to
other load on the machine) and end to end with ``--workers`` processes of one thread each (how a data
loader uses the cores). With CUDA, voxelization alone is timed on the GPU (inputs already on the device).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from protsteer.so3 import random_rotations
from protsteer.structure import read_structure
from protsteer.voxel import RESIDUE_SPEC, residue_environments, voxelize

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "structures"


def largest_files(count: int) -> list[Path]:
    files = sorted(SHARED.glob("*/*.pdb.gz"), key=lambda p: p.stat().st_size, reverse=True)
    return files[:count]


def featurize(path: Path, batch_size: int, rotated: bool) -> dict[str, float]:
    """Wall and CPU seconds per stage for one file, and its residue count."""
    clock, cpu = time.perf_counter, time.process_time
    wall0, cpu0 = clock(), cpu()
    structure = read_structure(path)
    wall1, cpu1 = clock(), cpu()
    envs = residue_environments(structure, RESIDUE_SPEC, rotatable=rotated)
    wall2, cpu2 = clock(), cpu()
    for first in range(0, envs.n_env, batch_size):
        batch = envs.select(np.arange(first, min(first + batch_size, envs.n_env)))
        grids = batch.voxelize(random_rotations(batch.n_env) if rotated else None)
        assert grids.shape[0] == batch.n_env
    wall3, cpu3 = clock(), cpu()
    return {
        "residues": structure.n_residues,
        "atoms": structure.n_atoms,
        "entries_per_env": len(envs.coords) / max(envs.n_env, 1),
        "parse_s": wall1 - wall0,
        "environments_s": wall2 - wall1,
        "voxelize_s": wall3 - wall2,
        "parse_cpu_s": cpu1 - cpu0,
        "environments_cpu_s": cpu2 - cpu1,
        "voxelize_cpu_s": cpu3 - cpu2,
    }


def _worker(job: tuple[Path, int, bool]) -> dict[str, float]:
    torch.set_num_threads(1)
    return featurize(*job)


def parallel_end_to_end(files: list[Path], batch_size: int, rotated: bool, workers: int) -> tuple[int, float]:
    """(residues, wall seconds) for featurizing every file with ``workers`` processes of 1 thread each."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        pool.map(_worker, [(files[-1], batch_size, rotated)] * workers)  # start-up and imports
        start = time.perf_counter()
        results = pool.map(_worker, [(path, batch_size, rotated) for path in files], chunksize=1)
        seconds = time.perf_counter() - start
    return sum(int(r["residues"]) for r in results), seconds


def cuda_voxelize(path: Path, batch_size: int, repeats: int) -> dict[str, float]:
    """Environments/s of voxelize alone on CUDA (rotated, rotatable environments)."""
    envs = residue_environments(read_structure(path), RESIDUE_SPEC, rotatable=True)
    batch = envs.select(np.arange(batch_size) % envs.n_env)
    device = torch.device("cuda")
    coords = torch.from_numpy(batch.coords).to(device)
    channel = torch.from_numpy(batch.channel).to(device)
    env_index = torch.from_numpy(batch.env_index).to(device)
    rotations = random_rotations(batch.n_env).to(device)
    voxelize(coords, channel, env_index, batch.n_env, RESIDUE_SPEC, rotations)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        voxelize(coords, channel, env_index, batch.n_env, RESIDUE_SPEC, rotations)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "envs_per_s": repeats * batch.n_env / seconds,
        "batch": batch.n_env,
        "entries_per_env": len(batch.coords) / batch.n_env,
        "device": torch.cuda.get_device_name(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--largest", type=int, default=5, help="Use the N largest files of ../shared/data.")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (one process).")
    parser.add_argument("--workers", type=int, default=2, help="Processes for the parallel end-to-end run.")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cuda-batch-size", type=int, default=4096)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = args.files or largest_files(args.largest)
    report: dict[str, object] = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "threads": args.threads,
        "files": [str(f) for f in files],
    }
    print(
        f"featurize_speed: {len(files)} files, torch threads {args.threads}, batch {args.batch_size}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for rotated in (False, True):
        mode = "rotated (training)" if rotated else "plain (inference)"
        keys = (
            "parse_s",
            "environments_s",
            "voxelize_s",
            "parse_cpu_s",
            "environments_cpu_s",
            "voxelize_cpu_s",
        )
        totals = dict.fromkeys(keys, 0.0)
        residues = 0
        for path in files:
            figures = featurize(path, args.batch_size, rotated)
            residues += int(figures["residues"])
            for key in keys:
                totals[key] += figures[key]
            print(
                f"  {path.name:28s} {figures['residues']:6.0f} residues {figures['atoms']:7.0f} atoms "
                f"{figures['entries_per_env']:6.0f} entries/env  wall: parse {figures['parse_s']:.2f}s "
                f"env {figures['environments_s']:.2f}s voxelize {figures['voxelize_s']:.2f}s"
            )
        stages = ("parse", "environments", "voxelize")
        wall = {stage: residues / totals[f"{stage}_s"] for stage in stages}
        per_cpu = {stage: residues / totals[f"{stage}_cpu_s"] for stage in stages}
        wall["end_to_end"] = residues / sum(totals[f"{stage}_s"] for stage in stages)
        per_cpu["end_to_end"] = residues / sum(totals[f"{stage}_cpu_s"] for stage in stages)
        entry: dict[str, object] = {
            "residues": residues,
            "residues_per_s": wall,
            "residues_per_cpu_s": per_cpu,
        }
        print(f"{mode}, one process: residues/s (wall) " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items()))
        print(
            f"{mode}, one process: residues per CPU-second "
            + ", ".join(f"{k} {v:.0f}" for k, v in per_cpu.items())
        )
        if args.workers > 1:
            count, seconds = parallel_end_to_end(files, args.batch_size, rotated, args.workers)
            entry["parallel"] = {"workers": args.workers, "residues_per_s": count / seconds}
            print(
                f"{mode}, {args.workers} worker processes: END TO END {count / seconds:.0f} residues/s (wall)"
            )
        report[mode] = entry
    if torch.cuda.is_available():
        figures = cuda_voxelize(files[0], args.cuda_batch_size, repeats=20)
        report["cuda_voxelize"] = figures
        print(
            f"CUDA voxelize ({figures['device']}): {figures['envs_per_s']:.0f} environments/s "
            f"(batch {figures['batch']}, {figures['entries_per_env']:.0f} entries/env, rotated)"
        )
    else:
        print("CUDA: not available")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
