"""check_equivariance and its helpers: rotated smooth inputs, centre probes, reports, controls."""

from __future__ import annotations

import math

import torch
from torch import nn

from protsteer.nn import FieldType, SteerableConv3d, check_equivariance, rotate_field, smooth_field
from protsteer.nn.equivariance import centre_probe
from protsteer.so3 import cube_rotations


def test_smooth_field_rotates_like_rotate_grid_on_cube_rotations():
    centres = torch.randn(2, 3, 3, dtype=torch.float64)
    features = torch.randn(2, 3, 4, dtype=torch.float64)
    field = smooth_field(centres, features, 7, 1.2)
    t = FieldType([1, 1])
    for R in cube_rotations()[1:5]:
        D = t.fiber_rotation(R)
        moved = smooth_field(centres @ R.T, features @ D.T, 7, 1.2)
        assert torch.allclose(moved, rotate_field(field, t, R), atol=1e-12)


def test_smooth_field_is_the_sum_of_gaussian_blobs():
    centres = torch.randn(2, 5, 3, dtype=torch.float64) * 2
    features = torch.randn(2, 5, 3, dtype=torch.float64)
    field = smooth_field(centres, features, 6, 0.9)
    axis = torch.arange(6, dtype=torch.float64) - 2.5
    coords = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)
    squared = (coords[None, None] - centres[:, :, None, None, None]).square().sum(-1)
    expected = torch.einsum("bnd,bnxyz->bdxyz", features, torch.exp(-0.5 * squared / 0.9**2))
    assert field.shape == (2, 3, 6, 6, 6)
    assert torch.allclose(field, expected, atol=1e-12)


def test_centre_probe_odd_and_even_grids():
    x = torch.arange(27.0).view(1, 1, 3, 3, 3)
    assert centre_probe(x).item() == 13.0
    y = torch.arange(64.0).view(1, 1, 4, 4, 4)
    assert centre_probe(y).item() == y[..., 1:3, 1:3, 1:3].mean().item()


def test_report_for_a_steerable_conv():
    t_in, t_out = FieldType([1, 1]), FieldType([1, 1, 1])
    report = check_equivariance(SteerableConv3d(t_in, t_out, 5), t_in, t_out, grid_size=11, n_continuous=3)
    assert report.cube_max < 1e-10
    assert len(report.continuous_errors) == 3 and len(report.rotation_angles) == 3
    assert 0.0 < report.continuous_mean < 0.1  # discretisation error: small but not zero
    assert report.passed(1e-10, 0.1) and not report.passed(1e-20)
    assert "24 cube rotations" in report.summary()


def test_a_non_equivariant_module_fails():
    t = FieldType([1])
    report = check_equivariance(nn.Conv3d(1, 1, 3, padding=1), t, t, grid_size=7, n_continuous=2)
    assert report.cube_max > 0.1 and report.continuous_mean > 0.1


def test_continuous_control_without_fiber_rotation_fails():
    t_in, t_out = FieldType([0, 1]), FieldType([0, 1])
    conv = SteerableConv3d(t_in, t_out, 5)
    good = check_equivariance(conv, t_in, t_out, grid_size=11, n_continuous=2)
    bad = check_equivariance(conv, t_in, t_out, grid_size=11, n_continuous=2, rotate_fibers=False)
    assert bad.continuous_mean > 5 * good.continuous_mean


def test_module_is_left_untouched():
    t = FieldType([1, 1])
    conv = SteerableConv3d(t, t, 3).train()
    before = conv.weight.detach().clone()
    check_equivariance(conv, t, t, grid_size=5, n_continuous=1)
    assert conv.training and conv.weight.dtype == torch.float32 and torch.equal(conv.weight, before)


def test_identity_is_exactly_equivariant_and_angles_are_in_radians():
    t = FieldType([1, 2])
    report = check_equivariance(nn.Identity(), t, t, grid_size=5, n_continuous=4)
    assert report.cube_max == 0.0 and report.continuous_max < 1e-12
    assert all(0.0 <= a <= math.pi for a in report.rotation_angles)
