"""Training throughput of the propensity task: samples/s of one optimizer step, split into data / voxelize /
network (forward + backward + AdamW), for network presets side by side in one run.

    python benchmarks/train_speed.py --data ../shared/data --cache runs/cache --threads 1 \
        --arch steerable:small --arch plain:small --batch-size 32 --steps 5
    python benchmarks/train_speed.py --device cuda --amp bf16 --batch-size 256 --arch 'steerable:base'

Prints one line per configuration with the parameter count and samples/s, and the ratios to the first one.
On CUDA the "data" share is what the trainer's worker processes do in parallel (atom selection, CPU); the
"voxelize" and "network" shares are GPU time (synchronised).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from protsteer.networks import build_network, count_parameters
from protsteer.tasks.propensity.data import EnvironmentDataset, collate_environments
from protsteer.tasks.propensity.task import PropensityData, environment_grids, load_split
from protsteer.voxel import RESIDUE_SPEC


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--split", default="val", help="split to draw samples from (default val: small)")
    parser.add_argument(
        "--arch", action="append", help="ARCH:PRESET[:JSON overrides], repeatable (default steerable:small)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--amp", default="off", choices=["off", "bf16", "fp16"], help="autocast (CUDA)")
    parser.add_argument(
        "--channels",
        default=",".join(RESIDUE_SPEC.channels),
        help="comma-separated voxel channels, as `train propensity --channels` (default: RESIDUE_SPEC's)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    channels = tuple(name.strip() for name in args.channels.split(",") if name.strip())
    spec = dataclasses.replace(RESIDUE_SPEC, channels=channels)
    device = torch.device(args.device)
    amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    torch.backends.cudnn.benchmark = device.type == "cuda"  # as the trainer

    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    store, samples = load_split(PropensityData(args.data, args.cache), args.split)
    dataset = EnvironmentDataset(store, samples, spec)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    baseline = None
    results = []
    print(
        f"torch {torch.__version__}, {device} (amp {args.amp}), {args.threads} thread(s), "
        f"batch {args.batch_size}, grid "
        f"{spec.grid_size}^3 x {spec.n_channels} channels ({args.channels})"
    )
    for arch_spec in args.arch or ["steerable:small"]:
        arch, _, rest = arch_spec.partition(":")
        preset, _, overrides = rest.partition(":")
        model = build_network(
            {
                "arch": arch,
                "preset": preset or "small",
                **json.loads(overrides or "{}"),
                "in_channels": spec.n_channels,
                "n_outputs": 20,
            }
        ).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        times = {"data": 0.0, "voxelize": 0.0, "network": 0.0}
        for step in range(args.steps + 1):  # step 0 warms up
            t0 = now()
            batch = collate_environments(
                [dataset[int(i)] for i in rng.integers(len(dataset), size=args.batch_size)]
            )
            t1 = now()
            grids, labels = environment_grids(batch, spec, device, generator)
            t2 = now()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(grids), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            t3 = now()
            if step:
                for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    times[key] += value
        total = sum(times.values())
        rate = args.steps * args.batch_size / total
        baseline = baseline or rate
        split = " ".join(f"{k} {v / total:.0%}" for k, v in times.items())
        results.append(
            {
                "arch": arch_spec,
                "channels": list(spec.channels),
                "parameters": count_parameters(model),
                "samples_per_s": rate,
                "shares": {k: v / total for k, v in times.items()},
            }
        )
        print(
            f"{arch_spec:20s} params {count_parameters(model):>9,d}  {rate:7.1f} samples/s  "
            f"({rate / baseline:.2f}x first)  [{split}]"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
