"""Timings of the SO(3) primitives (printed, not asserted).

Usage: ``python benchmarks/so3_speed.py [--threads 1]``. Prints milliseconds per call of
``wigner_D`` (1000 rotations), ``spherical_harmonics`` (100,000 vectors) and the first (uncached)
``clebsch_gordan`` call, for several orders l, in float32 on the CPU.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from protsteer.so3 import clebsch_gordan, random_rotations, spherical_harmonics, wigner_D


def best_ms(fn, repeats: int = 5) -> float:
    """Best wall time of ``repeats`` calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()} {platform.processor() or ''} threads={args.threads}")
    rotations = random_rotations(1000, generator=torch.Generator().manual_seed(0))
    vectors = torch.randn(100_000, 3, generator=torch.Generator().manual_seed(1))
    print("l\twigner_D_1000_ms\tsph_harm_100k_ms\tclebsch_gordan_first_ms")
    for order in (1, 2, 4, 8):
        d_ms = best_ms(lambda order=order: wigner_D(order, rotations))
        y_ms = best_ms(lambda order=order: spherical_harmonics(order, vectors))
        start = time.perf_counter()
        clebsch_gordan(order, order, order)
        cg_ms = 1000.0 * (time.perf_counter() - start)
        print(f"{order}\t{d_ms:.2f}\t{y_ms:.2f}\t{cg_ms:.2f}")


if __name__ == "__main__":
    main()
