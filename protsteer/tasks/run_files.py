"""Files of a training run directory: step checkpoints and the validation metrics log.

Layout (written by :func:`protsteer.tasks.training.train`): ``checkpoints/step-XXXXXXXX.pt``,
``best.pt``, ``metrics.jsonl`` and ``metrics.tsv``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from protsteer.errors import ProtsteerError

#: the ``format`` key of every checkpoint (step checkpoints and ``best.pt``)
CHECKPOINT_FORMAT = "protsteer-checkpoint/1"


class MetricsLog:
    """Validation rows appended to ``metrics.jsonl`` and ``metrics.tsv`` in the run directory (rank 0)."""

    def __init__(self, run_dir: Path) -> None:
        self.jsonl = run_dir / "metrics.jsonl"
        self.tsv = run_dir / "metrics.tsv"

    def rows(self) -> list[dict]:
        """All logged rows, oldest first."""
        if not self.jsonl.exists():
            return []
        with open(self.jsonl, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (they belong to steps a resumed run will redo)."""
        rows = self.rows()
        kept = [row for row in rows if row["step"] <= step]
        if len(kept) != len(rows):
            self.jsonl.unlink(missing_ok=True)
            self.tsv.unlink(missing_ok=True)
            for row in kept:
                self.append(row)

    def append(self, row: dict) -> None:
        """Append one row (the TSV header is the first row's keys)."""
        with open(self.jsonl, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        write_header = not self.tsv.exists()
        if write_header:
            columns = list(row)
        else:
            with open(self.tsv, encoding="utf-8") as handle:
                columns = handle.readline().rstrip("\n").split("\t")
        with open(self.tsv, "a", encoding="utf-8") as handle:
            if write_header:
                handle.write("\t".join(columns) + "\n")
            handle.write("\t".join(_format_cell(row.get(column, "")) for column in columns) + "\n")


def _format_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def checkpoint_paths(run_dir: Path) -> list[Path]:
    """Step checkpoints of a run, oldest first."""
    return sorted((run_dir / "checkpoints").glob("step-*.pt"))


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    """Load a checkpoint written by :func:`protsteer.tasks.training.train`.

    A trusted file of our own run: full unpickling.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user-facing error
        raise ProtsteerError(f"cannot read checkpoint: {err}", path) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ProtsteerError("not a protsteer training checkpoint", path)
    return state
