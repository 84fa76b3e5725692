"""Mixed precision for training and inference: which autocast runs on which device.

``bf16`` runs under ``torch.autocast`` on CUDA and on CPUs with native bf16 arithmetic (AVX-512 / AMX, where
oneDNN has bf16 kernels; measured in benchmarks/predict_speed.py and docs/nn.md). On other CPUs (e.g. AVX2
only) bf16 convolutions are emulated, hundreds of times slower than float32 (a conv3d measured 400x on an
AVX2 EPYC), so bf16 falls back to float32 there with a warning. ``fp16`` runs on CUDA only: a CPU has no
fast fp16 path, so it falls back to float32 with a warning too.
"""

from __future__ import annotations

import contextlib
import functools
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


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has bf16 kernels on this CPU (``torch.ops.mkldnn._is_mkldnn_bf16_supported``; True
    when torch cannot tell, so that the choice stays the user's)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype that ``precision`` (``fp32``/``off``, ``bf16``, ``fp16``) gets on ``device``.

    Raises ``KeyError`` on an unknown name (callers validate their option first).
    """
    dtype = PRECISION_DTYPES[precision]
    if dtype is torch.float16 and device.type != "cuda":
        logger.warning("fp16 autocast needs CUDA; running in float32 on %s (bf16 runs on a CPU)", device)
        return None
    if dtype is torch.bfloat16 and device.type == "cpu" and not cpu_has_native_bf16():
        logger.warning(
            "bf16 autocast: this CPU (%s) has no native bf16, where it runs hundreds of times slower than "
            "float32; running in float32",
            torch.backends.cpu.get_cpu_capability(),
        )
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
