"""One command to verify the steerable layers on a CUDA machine (and, quickly, on the CPU).

Checks, on every available device: exact equivariance on the 24 cube rotations of a layer stack and of a
SteerableCNN in float32 (<= 1e-5) and under autocast (bf16; fp16 too on CUDA; looser bound), the eval-mode
kernel cache (filled, reused, dropped by parameter updates, train() and device moves), and, on CUDA, the
layer-speed ratios against torch.nn.Conv3d (grid 64^3, batch 8, float32 and bf16 autocast). Prints a summary;
exits 1 if a check fails. Without CUDA it runs the CPU checks and says that CUDA was skipped (exit 0).
Runs in well under 3 minutes on one GPU.

Usage:
    python benchmarks/gpu_check.py [--no-speed]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from layer_speed import compare_layers, machine_description, print_ratios
from torch import nn

from protsteer.networks import SteerableCNN
from protsteer.nn import (
    FieldType,
    GatedNonlinearity,
    LowPassDownsample3d,
    SteerableBatchNorm3d,
    SteerableConv3d,
    check_equivariance,
    gated_type,
)

#: largest acceptable cube-rotation error per precision (autocast: rounding of the half-precision conv)
TOLERANCES = {"float32": 1e-5, "bfloat16": 3e-2, "float16": 5e-3}


def layer_stack() -> tuple[nn.Module, FieldType, FieldType]:
    """Conv -> BN -> gate -> anti-aliased stride 2 -> conv, fields up to l = 2."""
    scalars, fields = FieldType([2]), FieldType([4, 2, 1])
    stack = nn.Sequential(
        SteerableConv3d(scalars, gated_type(fields), 5),
        SteerableBatchNorm3d(gated_type(fields)),
        GatedNonlinearity(fields),
        LowPassDownsample3d(fields),
        SteerableConv3d(fields, fields, 5),
    )
    return stack, scalars, fields


def equivariance_checks(device: torch.device) -> list[tuple[str, bool, str]]:
    """(name, passed, detail) for the layer stack and a network, in float32 and under autocast."""
    torch.manual_seed(0)
    stack, t_in, t_out = layer_stack()
    network = SteerableCNN(2, 5, preset="tiny")
    modules = [("layer stack", stack, t_in, t_out), ("SteerableCNN tiny", network, t_in, FieldType([5]))]
    precisions: list[torch.dtype | None] = [None, torch.bfloat16]
    if device.type == "cuda":
        precisions.append(torch.float16)
    rows = []
    for name, module, a, b in modules:
        for autocast_dtype in precisions:
            label = "float32" if autocast_dtype is None else str(autocast_dtype).removeprefix("torch.")
            report = check_equivariance(
                module,
                a,
                b,
                grid_size=15,
                n_continuous=2,
                dtype=torch.float32,
                device=device,
                autocast_dtype=autocast_dtype,
            )
            ok = report.cube_max <= TOLERANCES[label]
            detail = (
                f"cube max {report.cube_max:.1e} (<= {TOLERANCES[label]:.0e}), "
                f"continuous {report.continuous_mean:.1e}"
            )
            rows.append((f"{device.type} {name} {label}", ok, detail))
    return rows


def cache_checks(device: torch.device) -> list[tuple[str, bool, str]]:
    """The eval-mode kernel cache on ``device``: filled, reused, invalidated."""
    t = FieldType([4, 2, 1])
    conv = SteerableConv3d(t, t, 5).to(device).eval()
    x = torch.randn(2, t.dim, 9, 9, 9, device=device)
    rows = []
    with torch.no_grad():
        first = conv(x)
        cached = conv.cached_kernel
        rows.append(
            ("cache filled in eval mode", cached is not None and cached.device.type == device.type, "")
        )
        conv(x)
        rows.append(("cache reused", conv.cached_kernel is cached, ""))
        conv.weight.add_(0.1)
        second = conv(x)
        rows.append(("cache dropped by in-place update", conv.cached_kernel is not cached, ""))
        rows.append(("output follows the update", not torch.allclose(first, second), ""))
        with torch.autocast(device.type, dtype=torch.bfloat16):
            low = conv(x)
        rows.append(("autocast keyed separately", low.dtype == torch.bfloat16, f"dtype {low.dtype}"))
    conv.train()
    rows.append(("cache dropped by train()", conv.cached_kernel is None, ""))
    conv.eval()
    with torch.no_grad():
        conv(x)
    conv.to("cpu")
    rows.append(("cache dropped by .to()", conv.cached_kernel is None, ""))
    return [(f"{device.type} {name}", ok, detail) for name, ok, detail in rows]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the CUDA layer-speed ratios")
    parser.add_argument("--repeats", type=int, default=6, help="timed calls per layer and mode (speed)")
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"torch {torch.__version__}; CPU: {machine_description()}")
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    else:
        print("CUDA: not available; CUDA checks skipped")
    rows = []
    for device in devices:
        rows += equivariance_checks(device) + cache_checks(device)
    print(f"\n{'check':<52} result  detail")
    for name, ok, detail in rows:
        print(f"{name:<52} {'ok' if ok else 'FAIL':<7} {detail}")
    if torch.cuda.is_available() and not args.no_speed:
        device = torch.device("cuda")
        for label, dtype in (("float32", None), ("bf16 autocast", torch.bfloat16)):
            results = compare_layers(device, 64, 8, 5, dtype, args.repeats)
            print_ratios(f"CUDA {label}: grid 64^3, batch 8, fields (8,4,2)->(8,4,2), kernel 5", results)
    failed = [name for name, ok, _ in rows if not ok]
    print(f"\n{len(rows) - len(failed)}/{len(rows)} checks passed in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
