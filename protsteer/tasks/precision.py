"""Mixed precision for training and inference: which autocast runs on which device.

``bf16`` runs under ``torch.autocast`` on CUDA and on the CPU (fast where the CPU has native bf16
arithmetic, e.g. AVX-512 BF16 or AMX; measured in benchmarks/predict_speed.py and docs/nn.md). ``fp16``
runs on CUDA only: a CPU has no fast fp16 path, so it falls back to float32 with a warning.
"""

from __future__ import annotations

import contextlib
import logging

import torch

logger = logging.getLogger(__name__)

#: precision name -> autocast dtype (``None``: float32); ``off`` is the training spelling of ``fp32``
PRECISION_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "off": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype that ``precision`` (``fp32``/``off``, ``bf16``, ``fp16``) gets on ``device``.

    Raises ``KeyError`` on an unknown name (callers validate their option first).
    """
    dtype = PRECISION_DTYPES[precision]
    if dtype is torch.float16 and device.type != "cuda":
        logger.warning("fp16 autocast needs CUDA; running in float32 on %s (bf16 runs on a CPU)", device)
        return None
    return dtype


def precision_name(dtype: torch.dtype | None) -> str:
    """The precision name of an autocast dtype: ``fp32`` (``None``), ``bf16`` or ``fp16``."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` in ``dtype``, or a no-op for ``None`` (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
