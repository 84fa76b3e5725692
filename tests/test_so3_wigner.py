"""Wigner D matrices: representation properties, characters, special rotations, shapes and dtypes."""

from __future__ import annotations

import math

import pytest
import torch

from protsteer.so3 import (
    character,
    cube_rotations,
    random_rotations,
    rotation_matrix,
    spherical_harmonics,
    wigner_D,
)

ORDERS = range(9)
TOLERANCE = {torch.float64: 1e-11, torch.float32: 1e-5}


def rotation_angle(rotations: torch.Tensor) -> torch.Tensor:
    return torch.arccos(((rotations.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))


def identity(l: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.eye(2 * l + 1, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_orthogonal(dtype):
    rotations = random_rotations(10, dtype=dtype)
    for l in ORDERS:
        matrices = wigner_D(l, rotations)
        gram = matrices @ matrices.transpose(-1, -2)
        torch.testing.assert_close(gram, identity(l, dtype).expand_as(gram), atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_homomorphism(dtype):
    first, second = random_rotations(8, dtype=dtype), random_rotations(8, dtype=dtype)
    for l in ORDERS:
        torch.testing.assert_close(
            wigner_D(l, first @ second),
            wigner_D(l, first) @ wigner_D(l, second),
            atol=TOLERANCE[dtype],
            rtol=0,
        )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_trace_is_character(dtype):
    rotations = random_rotations(20, dtype=torch.float64)
    angles = rotation_angle(rotations)
    for l in ORDERS:
        traces = wigner_D(l, rotations.to(dtype)).diagonal(dim1=-2, dim2=-1).sum(-1).double()
        torch.testing.assert_close(traces, character(l, angles), atol=100 * TOLERANCE[dtype], rtol=0)


def test_character_formula():
    angles = torch.linspace(0.01, math.pi, 50, dtype=torch.float64)
    for l in ORDERS:
        closed_form = torch.sin((2 * l + 1) * angles / 2) / torch.sin(angles / 2)
        torch.testing.assert_close(character(l, angles), closed_form)
        assert float(character(l, 0.0)) == 2 * l + 1


def test_identity_and_low_orders():
    rotations = random_rotations(5, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(wigner_D(l, torch.eye(3, dtype=torch.float64)), identity(l, torch.float64))
    assert torch.equal(wigner_D(0, rotations), torch.ones(5, 1, 1, dtype=torch.float64))
    for dtype in (torch.float32, torch.float64):
        rotations = random_rotations(5, dtype=dtype)
        assert torch.equal(wigner_D(1, rotations), rotations)


def test_half_turns():
    axes = torch.tensor(
        [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 0], [0, 1, 1], [1, 2, 3]], dtype=torch.float64
    )
    half_turns = rotation_matrix(axes, math.pi)
    vectors = torch.randn(30, 3, dtype=torch.float64)
    for l in ORDERS:
        matrices = wigner_D(l, half_turns)
        # A half turn is an involution with character sum_m cos(m pi) = (-1)^l.
        torch.testing.assert_close(matrices @ matrices, identity(l, torch.float64).expand_as(matrices))
        assert torch.allclose(
            matrices.diagonal(dim1=-2, dim2=-1).sum(-1), torch.full((7,), (-1.0) ** l).double()
        )
        torch.testing.assert_close(
            spherical_harmonics(l, torch.einsum("rij,vj->rvi", half_turns, vectors)),
            torch.einsum("rmn,vn->rvm", matrices, spherical_harmonics(l, vectors)),
        )


def test_cube_rotations_give_a_representation():
    rotations = cube_rotations()
    table = torch.einsum("aij,bjk->abik", rotations, rotations)
    product_index = (table[:, :, None] - rotations[None, None]).abs().sum((-1, -2)).argmin(-1)
    for l in range(5):
        matrices = wigner_D(l, rotations)
        products = torch.einsum("aij,bjk->abik", matrices, matrices)
        torch.testing.assert_close(products, matrices[product_index])
        # The mean over the group projects onto invariants: one for l = 0 and l = 4, none for l = 1, 2, 3.
        mean_trace = matrices.mean(0).diagonal().sum()
        expected = {0: 1.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 1.0}[l]
        assert abs(float(mean_trace) - expected) < 1e-12


def test_batched_shapes_and_dtypes():
    for dtype in (torch.float32, torch.float64):
        rotations = random_rotations(6, dtype=dtype).reshape(2, 3, 3, 3)
        for l in ORDERS:
            matrices = wigner_D(l, rotations)
            assert matrices.shape == (2, 3, 2 * l + 1, 2 * l + 1)
            assert matrices.dtype == dtype
            assert wigner_D(l, rotations[1, 2]).shape == (2 * l + 1, 2 * l + 1)
            torch.testing.assert_close(wigner_D(l, rotations[1, 2]), matrices[1, 2])


def test_float32_matches_float64():
    rotations = random_rotations(10, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(
            wigner_D(l, rotations.float()).double(), wigner_D(l, rotations), atol=1e-5, rtol=0
        )


def test_inverse_is_transpose():
    rotations = random_rotations(10, dtype=torch.float64)
    for l in ORDERS:
        torch.testing.assert_close(
            wigner_D(l, rotations.transpose(-1, -2)), wigner_D(l, rotations).transpose(-1, -2)
        )


def test_bad_input():
    with pytest.raises(ValueError):
        wigner_D(2, torch.eye(4))
    with pytest.raises(ValueError):
        wigner_D(-1, torch.eye(3))
    with pytest.raises(ValueError):
        wigner_D(2, torch.eye(3, dtype=torch.int64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    rotations = random_rotations(10, dtype=torch.float64)
    vectors = torch.randn(20, 3, dtype=torch.float64)
    for l in ORDERS:
        on_device = wigner_D(l, rotations.cuda())
        assert on_device.device.type == "cuda"
        torch.testing.assert_close(on_device.cpu(), wigner_D(l, rotations))
        torch.testing.assert_close(
            spherical_harmonics(l, vectors.cuda()).cpu(), spherical_harmonics(l, vectors)
        )
    assert random_rotations(3, device="cuda").device.type == "cuda"
