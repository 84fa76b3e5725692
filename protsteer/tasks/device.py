"""Which torch device a ``--device`` option names (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import logging

import torch

from protsteer.errors import ProtsteerError

logger = logging.getLogger(__name__)


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:local_rank`` when CUDA is available, else ``cpu`` (the choice is logged).

    Raises ProtsteerError for an unknown spec or CUDA requested on a machine without it.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        logger.info("device auto -> %s", device)
        return device
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ProtsteerError(f"--device {spec}: CUDA is not available on this machine")
        index = local_rank if spec == "cuda" else int(spec.split(":", 1)[1])
        if index >= torch.cuda.device_count():
            raise ProtsteerError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(f"cuda:{index}")
    raise ProtsteerError(f"unknown --device {spec!r}; use auto, cpu, cuda or cuda:N")
