"""Batched propensity inference over many structures: read in worker processes, voxelize and run the
network on the device in fixed-size batches that cut across structure boundaries.

Data flow per input: ``read_structure`` -> ``residue_environments`` (both in a worker process:
:func:`prepare_input`) -> environments of several structures concatenated into batches of exactly
``batch_size`` residues -> ``voxelize`` on the device -> network -> ``log_softmax`` (float64) -> per-structure
``logp [n, 20]`` handed back in input order (:class:`BatchedPredictor`).

Every batch has the same size (the last one is padded with empty grids), so a residue's result does not
depend on which other residues share its batch: an interrupted and resumed run reproduces an
uninterrupted one. On out-of-memory (CUDA or CPU) the batch size is halved and the batch retried.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from protsteer.errors import ProtsteerError
from protsteer.io.batch import describe_error
from protsteer.io.inputs import InputFile
from protsteer.so3 import orientation_set
from protsteer.structure import ParsedStructure, ReadPolicy, ResidueTable, read_structure, select_residues
from protsteer.tasks.precision import autocast
from protsteer.voxel import Environments, VoxelSpec, concatenate_environments, residue_environments

logger = logging.getLogger(__name__)

MAX_DEFAULT_WORKERS = 8
#: multiprocessing start method of reader processes (``spawn`` where ``fork`` does not exist)
START_METHOD = "fork"


@dataclass
class PreparedInput:
    """An input read and cut into residue environments (built in a worker process).

    Attributes:
        item: the input.
        sha256: hex digest of the file's bytes.
        residues: the full residue table.
        environments: one environment per predicted residue (``environments.residue_rows`` = table rows).
        structure: the parsed structure, kept only when asked (``keep_structure``), else None.
        seconds: ``{"read": s, "environments": s}`` spent in the worker.
    """

    item: InputFile
    sha256: str
    residues: ResidueTable
    environments: Environments
    structure: ParsedStructure | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_env(self) -> int:
        return self.environments.n_env


@dataclass(frozen=True)
class PrepareFailure:
    """An input that could not be prepared: the stage (``read`` / ``select`` / ``environments``) and why."""

    item: InputFile
    stage: str
    error_type: str
    message: str


@dataclass(frozen=True)
class PrepareOptions:
    """What :func:`prepare_input` does (picklable, sent to workers).

    Attributes:
        policy: structure reading policy (the weights' ``read_policy``).
        spec: voxel spec (the weights' ``voxel_spec``).
        positions: residue selection (``A:10-20,H:82A``) or None for every residue.
        residue_selector: a picklable ``ResidueTable -> [R] bool`` choosing the residues to predict (e.g.
            those a mutation list names), or None.
        keep_structure: also return the :class:`ParsedStructure` (for tasks that need atoms).
        rotatable: build environments that can be voxelized in any orientation (orientation averaging).
        frame: environment axes, ``"local"`` or ``"input"`` (:data:`protsteer.voxel.FRAMES`).
    """

    policy: ReadPolicy
    spec: VoxelSpec
    positions: str | None = None
    residue_selector: Callable[[ResidueTable], np.ndarray] | None = None
    keep_structure: bool = False
    rotatable: bool = False
    frame: str = "input"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_input(item: InputFile, options: PrepareOptions) -> PreparedInput | PrepareFailure:
    """Read one input and build its residue environments; failures are returned, never raised."""
    stage = "read"
    try:
        start = time.perf_counter()
        sha256 = file_sha256(item.path)
        structure = read_structure(item.path, options.policy, structure_id=item.structure_id)
        read_done = time.perf_counter()
        mask = None
        if options.positions:
            stage = "select"
            mask = select_residues(structure.residues, options.positions)
        elif options.residue_selector is not None:
            stage = "select"
            mask = options.residue_selector(structure.residues)
        stage = "environments"
        environments = residue_environments(
            structure, options.spec, residue_mask=mask, rotatable=options.rotatable, frame=options.frame
        )
        seconds = {"read": read_done - start, "environments": time.perf_counter() - read_done}
    except (ProtsteerError, OSError, ValueError, MemoryError) as err:
        error_type, message = describe_error(err)
        return PrepareFailure(item, stage, error_type, message)
    return PreparedInput(
        item, sha256, structure.residues, environments, structure if options.keep_structure else None, seconds
    )


def default_workers() -> int:
    """CPU cores - 1, between 0 (read in the main process) and :data:`MAX_DEFAULT_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(MAX_DEFAULT_WORKERS, cores - 1))


def prepared_inputs(
    items: Iterable[InputFile], options: PrepareOptions, workers: int
) -> Iterator[PreparedInput | PrepareFailure]:
    """:func:`prepare_input` for each item, in order; ``workers`` > 0 uses that many processes with a
    bounded look-ahead of ``2 * workers`` inputs (memory stays bounded whatever the number of inputs).

    A reader process that dies (a crash in a parser, the kernel's out-of-memory killer) does not stop the
    run: the inputs in flight are retried one by one in a fresh process, the one that kills its process again
    becomes a :class:`PrepareFailure` (``WorkerCrashed``), and a new pool takes over.
    """
    if workers <= 0:
        for item in items:
            yield prepare_input(item, options)
        return
    pools = _ReaderPools(workers, options)
    try:
        window: collections.deque[tuple[InputFile, concurrent.futures.Future]] = collections.deque()
        for item in items:
            window.append((item, pools.submit(item)))
            if len(window) >= 2 * workers:
                yield pools.result(window)
        while window:
            yield pools.result(window)
    finally:  # also when the consumer stops early (--on-error fail, Ctrl-C): drop queued work
        pools.close()


class _ReaderPools:
    """A process pool for :func:`prepare_input` that is replaced when one of its processes dies."""

    def __init__(self, workers: int, options: PrepareOptions) -> None:
        methods = multiprocessing.get_all_start_methods()
        # fork: workers start at once and run numpy/gemmi only (never CUDA), as torch's DataLoader workers do
        self.context = multiprocessing.get_context(START_METHOD if START_METHOD in methods else "spawn")
        self.workers = workers
        self.options = options
        self.pool = self._new_pool(workers)

    def _new_pool(self, workers: int) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=self.context)

    def submit(self, item: InputFile) -> concurrent.futures.Future:
        return self.pool.submit(prepare_input, item, self.options)

    def result(
        self, window: collections.deque[tuple[InputFile, concurrent.futures.Future]]
    ) -> PreparedInput | PrepareFailure:
        """The result of the oldest input of ``window`` (popped); repairs the pool after a crash."""
        item, future = window.popleft()
        try:
            return future.result()
        except concurrent.futures.process.BrokenProcessPool:
            logger.warning(
                "a reader process died while %s was in flight; retrying in a fresh process", item.path
            )
        self.pool.shutdown(wait=True, cancel_futures=True)
        with self._new_pool(1) as single:
            try:
                outcome = single.submit(prepare_input, item, self.options).result()
            except concurrent.futures.process.BrokenProcessPool:
                outcome = PrepareFailure(
                    item, "read", "WorkerCrashed", "the reader process died on this input"
                )
        self.pool = self._new_pool(self.workers)
        for position, (pending, _) in enumerate(window):
            window[position] = (pending, self.submit(pending))
        return outcome

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _is_out_of_memory(error: BaseException) -> bool:
    """CUDA out-of-memory, or a CPU allocation failure reported by torch."""
    text = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate" in text


class BatchedPredictor:
    """Log-probabilities for the environments of a stream of prepared inputs, batched across inputs.

    Args:
        model: network mapping ``[B, C, G, G, G]`` grids to ``[B, K]`` logits (eval mode, on ``device``).
        n_outputs: K.
        device: where voxelization and the network run.
        batch_size: residues per network call (every call gets exactly this many; halved on OOM).
        autocast_dtype: ``torch.bfloat16`` (CUDA or CPU) / ``torch.float16`` (CUDA) to run the network
            under autocast, None for float32 (see :mod:`protsteer.tasks.precision`).
        orientations: average the probabilities over this many orientations of each environment
            (:func:`protsteer.so3.orientation_set`: the identity and fixed random rotations); 1 = no
            averaging. Environments must then be built with ``rotatable=True``. Costs ``orientations`` times
            the voxelization and network time.

    Attributes:
        seconds: cumulative ``{"voxelize": s, "network": s}``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        n_outputs: int,
        device: torch.device,
        batch_size: int,
        autocast_dtype: torch.dtype | None = None,
        orientations: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ProtsteerError("--batch-size must be at least 1")
        if orientations < 1:
            raise ProtsteerError("--orientations must be at least 1")
        self.rotations = orientation_set(orientations).to(device) if orientations > 1 else None
        self.model = model
        self.n_outputs = n_outputs
        self.device = device
        self.batch_size = batch_size
        self.autocast_dtype = autocast_dtype
        self.seconds = {"voxelize": 0.0, "network": 0.0}

    def run(
        self, stream: Iterable[PreparedInput | PrepareFailure]
    ) -> Iterator[tuple[PreparedInput, np.ndarray] | tuple[PrepareFailure, None]]:
        """Yield ``(prepared, logp [n_env, K] float64)`` per input (failures as ``(failure, None)``), in
        stream order."""
        pending: collections.deque[list] = collections.deque()  # [entry, logp [n_env, K], n_filled]
        queued: collections.deque[tuple[list, int, int]] = collections.deque()  # (pending, start, stop)
        n_queued = 0
        for entry in stream:
            if isinstance(entry, PrepareFailure):
                pending.append([entry, None, 0])
            else:
                record = [entry, np.empty((entry.n_env, self.n_outputs), dtype=np.float64), 0]
                pending.append(record)
                if entry.n_env:
                    queued.append((record, 0, entry.n_env))
                    n_queued += entry.n_env
            while n_queued >= self.batch_size:
                n_queued -= self._run_batch(queued, self.batch_size)
            yield from self._pop_finished(pending)
        while n_queued:
            n_queued -= self._run_batch(queued, min(n_queued, self.batch_size))
        yield from self._pop_finished(pending)

    @staticmethod
    def _pop_finished(pending: collections.deque[list]) -> Iterator:
        while pending:
            entry, logp, filled = pending[0]
            if not isinstance(entry, PrepareFailure) and filled < entry.n_env:
                return
            pending.popleft()
            yield entry, logp

    def _run_batch(self, queued: collections.deque[tuple[list, int, int]], count: int) -> int:
        """Take ``count`` environments from the front of ``queued``, run them; returns ``count``."""
        pieces: list[tuple[list, int, int]] = []
        taken = 0
        while taken < count:
            record, start, stop = queued.popleft()
            stop_here = min(stop, start + count - taken)
            pieces.append((record, start, stop_here))
            if stop_here < stop:
                queued.appendleft((record, stop_here, stop))
            taken += stop_here - start
        environments = concatenate_environments(
            [record[0].environments.select(np.arange(start, stop)) for record, start, stop in pieces]
        )
        logp = self.log_probabilities(environments)
        offset = 0
        for record, start, stop in pieces:
            record[1][start:stop] = logp[offset : offset + stop - start]
            record[2] += stop - start
            offset += stop - start
        return count

    def log_probabilities(self, environments: Environments) -> np.ndarray:
        """``[n_env, K]`` float64 log-probabilities, computed in padded batches of ``batch_size``."""
        outputs = []
        start = 0
        while start < environments.n_env:
            size = self.batch_size
            chunk = environments.select(np.arange(start, min(start + size, environments.n_env)))
            try:
                outputs.append(self._forward_padded(chunk, size))
            except RuntimeError as err:  # torch.OutOfMemoryError is a RuntimeError
                if not _is_out_of_memory(err) or self.batch_size == 1:
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.batch_size = max(1, self.batch_size // 2)
                logger.warning("out of memory on %s: batch size halved to %d", self.device, self.batch_size)
                continue
            start += chunk.n_env
        return np.concatenate(outputs) if outputs else np.zeros((0, self.n_outputs))

    @torch.inference_mode()
    def _forward_padded(self, environments: Environments, size: int) -> np.ndarray:
        if self.rotations is None:
            return self._logp_padded(environments, size, None).cpu().numpy()
        logps = [self._logp_padded(environments, size, rotation) for rotation in self.rotations]
        mean_logp = torch.logsumexp(torch.stack(logps), dim=0) - math.log(len(logps))  # log of mean p
        return mean_logp.cpu().numpy()

    def _logp_padded(
        self, environments: Environments, size: int, rotation: torch.Tensor | None
    ) -> torch.Tensor:
        """``[n_env, K]`` float64 log-probabilities of one orientation (``rotation [3, 3]`` or None), the
        network run on a batch padded to ``size``."""
        began = time.perf_counter()
        rotations = None if rotation is None else rotation.expand(environments.n_env, 3, 3)
        grids = environments.voxelize(rotations=rotations, device=self.device)
        if len(grids) < size:
            padding = grids.new_zeros((size - len(grids), *grids.shape[1:]))
            grids = torch.cat([grids, padding])
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        voxelized = time.perf_counter()
        benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = benchmark or self.device.type == "cuda"  # every batch has one shape
        try:
            with autocast(self.device, self.autocast_dtype):
                logits = self.model(grids)
        finally:
            torch.backends.cudnn.benchmark = benchmark
        logp = torch.log_softmax(logits[: environments.n_env].double(), dim=1)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds["voxelize"] += voxelized - began
        self.seconds["network"] += time.perf_counter() - voxelized
        return logp
