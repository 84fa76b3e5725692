"""The driver shared by ``protsteer predict`` and ``protsteer scan``: weights, device, the resumable batch
run, worker processes, the batched predictor, progress, and provenance.

A command supplies a :class:`BatchRequest` (what every batch command takes) and a ``make_parts`` callback
that turns one input's ``logp`` into table rows; everything else (resume, shards, errors, formats, run.json)
is :class:`protsteer.io.batch.BatchRun`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from protsteer.errors import ProtsteerError
from protsteer.io.batch import BatchRun, BatchSummary, OutputOptions, describe_error
from protsteer.io.rundir import Parts
from protsteer.io.tables import Column
from protsteer.io.weights import LoadedWeights, load_weights
from protsteer.models import DEFAULT_WEIGHTS
from protsteer.structure import AMINO_ACIDS, ReadPolicy, ResidueTable
from protsteer.tasks.device import resolve_device
from protsteer.tasks.precision import autocast_dtype, precision_name
from protsteer.tasks.propensity.inference import (
    BatchedPredictor,
    PreparedInput,
    PrepareFailure,
    PrepareOptions,
    default_workers,
    prepared_inputs,
)

logger = logging.getLogger(__name__)

#: residues per network call when --batch-size is not given. On the CPU small batches keep the activations in
#: cache: propensity-v3 runs 75 residues/s at 16 against 57 at 64 (2 cores; propensity-v2 351 against 407).
DEFAULT_BATCH_SIZE = {"cpu": 16, "cuda": 512}
INFERENCE_PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class BatchRequest:
    """Options every batch command takes (see ``protsteer predict --help``)."""

    inputs: Sequence[str]
    outdir: Path
    weights: str = DEFAULT_WEIGHTS["propensity"]
    device: str = "auto"
    batch_size: int | None = None
    workers: int | None = None
    precision: str = "fp32"
    orientations: int = 1
    frame: str = "local"
    output: OutputOptions = field(default_factory=OutputOptions)
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    shard: tuple[int, int] | None = None
    overwrite: bool = False
    on_error: str = "skip"
    progress: bool = True
    arguments: dict[str, Any] = field(default_factory=dict)


def load_propensity_weights(name_or_path: str, device: torch.device) -> LoadedWeights:
    """Load weights and check that they are propensity weights over ``ACDEFGHIKLMNPQRSTVWY``."""
    weights = load_weights(name_or_path, device)
    if weights.task != "propensity" or "".join(weights.labels) != AMINO_ACIDS:
        raise ProtsteerError(f"not amino-acid propensity weights (task {weights.task!r})", weights.path)
    return weights


def run_propensity_batch(
    command: str,
    request: BatchRequest,
    *,
    tables: Mapping[str, Sequence[Column]],
    make_parts: Callable[[BatchRun, PreparedInput, np.ndarray], Parts],
    settings: dict[str, Any] | None = None,
    positions: str | None = None,
    residue_selector: Callable[[ResidueTable], np.ndarray] | None = None,
    keep_structure: bool = False,
    weights: LoadedWeights | None = None,
) -> tuple[BatchSummary, BatchRun]:
    """Run the propensity model over the inputs of ``request`` and write the tables of ``make_parts``.

    Args:
        command: ``predict`` or ``scan``.
        request: the batch options.
        tables: ``{table: columns}`` the command writes.
        make_parts: ``(run, prepared, logp [n_env, 20]) -> {table: (columns, rows)}`` for one input.
        settings: command options that change the tables (part of the resume fingerprint).
        positions: restrict environments to this residue selection.
        residue_selector: restrict environments to the residues this picklable callable selects.
        keep_structure: keep the parsed structure in :class:`PreparedInput` (for extra tasks).
        weights: already loaded weights (default: load ``request.weights`` on the chosen device).
    """
    if request.precision not in INFERENCE_PRECISIONS:
        raise ProtsteerError(f"--precision must be one of {', '.join(INFERENCE_PRECISIONS)}")
    device = resolve_device(request.device)
    weights = weights or load_propensity_weights(request.weights, device)
    amp = autocast_dtype(request.precision, device)
    batch = BatchRun(
        command,
        request.inputs,
        outdir=request.outdir,
        tables=tables,
        settings={
            "weights_sha256": weights.sha256,
            "positions": positions,
            "orientations": request.orientations,
            "frame": request.frame,
            "precision": precision_name(amp),  # as run on this device (fp16 on a CPU runs in fp32)
            **(settings or {}),
        },
        output=request.output,
        arguments=request.arguments,
        include=request.include,
        exclude=request.exclude,
        shard=request.shard,
        overwrite=request.overwrite,
        on_error=request.on_error,
    )
    options = PrepareOptions(
        policy=ReadPolicy.from_dict(weights.read_policy),
        spec=weights.voxel_spec,
        positions=positions,
        residue_selector=residue_selector,
        keep_structure=keep_structure,
        rotatable=request.orientations > 1,
        frame=request.frame,
    )
    try:
        return _drive(batch, request, weights, device, amp, options, make_parts), batch
    finally:
        batch.close()


def _drive(
    batch: BatchRun,
    request: BatchRequest,
    weights: LoadedWeights,
    device: torch.device,
    amp: torch.dtype | None,
    options: PrepareOptions,
    make_parts: Callable[[BatchRun, PreparedInput, np.ndarray], Parts],
) -> BatchSummary:
    """Read, predict and store every input of ``batch.todo``; then assemble the outputs (``amp``: the
    network's autocast dtype, None for float32)."""
    workers = default_workers() if request.workers is None else request.workers
    predictor = BatchedPredictor(
        weights.model,
        len(weights.labels),
        device,
        request.batch_size or DEFAULT_BATCH_SIZE[device.type],
        amp,
        request.orientations,
    )
    seconds = {"read": 0.0, "environments": 0.0, "write": 0.0}
    residues_done = 0
    started = time.perf_counter()
    bar = tqdm(
        total=len(batch.todo),
        unit="structure",
        disable=not request.progress or not batch.todo,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    try:
        # one input: read it here rather than start a process for it
        readers = min(workers, len(batch.todo)) if len(batch.todo) > 1 else 0
        for entry, logp in predictor.run(prepared_inputs(batch.todo, options, readers)):
            if isinstance(entry, PrepareFailure):
                batch.fail(entry.item, entry.stage, entry.error_type, entry.message)
            else:
                assert logp is not None  # a prepared input comes with its log-probabilities
                for stage, spent in entry.seconds.items():
                    seconds[stage] += spent
                began = time.perf_counter()
                try:
                    parts = make_parts(batch, entry, logp)
                except (ProtsteerError, OSError, ValueError) as err:
                    batch.fail(entry.item, "output", *describe_error(err))
                else:
                    batch.complete(entry.item, entry.sha256, parts)
                seconds["write"] += time.perf_counter() - began
                residues_done += entry.n_env
            bar.update(1)
            bar.set_postfix_str(
                f"{residues_done / max(time.perf_counter() - started, 1e-9):.0f} residues/s", refresh=False
            )
        batch.drain()
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    seconds["commit"] = batch.committer.seconds
    batch.summary.device = str(device)
    return batch.finish(
        extra={
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "batch_size_final": predictor.batch_size,
            "workers": workers,
            "weights": {"name": weights.name, "path": str(weights.path), "sha256": weights.sha256},
            "read_policy": weights.read_policy,
            "voxel_spec": weights.voxel_spec.to_dict(),
            "timing": {
                "seconds": round(elapsed, 3),
                "residues": residues_done,
                "residues_per_s": round(residues_done / elapsed, 1) if elapsed > 0 else None,
                "stage_seconds": {k: round(v, 3) for k, v in {**seconds, **predictor.seconds}.items()},
                "note": "read/environments are summed over worker processes; commit is the background "
                "writer thread (storing parts, fsync), overlapping the rest",
            },
        }
    )
