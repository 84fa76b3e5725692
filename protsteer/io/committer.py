"""Background commits of finished inputs: their part files are written and recorded in a writer thread.

A batch command's main thread computes (reads results, runs the network) while this thread formats the rows,
writes each input's parts (:meth:`RunDirectory.store_parts`, one fsync per part file) and records whatever
has queued up as one group (:meth:`RunDirectory.record`: one fsync of the parts directory and one of the
manifest per group instead of two per input). fsync releases the GIL, so the disk's latency overlaps with the
computation; on a fast accelerator it would otherwise cap the inputs per second. The durability rule is
unchanged: a manifest line is written only after its parts are durable, and inputs still queued when the
process is killed are simply recomputed by the next run.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from protsteer.io.inputs import InputFile
from protsteer.io.rundir import CompletedInput, Parts, RunDirectory

#: inputs waiting for the writer before :meth:`PartCommitter.submit` blocks (bounds the memory held)
MAX_PENDING = 16

_STOP = object()


@dataclass(frozen=True)
class CommitOutcome:
    """What became of one submitted input: ``error`` is None when its parts are recorded in the manifest."""

    item: InputFile
    error: BaseException | None = None


class PartCommitter:
    """Write and record the parts of finished inputs in one background thread.

    Args:
        rundir: the run directory the parts go to.
        max_pending: inputs queued before :meth:`submit` waits for the writer.

    The thread starts with the first :meth:`submit` (after a batch command has started its reader processes,
    which are forked). Call :meth:`close` when the run ends, also after an error: it waits for every
    submitted input and returns the outcomes not yet collected.
    """

    def __init__(self, rundir: RunDirectory, max_pending: int = MAX_PENDING) -> None:
        self.rundir = rundir
        self.seconds = 0.0  # time the writer spent storing and recording (overlaps the main thread)
        self._jobs: queue.Queue = queue.Queue(maxsize=max_pending)
        self._outcomes: queue.SimpleQueue[CommitOutcome] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, item: InputFile, sha256: str, parts: Parts) -> None:
        """Queue one input's parts (``{table: (columns, rows)}``; the rows are consumed by the writer)."""
        if self._closed:
            raise RuntimeError("PartCommitter.submit after close")
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="protsteer-commit", daemon=True)
            self._thread.start()
        self._jobs.put((item, sha256, parts))

    def finished(self) -> list[CommitOutcome]:
        """Outcomes that arrived since the last call (never waits)."""
        outcomes = []
        while True:
            try:
                outcomes.append(self._outcomes.get_nowait())
            except queue.Empty:
                return outcomes

    def close(self) -> list[CommitOutcome]:
        """Wait until every submitted input is written and recorded; the outcomes not collected yet."""
        if not self._closed:
            self._closed = True
            if self._thread is not None:
                self._jobs.put(_STOP)
                self._thread.join()
        return self.finished()

    def _work(self) -> None:
        while True:
            group = [self._jobs.get()]
            while group[-1] is not _STOP:
                try:
                    group.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            stop = group[-1] is _STOP
            self._commit([job for job in group if job is not _STOP])
            if stop:
                return

    def _commit(self, jobs: list[tuple[InputFile, str, Parts]]) -> None:
        """Store each job's parts, then record the stored ones together; every job yields one outcome."""
        began = time.perf_counter()
        stored: list[tuple[InputFile, CompletedInput]] = []
        for item, sha256, parts in jobs:
            try:
                stored.append((item, self.rundir.store_parts(item, sha256, parts)))
            except BaseException as err:  # noqa: BLE001 - handed to the main thread, which decides
                self._outcomes.put(CommitOutcome(item, err))
        try:
            self.rundir.record([done for _, done in stored])
        except BaseException as err:  # noqa: BLE001 - as above
            for item, _ in stored:
                self._outcomes.put(CommitOutcome(item, err))
        else:
            for item, _ in stored:
                self._outcomes.put(CommitOutcome(item))
        self.seconds += time.perf_counter() - began
