"""Every equivariant layer (and a deep strided stack) commutes exactly with the 24 cube rotations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from protsteer.nn import (
    FieldDropout,
    FieldType,
    GatedNonlinearity,
    GlobalInvariantPool,
    LowPassDownsample3d,
    NormNonlinearity,
    SteerableAvgPool3d,
    SteerableBatchNorm3d,
    SteerableConv3d,
    check_equivariance,
    gated_type,
    rotate_field,
)
from protsteer.nn.grid import centred_output_size
from protsteer.so3 import cube_rotations

TYPE = FieldType([2, 2, 1, 1])


def _randomise(module: nn.Module) -> nn.Module:
    """Non-trivial affine parameters and running statistics, so the checks see their effect."""
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if tensor.is_floating_point() and "basis" not in name and "kernel" not in name:
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    return module


LAYERS = {
    "gated": lambda: (GatedNonlinearity(TYPE, "silu"), gated_type(TYPE), TYPE),
    "norm": lambda: (_randomise(NormNonlinearity(TYPE)), TYPE, TYPE),
    "batchnorm_eval": lambda: (_randomise(SteerableBatchNorm3d(TYPE)), TYPE, TYPE),
    "downsample": lambda: (LowPassDownsample3d(TYPE), TYPE, TYPE),
    "downsample_stride3": lambda: (LowPassDownsample3d(TYPE, stride=3), TYPE, TYPE),
    "avgpool": lambda: (SteerableAvgPool3d(TYPE), TYPE, TYPE),
    "global_pool": lambda: (GlobalInvariantPool(TYPE), TYPE, FieldType([TYPE.n_fields])),
    "global_pool_ball": lambda: (GlobalInvariantPool(TYPE, window="ball"), TYPE, FieldType([TYPE.n_fields])),
    "dropout_eval": lambda: (FieldDropout(TYPE, 0.5), TYPE, TYPE),
}


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_exact_on_cube_rotations(name, dtype, tolerance):
    module, t_in, t_out = LAYERS[name]()
    report = check_equivariance(module, t_in, t_out, grid_size=9, n_continuous=0, dtype=dtype)
    assert report.cube_max <= tolerance


def _train_mode_error(module: nn.Module, t_in: FieldType, t_out: FieldType, seed_each_call: bool) -> float:
    """check_equivariance runs in eval mode; this checks train mode (batch statistics, dropout masks)."""
    module = module.double().train()
    x = torch.randn(3, t_in.dim, 9, 9, 9, dtype=torch.float64)
    worst = 0.0
    with torch.no_grad():
        for R in cube_rotations():
            if seed_each_call:
                torch.manual_seed(1)
            y = module(x)
            if seed_each_call:
                torch.manual_seed(1)
            actual = module(rotate_field(x, t_in, R))
            expected = rotate_field(y, t_out, R)
            worst = max(worst, float((actual - expected).norm() / expected.norm()))
    return worst


def test_batchnorm_train_mode_is_exact():
    assert _train_mode_error(_randomise(SteerableBatchNorm3d(TYPE)), TYPE, TYPE, False) < 1e-10


def test_dropout_train_mode_is_exact_for_a_fixed_mask():
    assert _train_mode_error(FieldDropout(TYPE, 0.5), TYPE, TYPE, True) < 1e-10


def test_dropout_drops_whole_fields():
    dropout = FieldDropout(FieldType([0, 4]), 0.5).train()
    torch.manual_seed(3)
    y = dropout(torch.ones(8, 12, 2, 2, 2))
    per_field = y.unflatten(1, (4, 3))
    assert set(per_field.flatten().unique().tolist()) == {0.0, 2.0}
    assert (per_field.amin(dim=(2, 3, 4, 5)) == per_field.amax(dim=(2, 3, 4, 5))).all()
    assert torch.equal(dropout.eval()(y), y)


def test_batchnorm_normalises_fields():
    bn = SteerableBatchNorm3d(FieldType([3, 2])).train()
    x = torch.randn(4, 9, 6, 6, 6) * 5 + 2
    y = bn(x)
    assert torch.allclose(y[:, :3].mean(dim=(0, 2, 3, 4)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y[:, :3].var(dim=(0, 2, 3, 4)), torch.ones(3), atol=1e-2)
    vectors = y[:, 3:].unflatten(1, (2, 3))
    assert torch.allclose(vectors.square().mean(dim=(0, 2, 3, 4, 5)), torch.ones(2), atol=1e-3)
    assert bn.running_sqnorm.min() > 1.0  # moved towards the batch second moment (~29)


def test_ball_window_ignores_the_corners():
    pool = GlobalInvariantPool(FieldType([1]), window="ball")
    x = torch.zeros(1, 1, 5, 5, 5)
    x[0, 0, 0, 0, 0] = 100.0  # a corner: outside the inscribed ball
    assert pool(x).item() == 0.0
    x[0, 0, 2, 2, 0] = 33.0  # on the ball's surface (distance 2 from the centre)
    assert pool(x).item() > 0.0


def test_batchnorm_eval_is_the_per_field_affine_map():
    field_type = FieldType([2, 2, 1])
    bn = _randomise(SteerableBatchNorm3d(field_type)).eval()
    x = torch.randn(3, field_type.dim, 4, 4, 4, dtype=torch.float64)
    bn = bn.double()
    expected = torch.empty_like(x)
    scalars = slice(0, 2)
    expected[:, scalars] = (x[:, scalars] - bn.running_mean.view(1, 2, 1, 1, 1)) / torch.sqrt(
        bn.running_var.view(1, 2, 1, 1, 1) + bn.eps
    ) * bn.weight[:2].view(1, 2, 1, 1, 1) + bn.bias.view(1, 2, 1, 1, 1)
    for field, channels in enumerate([slice(2, 5), slice(5, 8), slice(8, 13)]):
        scale = bn.weight[2 + field] / torch.sqrt(bn.running_sqnorm[field] + bn.eps)
        expected[:, channels] = x[:, channels] * scale
    assert torch.allclose(bn(x), expected, atol=1e-12)


def test_gated_nonlinearity_inference_path_equals_the_autograd_path():
    out_type = FieldType([2, 2, 1, 1])
    gate = GatedNonlinearity(out_type, "silu")
    x = torch.randn(2, gate.in_type.dim, 3, 3, 3, requires_grad=True)
    with_grad = gate(x)
    with torch.no_grad():
        without = gate(x)
    with torch.inference_mode():
        inference = gate(x.detach())
    assert torch.equal(with_grad.detach(), without) and torch.equal(without, inference)


def test_gated_nonlinearity_multiplies_fields_by_sigmoid_gates():
    out_type = FieldType([1, 1, 1])
    gate = GatedNonlinearity(out_type, "relu")
    assert gate.in_type == FieldType([3, 1, 1])
    x = torch.tensor([-1.0, 0.0, 2.0, 1.0, 2.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0]).view(1, 11, 1, 1, 1)
    y = gate(x).flatten()
    assert y[0] == 0.0  # relu(-1)
    assert torch.allclose(y[1:4], torch.tensor([0.5, 1.0, 1.5]))  # sigmoid(0) * (1, 2, 3)
    assert torch.allclose(y[4:], torch.sigmoid(torch.tensor(2.0)) * torch.ones(5))


@pytest.mark.parametrize(("size", "expected"), [(21, 11), (11, 5), (5, 3), (3, 1), (9, 5), (7, 3)])
def test_strided_outputs_stay_centred_and_odd(size, expected):
    assert centred_output_size(size, 5, 2) == expected
    x = torch.zeros(1, 1, size, size, size)
    assert LowPassDownsample3d(FieldType([1]))(x).shape[-1] == expected
    assert SteerableAvgPool3d(FieldType([1]))(x).shape[-1] == expected


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_deep_stack_with_strides_and_pooling_is_exact(dtype, tolerance):
    """Ten layers: convs, gates, batch norm, norm nonlinearity, strided conv, low-pass, pools."""
    t0, t1, t2 = FieldType([2]), FieldType([4, 2, 2, 1]), FieldType([4, 3, 2, 1])
    stack = nn.Sequential(
        SteerableConv3d(t0, gated_type(t1), 5),
        SteerableBatchNorm3d(gated_type(t1)),
        GatedNonlinearity(t1),
        LowPassDownsample3d(t1),
        SteerableConv3d(t1, gated_type(t2), 3),
        GatedNonlinearity(t2, "silu"),
        SteerableConv3d(t2, t2, 3, stride=2),
        NormNonlinearity(t2),
        SteerableAvgPool3d(t2, 3, 1),
        GlobalInvariantPool(t2),
    )
    _randomise(stack[1])
    out_type = stack[-1].out_type
    report = check_equivariance(stack, t0, out_type, grid_size=11, n_continuous=0, dtype=dtype)
    assert report.cube_max <= tolerance
    control = check_equivariance(stack, t0, out_type, grid_size=10, n_continuous=0, dtype=dtype)
    assert control.cube_max > 1e3 * tolerance  # even grid: stride 2 cannot be centred, so not exact


def test_layers_run_under_autocast_bfloat16():
    t = FieldType([2, 1, 1])
    stack = nn.Sequential(
        SteerableConv3d(FieldType([1]), gated_type(t), 3),
        SteerableBatchNorm3d(gated_type(t)),
        GatedNonlinearity(t),
        NormNonlinearity(t),
        LowPassDownsample3d(t),
        GlobalInvariantPool(t),
    )
    x = torch.randn(2, 1, 9, 9, 9)
    with torch.no_grad():
        reference = stack(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = stack(x)
    assert low.dtype == torch.bfloat16
    assert float((low.float() - reference).norm() / reference.norm()) < 3e-2
    stack(x).sum().backward()
