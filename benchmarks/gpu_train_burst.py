"""Train several propensity networks side by side on one GPU inside a fixed time window (a borrowed GPU).

1. Probe: ``benchmarks/train_speed.py`` on CUDA (same batch size and autocast) measures each network's GPU
   samples/s alone (voxelize + network shares; the trainer's workers do the data part in parallel).
2. Fit: each run gets its share of the window (``NAME@SHARE``, default equal), ``max_steps = rate * window *
   efficiency * share / batch``, so that its cosine schedule anneals inside the window (``--time-budget``
   stops it otherwise).
3. Train: all runs start together (``protsteer train propensity``, one process each, the worker processes
   split between them); run directories and logs in ``WORK/<name>/``.
4. Pack: ``OUT/<name>.tar.gz`` holds each run's log, train.json, metrics, best.pt and newest checkpoint
   (few files, as the borrowed machine returns only a few).

    python benchmarks/gpu_train_burst.py --data carry/data --cache /tmp/cache --out $OUT --minutes 6 \
        --run 'fine={"stages": [[8,4,2],[32,16,8],[64,32,16]], "blocks": [0,1,1], "input_downsample": false}'

A run's JSON may also hold ``"init_weights"`` (a weights file or training checkpoint, ``train
--init-weights``: the run starts from those weights with a fresh schedule, e.g. ``propensity-v3`` continued
with ``"init_weights": "models/propensity-v3.pt"`` and its network options) and its own ``"lr"`` (a
continued run wants a lower peak than a fresh one, e.g. 1e-3), ``"arch": "plain"`` (a plain 3D CNN baseline,
``protsteer.networks.PlainCNN3d`` options; ``--common`` applies to steerable runs only) and ``"channels"``
(voxel channels, a list or ``train --channels`` string, e.g. ``"C:backbone,N:backbone,..."``) and
``"orientation"`` (``train --orientation``: ``"random"`` rotations, the default, or ``"local"``, unrotated
environments in the residue's backbone frame as ``predict`` presents them; the fair setting for a plain CNN,
which is not rotation invariant).

Prepare the data with ``benchmarks/carry_training_data.py`` (the checkout travels, ``../shared`` does not).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def probe(
    args: argparse.Namespace, runs: dict[str, dict], archs: dict[str, str], channels: dict[str, str | None]
) -> dict[str, float]:
    """GPU samples/s of each run's network alone (``archs[name]``: steerable or plain) on its own voxel
    channels (``channels[name]``, None: the default spec), via train_speed: one call per channel set."""
    rates = {}
    for index, channel_set in enumerate(dict.fromkeys(channels.values())):
        names = [name for name in runs if channels[name] == channel_set]
        out = args.out / f"train_speed-{index}.json"
        command = [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), "--data", str(args.data)]
        command += ["--cache", str(args.cache), "--device", args.device, "--amp", args.amp]
        command += ["--json", str(out)]
        command += ["--batch-size", str(args.batch_size), "--steps", "6"]
        command += ["--channels", channel_set] if channel_set else []
        for name in names:
            command += ["--arch", f"{archs[name]}:small:" + json.dumps(runs[name])]
        subprocess.run(command, check=True)
        for name, result in zip(names, json.loads(out.read_text()), strict=True):
            shares = result["shares"]
            rates[name] = result["samples_per_s"] / max(shares["voxelize"] + shares["network"], 1e-6)
    return {name: rates[name] for name in runs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="probe results and packed runs")
    parser.add_argument("--work", type=Path, default=Path("runs/burst"), help="run directories")
    parser.add_argument("--minutes", type=float, required=True, help="training window (all runs together)")
    parser.add_argument(
        "--run", action="append", required=True, help="NAME[@SHARE]=JSON network options (SHARE: default 1)"
    )
    parser.add_argument("--device", default="cuda", help="cuda (cpu: a dry run of this script)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--amp", default="bf16", choices=["off", "bf16", "fp16"])
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) - 2, help="in total")
    parser.add_argument("--val-samples", type=int, default=3000, help="as propensity-v2's run")
    parser.add_argument("--ema-decay", type=float, default=0.0, help="train --ema-decay of every run")
    parser.add_argument("--efficiency", type=float, default=0.75, help="expected share of the probed rate")
    parser.add_argument("--common", default='{"band_limit": "conservative", "head_hidden": 128}')
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    common = json.loads(args.common)
    runs, shares, inits, archs, channels, orientations = {}, {}, {}, {}, {}, {}
    for run in args.run:
        label, _, options = run.partition("=")
        name, _, share = label.partition("@")
        options = json.loads(options)
        archs[name] = options.pop("arch", "steerable")
        runs[name] = {**(common if archs[name] == "steerable" else {}), **options}
        shares[name] = float(share or 1.0)
        inits[name] = (runs[name].pop("init_weights", None), runs[name].pop("lr", args.lr))
        chosen = runs[name].pop("channels", None)
        channels[name] = ",".join(chosen) if isinstance(chosen, list) else chosen
        orientations[name] = runs[name].pop("orientation", "random")
    total_share = sum(shares.values())
    started = time.monotonic()
    rates = probe(args, runs, archs, channels)
    window = args.minutes * 60 - (time.monotonic() - started)
    processes = {}
    for name, options in runs.items():
        share = shares[name] / total_share
        steps = int(rates[name] * window * args.efficiency * share / args.batch_size)
        print(f"{name}: {rates[name]:.0f} samples/s alone -> {steps} steps of {args.batch_size}", flush=True)
        command = [sys.executable, str(REPO / "cli.py"), "train", "propensity", "--data", str(args.data)]
        command += ["--cache-dir", str(args.cache), "--out", str(args.work / name), "--device", args.device]
        init_weights, lr = inits[name]
        command += ["--amp", args.amp, "--batch-size", str(args.batch_size), "--lr", str(lr)]
        command += ["--max-steps", str(steps), "--warmup-steps", str(max(10, steps // 12))]
        command += ["--val-every", str(max(1, steps // 4)), "--checkpoint-every", str(max(1, steps // 4))]
        command += ["--workers", str(max(1, args.workers // len(runs))), "--log-every", "50"]
        command += ["--val-samples", str(args.val_samples), "--ema-decay", str(args.ema_decay)]
        command += ["--network-options", json.dumps(options), "--time-budget", f"{window / 60 - 0.2:.2f}"]
        command += ["--arch", archs[name]] + (["--channels", channels[name]] if channels[name] else [])
        command += ["--orientation", orientations[name]]
        if init_weights:
            command += ["--init-weights", init_weights]
        (args.work / name).mkdir(parents=True, exist_ok=True)
        log = open(args.work / name / "train.log", "w")  # noqa: SIM115 - closed when the process ends
        processes[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
    for name, (process, log) in processes.items():
        code = process.wait()
        log.close()
        print(f"{name}: exit {code} after {(time.monotonic() - started) / 60:.1f} min", flush=True)
        run_dir = args.work / name
        checkpoints = sorted((run_dir / "checkpoints").glob("step-*.pt"))
        keep = [run_dir / f for f in ("train.log", "train.json", "metrics.tsv", "metrics.jsonl", "best.pt")]
        with tarfile.open(args.out / f"{name}.tar.gz", "w:gz") as tar:
            for path in keep + checkpoints[-1:]:
                if path.exists():
                    tar.add(path, arcname=str(path.relative_to(args.work)))


if __name__ == "__main__":
    main()
