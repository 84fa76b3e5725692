"""Speed of SteerableConv3d relative to torch.nn.Conv3d (and e3nn's voxel convolution), measured in one run.

Prints ratios (ours / Conv3d with the same channel counts) for train-mode forward, train-mode forward+backward
and eval-mode forward (cached kernel, no autograd). CPU: grid 32^3, batch 4, fields (8, 4, 2) -> (8, 4, 2)
(30 -> 30 channels), kernel 5. CUDA (when present): grid 64^3, batch 8, in float32 and under bf16 autocast.
With --networks it also measures the training throughput of the network presets and the time to build the
bases of a 10-layer network with fields up to l = 3.

It also compares the two algorithms of SteerableConv3d at inference (eval mode, no autograd) on the three
layers of propensity-v3, batch 16: "expanded" (the cached kernel, one conv3d) and "factored" (basis filters,
then mixing), each as a ratio to Conv3d with the same channels, with the factored/expanded multiply-add ratio
that ``algorithm="auto"`` decides on (factored on the CPU at <= 0.35).

Usage:
    python benchmarks/layer_speed.py [--threads 2] [--repeats 7] [--networks] [--no-cuda]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from protsteer.nn import FieldType, SteerableConv3d

FIELDS = FieldType([8, 4, 2])
CUDA_CALLS_PER_SAMPLE = 10


def machine_description() -> str:
    """CPU model name (from /proc/cpuinfo when available) and the number of logical CPUs."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            name = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median wall time (seconds) of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def e3nn_convolution(kernel_size: int) -> nn.Module | None:
    """e3nn's voxel convolution with the same fields (as O(3) irreps), or None when e3nn is missing."""
    try:
        from e3nn import o3
        from e3nn.nn.models.v2104.voxel_convolution import Convolution
    except ImportError:
        return None
    irreps = o3.Irreps("8x0e + 4x1o + 2x2e")
    return Convolution(
        irreps, irreps, o3.Irreps.spherical_harmonics(4), diameter=kernel_size, num_radial_basis=3
    )


def layer_modes(layer: nn.Module, x: torch.Tensor, autocast_dtype: torch.dtype | None) -> dict[str, Callable]:
    """Closures for the three measured modes of one layer."""
    device_type = x.device.type

    def autocast():
        return torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None)

    def train_forward():
        layer.train()
        with autocast():
            return layer(x)

    def train_forward_backward():
        layer.train()
        layer.zero_grad(set_to_none=True)
        with autocast():
            out = layer(x)
        out.float().square().mean().backward()

    def eval_forward():
        layer.eval()
        with torch.inference_mode(), autocast():
            return layer(x)

    return {"train fwd": train_forward, "train fwd+bwd": train_forward_backward, "eval fwd": eval_forward}


def compare_layers(
    device: torch.device,
    grid: int,
    batch: int,
    kernel_size: int,
    autocast_dtype: torch.dtype | None,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Median seconds per call for each layer and mode: ``{layer: {mode: seconds}}``."""
    torch.manual_seed(0)
    x = torch.randn(batch, FIELDS.dim, grid, grid, grid, device=device, requires_grad=True)
    layers: dict[str, nn.Module] = {
        "Conv3d": nn.Conv3d(FIELDS.dim, FIELDS.dim, kernel_size, padding=kernel_size // 2),
        "SteerableConv3d": SteerableConv3d(FIELDS, FIELDS, kernel_size),
    }
    e3nn_layer = e3nn_convolution(kernel_size)
    if e3nn_layer is not None:
        layers["e3nn voxel conv"] = e3nn_layer
    results: dict[str, dict[str, float]] = {name: {} for name in layers}
    closures = {name: layer_modes(layer.to(device), x, autocast_dtype) for name, layer in layers.items()}
    for mode in ("train fwd", "train fwd+bwd", "eval fwd"):
        for name in layers:  # warm-up (fills the eval-mode kernel cache)
            for _ in range(2):
                closures[name][mode]()
        # alternate the layers sample by sample so that load changes on a shared machine hit all of them
        # alike. On CUDA one sample is several calls queued back to back (one synchronisation at the end),
        # as a network runs them: timed one synchronised call at a time, the eval-mode layer (one cudnn call
        # with the cached kernel, as Conv3d) read 1.14x (fp32) / 1.44x (bf16) Conv3d on an H200, while 20
        # queued calls gave 1.00x / 1.01x (docs/nn.md).
        calls = CUDA_CALLS_PER_SAMPLE if device.type == "cuda" else 1
        samples: dict[str, list[float]] = {name: [] for name in layers}
        for _ in range(repeats):
            for name in layers:
                fn = closures[name][mode]
                seconds = time_call(lambda fn=fn, n=calls: [fn() for _ in range(n)], device, 1, warmup=0)
                samples[name].append(seconds / calls)
        for name in layers:
            results[name][mode] = statistics.median(samples[name])
    return results


def print_ratios(title: str, results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Print a table of milliseconds and ratios to Conv3d; return the ratios."""
    print(f"\n{title}")
    modes = list(results["Conv3d"])
    print(f"{'layer':<18}" + "".join(f"{mode + ' ms (ratio)':>26}" for mode in modes))
    ratios: dict[str, dict[str, float]] = {}
    for name, timings in results.items():
        ratios[name] = {mode: timings[mode] / results["Conv3d"][mode] for mode in modes}
        cells = "".join(f"{timings[m] * 1e3:>16.2f} ({ratios[name][m]:5.2f}x)" for m in modes)
        print(f"{name:<18}{cells}")
    return ratios


#: the three steerable layers of propensity-v3: input type, output type (with the gates), grid size
PROPENSITY_V3_LAYERS = [
    (FieldType([5]), FieldType([14, 4, 2]), 21),
    (FieldType([8, 4, 2]), FieldType([56, 16, 8]), 11),
    (FieldType([32, 16, 8]), FieldType([112, 32, 16]), 5),
]


def layer_calls(
    plain: nn.Module, steerable: SteerableConv3d, x: torch.Tensor
) -> dict[str, Callable[[], object]]:
    """Closures: Conv3d, and the steerable layer with each algorithm, on ``x``."""

    def with_algorithm(algorithm: str) -> Callable[[], object]:
        def call() -> object:
            steerable.algorithm = algorithm
            return steerable(x)

        return call

    return {
        "Conv3d": lambda: plain(x),
        "expanded": with_algorithm("expanded"),
        "factored": with_algorithm("factored"),
    }


def compare_algorithms(device: torch.device, batch: int, repeats: int) -> None:
    """Eval-mode forward of each propensity-v3 layer: Conv3d vs SteerableConv3d expanded and factored."""
    print(
        f"\ninference on {device.type}, batch {batch}: propensity-v3's layers, kernel 5 (ms, ratio to Conv3d)"
    )
    print(f"{'layer':<34}{'grid':>6}{'cost':>7}{'Conv3d':>10}{'expanded':>18}{'factored':>18}")
    for in_type, out_type, grid in PROPENSITY_V3_LAYERS:
        torch.manual_seed(0)
        x = torch.randn(batch, in_type.dim, grid, grid, grid, device=device)
        plain = nn.Conv3d(in_type.dim, out_type.dim, 5, padding=2, bias=False).to(device).eval()
        steerable = SteerableConv3d(in_type, out_type, 5, bias=False).to(device).eval()
        calls = layer_calls(plain, steerable, x)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        with torch.inference_mode():
            for fn in calls.values():
                time_call(fn, device, 1)
            for _ in range(repeats):  # alternate, so that load changes on a shared machine hit all alike
                for name, fn in calls.items():
                    samples[name].append(time_call(fn, device, 1, warmup=0))
        ms = {name: statistics.median(times) * 1e3 for name, times in samples.items()}
        cells = "".join(
            f"{ms[name]:>9.1f} ({ms[name] / ms['Conv3d']:5.2f}x)" for name in ("expanded", "factored")
        )
        label = f"{in_type} -> {out_type}".replace("FieldType", "")
        print(f"{label:<34}{grid:>6}{steerable.factored_cost:>7.2f}{ms['Conv3d']:>10.1f}{cells}")


def basis_construction_seconds() -> float:
    """Cold-cache time to build the layers of a 10-layer network with fields (4, 4, 4, 4) (l <= 3), k = 5."""
    from protsteer.nn.basis import clear_basis_cache

    clear_basis_cache()
    start = time.perf_counter()
    types = [FieldType([1])] + [FieldType([4, 4, 4, 4])] * 10
    [SteerableConv3d(a, b, 5) for a, b in zip(types[:-1], types[1:], strict=True)]
    return time.perf_counter() - start


def network_throughput(repeats: int) -> None:
    """Training throughput (environments/s, fwd+bwd+step, batch 32, G = 21, 6 channels) of the presets."""
    from protsteer.networks import PLAIN_PRESETS, build_network, count_parameters

    print("\nnetwork presets: training throughput, batch 32, 6 x 21^3 input, fwd+bwd+SGD step")
    print(f"{'network':<18}{'params':>10}{'env/s':>10}")
    x = torch.randn(32, 6, 21, 21, 21)
    target = torch.randint(0, 20, (32,))
    for arch in ("steerable", "plain"):
        for preset in PLAIN_PRESETS:
            torch.manual_seed(0)
            net = build_network({"arch": arch, "in_channels": 6, "n_outputs": 20, "preset": preset}).train()
            optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)

            def step(net=net, optimizer=optimizer):
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(x), target).backward()
                optimizer.step()

            seconds = time_call(step, torch.device("cpu"), max(2, repeats // 2))
            print(f"{arch + ' ' + preset:<18}{count_parameters(net):>10}{32 / seconds:>10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per mode and layer")
    parser.add_argument(
        "--networks", action="store_true", help="also time the network presets and basis build"
    )
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA measurements")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine_description()}, {args.threads} CPU threads, torch {torch.__version__}")
    cpu = compare_layers(torch.device("cpu"), 32, 4, 5, None, args.repeats)
    print_ratios("CPU float32: grid 32^3, batch 4, fields (8,4,2)->(8,4,2), kernel 5", cpu)
    compare_algorithms(torch.device("cpu"), 16, args.repeats)
    if torch.cuda.is_available() and not args.no_cuda:
        device = torch.device("cuda")
        print(f"\nCUDA device: {torch.cuda.get_device_name(device)}")
        for label, dtype in (("float32", None), ("bf16 autocast", torch.bfloat16)):
            results = compare_layers(device, 64, 8, 5, dtype, args.repeats)
            print_ratios(f"CUDA {label}: grid 64^3, batch 8, fields (8,4,2)->(8,4,2), kernel 5", results)
        compare_algorithms(device, 512, args.repeats)
    else:
        print("\nCUDA: not available (skipped)")
    if args.networks:
        seconds = basis_construction_seconds()
        print(f"\nbasis construction, 10 layers, fields up to l = 3, cold cache: {seconds:.3f} s")
        network_throughput(args.repeats)


if __name__ == "__main__":
    main()
