"""SteerableConv3d: exact cube equivariance, a failing control, init variance, bias, eval cache, autocast, and
the factored algorithm (the same map and gradients as the expanded kernel; when ``"auto"`` picks it)."""

from __future__ import annotations

import pytest
import torch

from protsteer.nn import FieldType, SteerableConv3d, check_equivariance
from protsteer.nn.conv import FACTORED_AUTO_MAX_COST

CASES = [
    # in multiplicities, out multiplicities, kernel size, stride, grid
    ([1], [2, 2, 1], 5, 1, 9),
    ([2, 1, 1], [1, 2, 1, 1], 5, 1, 8),  # even grid: stride 1 is exact on any grid
    ([1, 1, 1], [2, 1, 1], 3, 2, 9),  # stride 2 on an odd grid is exact (centred output)
    ([0, 1, 0, 1], [1, 0, 2], 7, 1, 7),
    ([2, 2], [2, 2], 1, 1, 5),
]


@pytest.mark.parametrize("algorithm", ["expanded", "factored"])
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize(("m_in", "m_out", "kernel_size", "stride", "grid"), CASES)
def test_exact_equivariance_on_cube_rotations(
    m_in, m_out, kernel_size, stride, grid, dtype, tolerance, algorithm
):
    t_in, t_out = FieldType(m_in), FieldType(m_out)
    conv = SteerableConv3d(t_in, t_out, kernel_size, stride=stride, algorithm=algorithm)
    with torch.no_grad():
        conv.bias.normal_()
    report = check_equivariance(conv, t_in, t_out, grid_size=grid, n_continuous=0, dtype=dtype)
    assert len(report.cube_errors) == 24
    assert report.cube_max <= tolerance


def test_control_without_fiber_rotation_fails():
    t_in, t_out = FieldType([1, 1, 1]), FieldType([1, 2, 1])
    conv = SteerableConv3d(t_in, t_out, 5)
    report = check_equivariance(conv, t_in, t_out, grid_size=9, n_continuous=0, rotate_fibers=False)
    assert report.cube_max > 0.1
    assert report.cube_errors[0] < 1e-12  # the identity is the only rotation left unaffected


def test_variance_preserving_init():
    t_in, t_out = FieldType([8, 8, 8]), FieldType([8, 8, 8])
    variances = []
    for seed in range(3):
        torch.manual_seed(seed)
        conv = SteerableConv3d(t_in, t_out, 5)
        with torch.no_grad():
            y = conv(torch.randn(2, t_in.dim, 15, 15, 15))[..., 2:-2, 2:-2, 2:-2]  # away from the padding
        variances.append(y.var(dim=(0, 2, 3, 4)))
    per_channel = torch.stack(variances).mean(0)
    for l in range(3):
        assert 0.75 < float(per_channel[t_out.channel_slice(l)].mean()) < 1.33


def test_bias_only_on_scalar_fields():
    t_in, t_out = FieldType([1, 1]), FieldType([2, 1, 1])
    conv = SteerableConv3d(t_in, t_out, 3)
    assert conv.bias.shape == (2,)
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([1.5, -2.0]))
        y = conv(torch.zeros(1, t_in.dim, 5, 5, 5))
    assert torch.allclose(y[0, :, 2, 2, 2], torch.tensor([1.5, -2.0] + [0.0] * 8))
    assert SteerableConv3d(FieldType([0, 1]), FieldType([0, 1]), 3).bias is None


def test_gradients_reach_weights_and_bias():
    conv = SteerableConv3d(FieldType([1, 1]), FieldType([1, 1]), 3)
    conv(torch.randn(2, 4, 5, 5, 5)).square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert conv.bias.grad is not None and conv.bias.grad.abs().sum() > 0


def test_eval_kernel_cache_and_its_invalidation():
    t = FieldType([2, 1])
    conv = SteerableConv3d(t, t, 3)
    x = torch.randn(1, t.dim, 5, 5, 5)
    conv.train()
    conv(x)
    assert conv.cached_kernel is None  # never cached in training
    conv.eval()
    with torch.no_grad():
        y0 = conv(x)
        cached = conv.cached_kernel
        assert cached is not None
        conv(x)
        assert conv.cached_kernel is cached  # reused
    # an in-place parameter update (as an optimizer step does) invalidates it
    with torch.no_grad():
        conv.weight.add_(torch.randn_like(conv.weight))
    with torch.no_grad():
        y1 = conv(x)
        assert conv.cached_kernel is not cached
        assert torch.allclose(conv.cached_kernel, conv.expand_kernel())
    assert not torch.allclose(y0, y1)
    # train() drops it
    conv.train()
    assert conv.cached_kernel is None
    # load_state_dict invalidates it
    conv.eval()
    fresh = SteerableConv3d(t, t, 3)
    with torch.no_grad():
        conv(x)
        conv.load_state_dict(fresh.state_dict())
        assert torch.allclose(conv(x), fresh.eval()(x))
    # with autograd enabled in eval mode the kernel is not cached (gradients must reach the weights)
    conv._eval_cache = None
    conv(x).sum().backward()
    assert conv.cached_kernel is None and conv.weight.grad is not None


def test_state_dict_holds_only_parameters():
    conv = SteerableConv3d(FieldType([1, 1]), FieldType([1, 1]), 3)
    assert set(conv.state_dict()) == {"weight", "bias"}


def test_double_precision_copy_uses_float64_basis():
    conv = SteerableConv3d(FieldType([1, 1, 1]), FieldType([1, 1, 1]), 5).double()
    assert conv.basis_2_2.dtype == torch.float64
    flat = conv.basis_2_2.reshape(conv.basis_2_2.shape[0], -1)
    assert torch.allclose(flat @ flat.T, torch.eye(flat.shape[0], dtype=torch.float64), atol=1e-13)


@pytest.mark.parametrize("algorithm", ["expanded", "factored"])
def test_autocast_bfloat16_cpu_close_to_float32(algorithm):
    t_in, t_out = FieldType([2, 2, 1]), FieldType([2, 2, 1])
    conv = SteerableConv3d(t_in, t_out, 5, algorithm=algorithm)
    x = torch.randn(2, t_in.dim, 9, 9, 9)
    with torch.no_grad():
        reference = conv(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = conv(x)
    assert low.dtype == torch.bfloat16
    assert float((low.float() - reference).norm() / reference.norm()) < 2e-2
    report = check_equivariance(
        conv, t_in, t_out, grid_size=9, n_continuous=0, dtype=torch.float32, autocast_dtype=torch.bfloat16
    )
    assert report.cube_max < 2e-2


@pytest.mark.parametrize(
    ("m_in", "m_out", "kernel_size", "stride", "padding", "grid"),
    [
        ([2, 1, 1], [3, 2, 1], 5, 1, None, 9),
        ([1], [2, 1, 1], 3, 2, None, 9),  # strided, centred
        ([2, 2], [0, 1, 2], 5, 2, None, 11),  # no scalar output: no bias
        ([1, 1, 1], [1, 1], 3, 1, 0, 7),  # explicit padding
        ([0, 2], [2, 0, 1], 5, 1, None, 6),  # orders missing on both sides
    ],
)
def test_factored_equals_expanded_with_gradients(m_in, m_out, kernel_size, stride, padding, grid):
    torch.manual_seed(0)
    conv = SteerableConv3d(FieldType(m_in), FieldType(m_out), kernel_size, stride=stride, padding=padding)
    conv = conv.double()
    if conv.bias is not None:
        with torch.no_grad():
            conv.bias.normal_()
    x = torch.randn(3, conv.in_type.dim, grid, grid, grid, dtype=torch.float64, requires_grad=True)
    results = {}
    for algorithm in ("expanded", "factored"):
        conv.algorithm = algorithm
        out = conv(x)
        grads = torch.autograd.grad(out.square().sum(), [x, *conv.parameters()])
        results[algorithm] = (out, *grads)
    for expanded, factored in zip(results["expanded"], results["factored"], strict=True):
        assert expanded.shape == factored.shape
        assert float((expanded - factored).detach().abs().max() / expanded.detach().abs().max()) < 1e-13


def test_auto_runs_factored_only_for_cheap_cpu_inference_calls():
    wide = SteerableConv3d(
        FieldType([32, 16, 8]), FieldType([112, 32, 16]), 5
    )  # the propensity-v3 head layer
    narrow = SteerableConv3d(FieldType([5]), FieldType([14, 4, 2]), 5)  # its first layer
    assert wide.factored_cost < FACTORED_AUTO_MAX_COST < narrow.factored_cost
    x = torch.zeros(1, wide.in_type.dim, 5, 5, 5)
    assert not wide.runs_factored(x)  # training mode
    wide.eval()
    assert not wide.runs_factored(x)  # eval mode, but autograd would need the graph
    with torch.no_grad():
        assert wide.runs_factored(x)
        assert not narrow.eval().runs_factored(torch.zeros(1, 5, 5, 5, 5))
        wide.algorithm = "expanded"
        assert not wide.runs_factored(x)
    narrow.algorithm = "factored"
    assert narrow.train().runs_factored(torch.zeros(1, 5, 5, 5, 5))
    with pytest.raises(ValueError, match="algorithm"):
        SteerableConv3d(FieldType([1]), FieldType([1]), 3, algorithm="fft")


def test_factored_cost_counts_filtering_and_mixing():
    conv = SteerableConv3d(FieldType([1]), FieldType([1]), 3)  # one scalar pair: shells 0 and 1, J = 0
    n = conv.blocks[(0, 0)][1]
    assert conv.factored_cost == pytest.approx((n * 27 + n) / 27)
