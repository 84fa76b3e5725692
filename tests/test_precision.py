"""Mixed precision: bf16 autocast on a CPU (inference and training), fp16 falls back to float32 there."""

from __future__ import annotations

import logging

import torch

from protsteer.tasks.precision import autocast, autocast_dtype

CPU = torch.device("cpu")


def test_cpu_runs_bf16_and_falls_back_from_fp16_with_a_warning(caplog):
    assert autocast_dtype("bf16", CPU) is torch.bfloat16
    assert autocast_dtype("fp32", CPU) is None and autocast_dtype("off", CPU) is None
    with caplog.at_level(logging.WARNING):
        assert autocast_dtype("fp16", CPU) is None
    assert "fp16 autocast needs CUDA" in caplog.text
    assert autocast_dtype("fp16", torch.device("cuda")) is torch.float16


def test_cpu_without_native_bf16_falls_back_to_float32(monkeypatch, caplog):
    from protsteer.tasks import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert autocast_dtype("bf16", CPU) is None
    assert "has no native bf16" in caplog.text and "running in float32" in caplog.text
    assert autocast_dtype("bf16", torch.device("cuda")) is torch.bfloat16  # the GPU decides for itself


def test_native_bf16_probe_answers(monkeypatch):
    from protsteer.tasks import precision

    monkeypatch.undo()  # the real probe (conftest patches it)
    assert isinstance(precision.cpu_has_native_bf16(), bool)


def test_autocast_context_is_active_only_for_a_dtype():
    linear = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast(CPU, torch.bfloat16):
        assert linear(x).dtype is torch.bfloat16
    with autocast(CPU, None):
        assert linear(x).dtype is torch.float32
