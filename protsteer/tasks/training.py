"""The one training loop shared by every task (propensity, cath).

Protocol
========
A task is any object with the attributes and methods of :class:`TrainingTask`:

``name``
    ``"propensity"`` or ``"cath"`` (stored in checkpoints; resuming a run of another task is an error).
``selection_metric``, ``selection_mode``
    the key of :meth:`~TrainingTask.metrics` used for best-on-val selection and ``"max"`` or ``"min"``.
``build_model() -> torch.nn.Module``
    a fresh network (usually ``protsteer.networks.build_network(config)``); the loop seeds torch before
    calling it, so every DDP rank starts from the same weights. ``model.config`` (a JSON-serialisable
    dict), when present, is stored in checkpoints and must match on ``--resume``.
``train_dataset() -> torch.utils.data.Dataset``
    map-style; ``dataset[i]`` must be deterministic (no randomness in workers: all randomness is drawn in the
    main process from the per-step generator, which is what makes resume exact).
``train_weights() -> numpy.ndarray | None``
    per-item sampling weights ``[len(train_dataset)]`` (e.g. family-aware), ``None`` for uniform. Each epoch
    draws ``samples_per_epoch`` items with replacement from these weights.
``samples_per_epoch() -> int``
    global number of samples per epoch (all ranks together).
``val_dataset() -> torch.utils.data.Dataset``
    map-style, a fixed subset, iterated in order.
``collate(items: list) -> batch``
    runs in DataLoader worker processes (picklable, CPU only): e.g. atom lists + labels, no voxelization.
``prepare_batch(batch, device, generator) -> (inputs, targets)``
    runs in the main process: moves the batch to ``device`` and builds network inputs
    ``[B, C, G, G, G]`` (voxelization with random rotations on the device is fastest there) and targets
    ``[B]`` (int64 class indices). ``generator`` is a CPU ``torch.Generator`` seeded from
    ``(seed, step, rank)`` during training (draw augmentation from it, never from the global RNG) and a
    generator with a fixed seed during validation, so every validation sees the same inputs.
``loss(logits, targets) -> scalar tensor``
    mean over the batch (DDP averages gradients over ranks; mean-of-means equals the global mean).
``metrics(logits, targets) -> dict[str, float]``
    over the whole val set: ``logits [N, K]`` float32 on CPU, ``targets [N]``.
``describe() -> dict``
    JSON-serialisable provenance written to ``train.json`` and into every checkpoint; must hold ``labels``
    (class names in logit order), ``voxel_spec`` and ``read_policy`` (dicts) for weights files
    (:func:`protsteer.tasks.export.export_ensemble_weights`).

Run directory
=============
``train.json`` (configuration + ``task.describe()``), ``metrics.jsonl`` and ``metrics.tsv`` (one row per
validation: step, epoch, samples, lr, train_loss, the task's metrics, elapsed_s, best), ``checkpoints/
step-XXXXXXXX.pt`` (the last ``keep_checkpoints``; model + optimizer + scheduler + grad scaler + RNG states +
step + the weight average if ``ema_decay``, written atomically), ``best.pt`` (the model state with the best
validation metric, its metrics and step), ``train.log`` (protsteer's log records at info level and up, with
timestamps, appended by every run and resume of the directory). A checkpoint is also written after every
validation. ``--resume``
loads the newest checkpoint and continues exactly where it stopped: the sampler position is a function of the
step, the augmentation generator of (seed, step, rank), the train-loss window and the global RNG state are
restored, so an interrupted and resumed run reproduces the uninterrupted run (same batch size and world size).

Stopping
========
``max_steps`` or ``epochs`` fix the number of steps (and the span of the LR schedule); ``time_budget_min``
stops earlier, cleanly, with a checkpoint (the budget counts from the start of this process). SIGTERM and
SIGINT do the same: finish the current step, write a checkpoint, return with ``stopped="interrupted"``.

Distributed
===========
Launched with ``torchrun`` (``WORLD_SIZE > 1`` in the environment) the loop initialises the process group
(nccl on CUDA, gloo on CPU), wraps the model in ``DistributedDataParallel``, gives each rank every
``world_size``-th sample of the epoch's draw (``batch_size`` is per rank), validates and writes files on
rank 0 only, and agrees on stopping with an all-reduce of the stop flags every step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import random
import signal
import time
from collections.abc import Iterator, Sized
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_open, atomic_write_text
from protsteer.tasks.collect import collect_outputs
from protsteer.tasks.device import resolve_device
from protsteer.tasks.ema import WeightAverage
from protsteer.tasks.precision import autocast, autocast_dtype
from protsteer.tasks.run_files import CHECKPOINT_FORMAT, MetricsLog, checkpoint_paths, load_checkpoint
from protsteer.tasks.sampling import EpochBatchSampler, derive_seed

logger = logging.getLogger(__name__)

SCHEDULES = ("cosine", "onecycle", "constant")
AMP_MODES = ("off", "bf16", "fp16")


class TrainingTask(Protocol):
    """What a task supplies to :func:`train` (see the module docstring for the contract of each member)."""

    name: str
    selection_metric: str
    selection_mode: str

    def build_model(self) -> torch.nn.Module: ...

    def train_dataset(self) -> Dataset: ...

    def train_weights(self) -> np.ndarray | None: ...

    def samples_per_epoch(self) -> int: ...

    def val_dataset(self) -> Dataset: ...

    def collate(self, items: list) -> Any: ...

    def prepare_batch(
        self, batch: Any, device: torch.device, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]: ...

    def describe(self) -> dict: ...


@dataclasses.dataclass
class TrainConfig:
    """Options of one training run (the CLI maps its flags onto these fields).

    Attributes:
        out_dir: run directory (created).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (under torchrun CUDA ranks use ``cuda:LOCAL_RANK``).
        amp: ``off``, ``bf16`` (CUDA or CPU) or ``fp16`` (CUDA; float32 with a warning on a CPU) autocast.
        threads: torch intra-op threads (``None``: leave torch's default).
        workers: DataLoader worker processes (0 = load in the main process).
        seed: seeds model init, sampling and augmentation.
        batch_size: samples per step per rank.
        val_batch_size: samples per validation batch (``None``: ``2 * batch_size``).
        lr, weight_decay: AdamW.
        schedule: ``cosine`` (linear warmup then cosine to ``min_lr_ratio * lr``), ``onecycle``, ``constant``.
        warmup_steps: linear warmup length for ``cosine``/``constant``.
        min_lr_ratio: final LR of the cosine schedule relative to ``lr``.
        grad_clip: max global gradient norm (``None``/0: no clipping).
        max_steps: total optimizer steps (takes precedence over ``epochs``).
        epochs: total epochs of ``samples_per_epoch`` samples.
        time_budget_min: stop cleanly (with a checkpoint) after this many minutes of this process.
        val_every: validate every this many steps (``None``: once per epoch) and at the end.
        checkpoint_every: write a checkpoint every this many steps ...
        checkpoint_minutes: ... and at least every this many minutes.
        keep_checkpoints: how many step checkpoints to keep (``best.pt`` is kept separately).
        log_every: log train loss and throughput every this many steps.
        resume: continue from the newest checkpoint in ``out_dir``.
        init_weights: start a new run from the network weights of this training checkpoint or weights file
            (fine-tuning, e.g. after a change of input preprocessing); the optimizer, schedule and step count
            start afresh. The stored network config must equal the requested one. Ignored on ``--resume``
            once the run has its own checkpoints.
        ema_decay: keep an exponential moving average of the weights with this decay per step
            (:mod:`protsteer.tasks.ema`; 0: none). Validation, ``best.pt`` and export then use the average;
            each validation row also holds the raw weights' metrics (``raw_<metric>``).
    """

    out_dir: Path
    device: str = "auto"
    amp: str = "off"
    threads: int | None = None
    workers: int = 0
    seed: int = 0
    batch_size: int = 32
    val_batch_size: int | None = None
    lr: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    grad_clip: float | None = 1.0
    max_steps: int | None = None
    epochs: int | None = None
    time_budget_min: float | None = None
    val_every: int | None = None
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 10.0
    keep_checkpoints: int = 3
    log_every: int = 50
    resume: bool = False
    init_weights: Path | None = None
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.init_weights = None if self.init_weights is None else Path(self.init_weights)
        if self.schedule not in SCHEDULES:
            raise ProtsteerError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.amp not in AMP_MODES:
            raise ProtsteerError(f"unknown --amp {self.amp!r}; choose one of {', '.join(AMP_MODES)}")
        if self.batch_size < 1:
            raise ProtsteerError("--batch-size must be at least 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ProtsteerError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.max_steps is None and self.epochs is None:
            raise ProtsteerError("give --max-steps or --epochs (they fix the length of the LR schedule)")

    def to_json(self) -> dict:
        """The options as a JSON-serialisable dict."""
        values = dataclasses.asdict(self)
        values["out_dir"] = str(self.out_dir)
        values["init_weights"] = None if self.init_weights is None else str(self.init_weights)
        return values


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; file paths are meaningful on rank 0)."""

    run_dir: Path
    step: int
    total_steps: int
    stopped: str  # "completed" | "time_budget" | "interrupted"
    best_step: int | None
    best_metrics: dict[str, float] | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    elapsed_s: float


def _lr_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    if config.schedule == "onecycle":
        # one position more than the optimizer steps: the scheduler is stepped after each of them, also the
        # last (torch would wrap around past its end, and the logged lr would be wrong)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=max(total_steps, 1) + 1)
    warmup = max(0, min(config.warmup_steps, total_steps - 1))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class _StopSignals:
    """Turns SIGTERM/SIGINT into a flag checked after every step (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        logger.warning("received signal %d: stopping after this step with a checkpoint", signum)
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _distributed_setup(config: TrainConfig) -> tuple[int, int, torch.device, bool]:
    """(rank, world_size, device, initialised_here); initialises the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(config.device, local_rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed grid and batch shapes: pick the fastest conv3d once
    if world_size <= 1:
        return 0, 1, device, False
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), device, False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    logger.info("DDP: rank %d of %d, backend %s, device %s", rank, world_size, backend, device)
    return rank, world_size, device, True


def _rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def train(task: TrainingTask, config: TrainConfig) -> TrainResult:
    """Train ``task``'s model as configured; see the module docstring. Returns a :class:`TrainResult`."""
    started = time.monotonic()
    if config.threads:
        torch.set_num_threads(config.threads)
    rank, world_size, device, owns_group = _distributed_setup(config)
    try:
        with _run_log(config.out_dir) if rank == 0 else contextlib.nullcontext():
            return _train(task, config, rank, world_size, device, started)
    finally:
        if owns_group:
            dist.destroy_process_group()


@contextlib.contextmanager
def _run_log(run_dir: Path) -> Iterator[None]:
    """Appends the ``protsteer`` loggers' records (info and up) to ``run_dir/train.log`` while the block runs.

    The package logger is lowered to info for the duration if it was less verbose, so the run directory keeps
    the progress lines even when the caller configured no logging (the records then also reach root-logger
    handlers that have no level of their own)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    package = logging.getLogger("protsteer")
    previous_level = package.level
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(previous_level)
        handler.close()


def _train(
    task: TrainingTask, config: TrainConfig, rank: int, world_size: int, device: torch.device, started: float
) -> TrainResult:
    run_dir = config.out_dir
    is_main = rank == 0
    amp = autocast_dtype(config.amp, device)

    torch.manual_seed(config.seed)
    model = task.build_model().to(device)
    network_config = getattr(model, "config", None)
    train_set = task.train_dataset()
    assert isinstance(train_set, Sized), "a training task's datasets are map-style (have a length)"
    sampler = EpochBatchSampler(
        len(train_set),
        task.train_weights(),
        task.samples_per_epoch(),
        config.batch_size,
        config.seed,
        rank,
        world_size,
    )
    total_steps = config.max_steps or (config.epochs or 0) * sampler.steps_per_epoch
    val_every = config.val_every or sampler.steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _lr_scheduler(optimizer, config, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=amp is torch.float16)
    log = MetricsLog(run_dir)

    step, best_value, best_step, best_metrics = 0, None, None, None
    loss_sum, loss_count = 0.0, 0  # mean train loss since the last validation
    existing = checkpoint_paths(run_dir) if run_dir.exists() else []
    if config.resume and existing:
        state = load_checkpoint(existing[-1], "cpu")
        _check_compatible(state, task, network_config, config, world_size, existing[-1])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _set_rng_states(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])
        step = state["step"]
        best_value, best_step, best_metrics = state["best_value"], state["best_step"], state["best_metrics"]
        loss_sum, loss_count = state["train_loss_window"]
        if is_main:
            log.truncate_after(step)
            logger.info("resumed from %s at step %d of %d", existing[-1], step, total_steps)
    elif config.resume:
        logger.info("--resume: no checkpoint in %s, starting from scratch", run_dir)
    elif existing:
        raise ProtsteerError("run directory already has checkpoints; use --resume or another --out", run_dir)
    else:
        torch.manual_seed(derive_seed(config.seed, rank, 0xD0))
    if step == 0 and config.init_weights is not None:
        model.load_state_dict(_initial_state(config.init_weights, task, network_config))
        if is_main:
            logger.info("network initialised from %s", config.init_weights)
    sampler.start_step = step
    average = WeightAverage(model, config.ema_decay) if config.ema_decay and is_main else None
    if average is not None and step:
        if state.get("ema"):
            average.load_state_dict(state["ema"])
        else:
            logger.warning("the checkpoint has no weight average: it starts from the step-%d weights", step)

    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            run_dir / "train.json",
            json.dumps(
                {
                    "task": task.name,
                    "config": config.to_json(),
                    "network": network_config,
                    "world_size": world_size,
                    "device": str(device),
                    "total_steps": total_steps,
                    "steps_per_epoch": sampler.steps_per_epoch,
                    "describe": task.describe(),
                },
                indent=2,
            ),
        )

    train_model: torch.nn.Module = model
    if world_size > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    loader = DataLoader(
        train_set,
        batch_sampler=sampler,
        collate_fn=task.collate,
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.workers > 0,
        generator=torch.Generator().manual_seed(derive_seed(config.seed, rank, step)),  # keeps the global RNG
    )
    val_set = task.val_dataset() if is_main else None
    val_batch_size = config.val_batch_size or 2 * config.batch_size

    def save_checkpoint() -> Path | None:
        rng = [_rng_states()]
        if world_size > 1:
            gathered: list[Any] = [None] * world_size
            dist.all_gather_object(gathered, rng[0])
            rng = gathered
        if not is_main:
            return None
        path = run_dir / "checkpoints" / f"step-{step:08d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": CHECKPOINT_FORMAT,
            "task": task.name,
            "network": network_config,
            "step": step,
            "total_steps": total_steps,
            "batch_size": config.batch_size,
            "world_size": world_size,
            "samples_per_epoch": task.samples_per_epoch(),
            "seed": config.seed,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "ema": None if average is None else average.state_dict(),
            "rng": rng,
            "best_value": best_value,
            "best_step": best_step,
            "best_metrics": best_metrics,
            "train_loss_window": (loss_sum, loss_count),
            "describe": task.describe(),
        }
        with atomic_open(path, "wb") as handle:
            torch.save(state, handle)
        for old in checkpoint_paths(run_dir)[: -max(1, config.keep_checkpoints)]:
            old.unlink(missing_ok=True)
        logger.info("checkpoint %s", path)
        return path

    def validate(train_loss: float | None) -> None:
        nonlocal best_value, best_step, best_metrics
        if is_main:
            assert val_set is not None  # built on the main process

            def val_metrics(network: torch.nn.Module) -> dict[str, float]:
                generator = torch.Generator().manual_seed(derive_seed(config.seed, 0x5EED))  # same inputs
                logits, targets = collect_outputs(
                    network,
                    val_set,
                    task.collate,
                    lambda batch, dev: task.prepare_batch(batch, dev, generator),
                    device,
                    batch_size=val_batch_size,
                    amp=amp,
                )
                return task.metrics(logits, targets)

            selected = model if average is None else average.model
            metrics = val_metrics(selected)
            raw = {} if average is None else {f"raw_{k}": v for k, v in val_metrics(model).items()}
            value = metrics[task.selection_metric]
            better = best_value is None or (
                value > best_value if task.selection_mode == "max" else value < best_value
            )
            if better:
                best_value, best_step, best_metrics = value, step, metrics
                state = {
                    "format": CHECKPOINT_FORMAT,
                    "task": task.name,
                    "network": network_config,
                    "step": step,
                    "metrics": metrics,
                    "model": selected.state_dict(),
                    "describe": task.describe(),
                }
                with atomic_open(run_dir / "best.pt", "wb") as handle:
                    torch.save(state, handle)
            row = {
                "step": step,
                "epoch": round(step / sampler.steps_per_epoch, 4),
                "samples": step * config.batch_size * world_size,
                "lr": scheduler.get_last_lr()[0],
                "train_loss": train_loss if train_loss is not None else float("nan"),
                **metrics,
                **raw,
                "elapsed_s": round(time.monotonic() - started, 1),
                "best": better,
            }
            log.append(row)
            logger.info(
                "val step %d: %s%s%s",
                step,
                "EMA " if average is not None else "",
                _summary(metrics),
                " (best)" if better else "",
            )
            if raw:
                logger.info("val step %d: raw weights %s", step, _summary(raw))
        if world_size > 1:
            dist.barrier()

    stopped = "completed"
    last_checkpoint: Path | None = None
    last_checkpoint_time = time.monotonic()
    window_start, window_samples = time.monotonic(), 0
    train_model.train()
    with _StopSignals() as signals:
        batches = iter(loader)
        while step < total_steps:
            batch = next(batches)
            generator = torch.Generator().manual_seed(derive_seed(config.seed, step, rank))
            inputs, targets = task.prepare_batch(batch, device, generator)
            with autocast(device, amp):
                logits = train_model(inputs)
                loss = task.loss(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if average is not None:
                average.update(model)
            step += 1
            loss_sum += float(loss.detach())
            loss_count += 1
            window_samples += len(targets)
            if is_main and step % config.log_every == 0:
                now = time.monotonic()
                logger.info(
                    "step %d/%d loss %.4f lr %.2e %.1f samples/s",
                    step,
                    total_steps,
                    loss_sum / loss_count,
                    scheduler.get_last_lr()[0],
                    window_samples * world_size / max(now - window_start, 1e-9),
                )
                window_start, window_samples = now, 0

            flags = torch.tensor(
                [
                    float(signals.requested),
                    float(
                        config.time_budget_min is not None
                        and time.monotonic() - started >= 60 * config.time_budget_min
                    ),
                    float(
                        step % config.checkpoint_every == 0
                        or time.monotonic() - last_checkpoint_time >= 60 * config.checkpoint_minutes
                    ),
                ]
            )
            if world_size > 1:
                dist.all_reduce(flags, op=dist.ReduceOp.MAX)
            interrupted, out_of_time, checkpoint_due = (bool(f) for f in flags.tolist())
            validated = step % val_every == 0 or step >= total_steps
            if validated:
                validate(loss_sum / loss_count if loss_count else None)
                loss_sum, loss_count = 0.0, 0
            if interrupted or out_of_time or checkpoint_due or validated:
                last_checkpoint = save_checkpoint() or last_checkpoint
                last_checkpoint_time = time.monotonic()
            if interrupted or out_of_time:
                stopped = "interrupted" if interrupted else "time_budget"
                logger.warning(
                    "stopping at step %d of %d (%s); continue with --resume", step, total_steps, stopped
                )
                break
    best_path = run_dir / "best.pt"
    return TrainResult(
        run_dir=run_dir,
        step=step,
        total_steps=total_steps,
        stopped=stopped,
        best_step=best_step,
        best_metrics=best_metrics,
        last_checkpoint=last_checkpoint,
        best_checkpoint=best_path if best_path.exists() else None,
        elapsed_s=time.monotonic() - started,
    )


def _check_compatible(
    state: dict,
    task: TrainingTask,
    network_config: dict | None,
    config: TrainConfig,
    world_size: int,
    path: Path,
) -> None:
    if state["task"] != task.name:
        raise ProtsteerError(f"checkpoint is for task {state['task']!r}, not {task.name!r}", path)
    _check_same_network(state["network"], network_config, "checkpoint", path)
    requested = (config.batch_size, world_size, config.seed)
    if (state["batch_size"], state["world_size"], state["seed"]) != requested:
        logger.warning(
            "resuming with batch size %d x %d ranks, seed %d (checkpoint: %d x %d, seed %d): the "
            "continuation is not the exact uninterrupted run",
            config.batch_size,
            world_size,
            config.seed,
            state["batch_size"],
            state["world_size"],
            state["seed"],
        )


def _initial_state(path: Path, task: TrainingTask, network_config: dict | None) -> dict[str, torch.Tensor]:
    """The model state dict of ``path`` (a training checkpoint or a weights file), checked against the task
    and the requested network config."""
    from protsteer.io.weights import load_weights

    try:
        state = load_checkpoint(path, "cpu")
        saved_task, saved_network = state["task"], state["network"]
        model_state = state["ema"]["model"] if state.get("ema") else state["model"]
    except ProtsteerError:
        weights = load_weights(path)
        saved_task, saved_network = weights.task, weights.network_config
        model_state = weights.model.state_dict()
    if saved_task != task.name:
        raise ProtsteerError(f"--init-weights are for task {saved_task!r}, not {task.name!r}", path)
    _check_same_network(saved_network, network_config, "--init-weights", path)
    return model_state


def _check_same_network(saved: dict | None, requested: dict | None, what: str, path: Path) -> None:
    """Raise a one-line error naming the config keys where ``saved`` differs from ``requested``."""
    if requested is None or saved == requested:
        return
    if saved:  # expand with today's defaults: options added since the file was saved keep the old behaviour
        from protsteer.networks import build_network

        try:
            saved = build_network(saved).config
        except ProtsteerError:
            pass
        if saved == requested:
            return
    saved = saved or {}
    differ = sorted(k for k in set(saved) | set(requested) if saved.get(k) != requested.get(k))
    shown = ", ".join(f"{k}={saved.get(k)!r} (requested {requested.get(k)!r})" for k in differ)
    raise ProtsteerError(f"{what} network differs from the requested one: {shown}", path)


def _summary(metrics: dict[str, float]) -> str:
    return " ".join(f"{key} {value:.4f}" for key, value in metrics.items())
