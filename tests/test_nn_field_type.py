"""FieldType: channel layout, fiber rotations, equality."""

from __future__ import annotations

import pytest
import torch

from protsteer.nn import FieldType
from protsteer.so3 import random_rotations, wigner_D


def test_dimensions_and_layout():
    t = FieldType([2, 1, 3, 0, 0])
    assert t.multiplicities == (2, 1, 3)
    assert t.dim == 2 + 3 + 15
    assert t.lmax == 2 and t.n_fields == 6 and t.n_scalars == 2
    assert t.channel_slice(0) == slice(0, 2)
    assert t.channel_slice(1) == slice(2, 5)
    assert t.channel_slice(2) == slice(5, 20)
    assert t.field_of_channel.tolist() == [0, 1, 2, 2, 2] + [3] * 5 + [4] * 5 + [5] * 5


def test_split_gives_per_order_views():
    t = FieldType([1, 2, 1])
    x = torch.arange(t.dim, dtype=torch.float32).view(1, t.dim, 1, 1, 1)
    blocks = t.split(x)
    assert sorted(blocks) == [0, 1, 2]
    assert blocks[1].shape == (1, 2, 3, 1, 1, 1)
    assert blocks[1][0, 1, :, 0, 0, 0].tolist() == [4.0, 5.0, 6.0]  # second vector field


def test_fiber_rotation_is_block_diagonal_wigner():
    t = FieldType([1, 2, 1])
    R = random_rotations(1, dtype=torch.float64)[0]
    D = t.fiber_rotation(R)
    assert D.shape == (t.dim, t.dim)
    assert torch.allclose(D[1:4, 1:4], R) and torch.allclose(D[4:7, 4:7], R)
    assert torch.allclose(D[7:, 7:], wigner_D(2, R))
    assert D[1:4, 4:].abs().max() == 0
    assert torch.allclose(D @ D.T, torch.eye(t.dim, dtype=torch.float64), atol=1e-12)


def test_equality_hash_and_sum():
    assert FieldType([1, 2]) == FieldType([1, 2, 0])
    assert hash(FieldType([1, 2])) == hash(FieldType([1, 2, 0]))
    assert FieldType([1, 2]) != FieldType([2, 1])
    assert FieldType([1, 2]) + FieldType([0, 0, 1]) == FieldType([1, 2, 1])
    assert repr(FieldType([3, 1])) == "FieldType([3, 1])"


def test_negative_multiplicity_rejected():
    with pytest.raises(ValueError, match="multiplicities"):
        FieldType([1, -1])
