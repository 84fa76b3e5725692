"""Batch throughput of ``protsteer predict`` on a directory of a few hundred structures: structures/s,
residues/s and peak memory, CPU and (when present) CUDA, compared within the same run with one
``predict`` call per structure (what a shell loop over files would do: no batching across structures).

    python benchmarks/batch_speed.py                       # 300 files of ../shared/data
    python benchmarks/batch_speed.py --files 100 --per-file 10
    python benchmarks/batch_speed.py --weights W.pt DIR

The files are symlinked into a temporary directory and given to ``run_predict`` as one directory input,
exactly like ``protsteer predict DIR -o OUT``. Without ``--weights`` the shipped ``propensity-v1`` is used,
or an untrained stand-in (see ``predict_speed.py``). Peak memory: the resident set of this process and of
its worker processes (``ru_maxrss``), and ``torch.cuda.max_memory_allocated`` on CUDA.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import torch
from predict_speed import DATA, stand_in_weights
from protsteer.models import DEFAULT_WEIGHTS

from protsteer.io.batch import OutputOptions
from protsteer.io.weights import available_weights
from protsteer.tasks.propensity.predict import run_predict
from protsteer.tasks.propensity.runner import BatchRequest


def sample_files(count: int) -> list[Path]:
    """Every k-th structure file of the shared data (sorted by path), ``count`` in all."""
    files = sorted((DATA / "structures").glob("*/*.pdb.gz"))
    step = max(1, len(files) // count)
    return files[::step][:count]


def timed_run(inputs: list[str], outdir: Path, weights: str, device: str, batch_size: int | None) -> tuple:
    request = BatchRequest(
        inputs=inputs,
        outdir=outdir,
        weights=weights,
        device=device,
        batch_size=batch_size,
        output=OutputOptions(),
        progress=False,
        overwrite=True,
    )
    started = time.perf_counter()
    summary = run_predict(request)
    return summary, time.perf_counter() - started


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest finished child."""
    to_mib = 1 / 1024  # ru_maxrss is in KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * to_mib
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * to_mib
    return own, children


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", nargs="?", type=Path, default=None)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--per-file", type=int, default=10, help="files for the one-call-per-file comparison")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.directory is None:
            directory = root / "structures"
            directory.mkdir()
            for path in sample_files(args.files):
                (directory / f"{path.parent.name}__{path.name}").symlink_to(path)
        else:
            directory = args.directory
        files = sorted(p for p in directory.iterdir() if p.is_file())
        default = DEFAULT_WEIGHTS["propensity"]
        weights = args.weights or (default if default in available_weights() else None)
        if weights is None:
            weights = str(stand_in_weights(root, args.preset))
            print(f"no shipped weights: untrained steerable '{args.preset}' stand-in (speed only)")
        print(f"{len(files)} structure files in {directory}")
        for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            summary, seconds = timed_run(
                [str(directory)], root / f"out-{device}", weights, device, args.batch_size
            )
            residues = sum(summary.rows.values())
            batch_rate = residues / seconds
            own, children = peak_rss_mib()
            gpu = (
                f", GPU peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if device == "cuda" else ""
            )
            print(
                f"{device}: {summary.computed} structures ({summary.failed} failed), {residues} residues "
                f"in {seconds:.1f} s = {summary.computed / seconds:.2f} structures/s, "
                f"{batch_rate:.0f} residues/s; "
                f"peak RSS {own:.0f} MiB (main), {children:.0f} MiB (largest worker){gpu}"
            )
            single_residues, single_seconds = 0, 0.0
            for index, path in enumerate(files[: args.per_file]):
                one, spent = timed_run(
                    [str(path)], root / f"one-{device}-{index}", weights, device, args.batch_size
                )
                single_residues += sum(one.rows.values())
                single_seconds += spent
            single_rate = single_residues / single_seconds
            print(
                f"{device}: one call per file ({args.per_file} files): {single_rate:.0f} residues/s; "
                f"batch / per-file = {batch_rate / single_rate:.2f}x"
            )


if __name__ == "__main__":
    main()
