"""Tetris: a steerable network trained on one orientation per shape classifies all 24 grid rotations."""

from __future__ import annotations

import pytest
import torch

from protsteer.networks import SteerableCNN
from protsteer.networks.tetris import TETRIS_SHAPES, fit_tetris, tetris_grids, tetris_points
from protsteer.so3 import cube_rotations, rotate_grid


def test_shapes_are_distinct_up_to_rotation():
    points = tetris_points()
    assert points.shape == (8, 4, 3) and len(TETRIS_SHAPES) == 8
    # rotation-invariant fingerprint: sorted pairwise distances; only the mirror pair shares one
    fingerprints = [
        tuple(torch.cdist(p, p).flatten().sort().values.round(decimals=6).tolist()) for p in points
    ]
    assert len(set(fingerprints)) == 7
    assert fingerprints[0] == fingerprints[1]  # chiral_left / chiral_right: mirror images


def test_shifts_translate_the_shapes():
    shifted, _ = tetris_grids(
        None, grid_size=9, unit=1.5, sigma=0.8, shifts=torch.tensor([[1.0, 0.0, 0.0]] * 8)
    )
    grids, _ = tetris_grids(None, grid_size=9, unit=1.5, sigma=0.8)
    assert torch.allclose(shifted[..., 1:, :, :], grids[..., :-1, :, :], atol=1e-6)


@pytest.mark.parametrize("fill", [1, 3])
def test_grids_rotate_with_the_points(fill):
    R = cube_rotations()[7]
    grids, labels = tetris_grids(None, grid_size=9, unit=1.5, sigma=0.8, fill=fill)
    rotated, rotated_labels = tetris_grids(R[None], grid_size=9, unit=1.5, sigma=0.8, fill=fill)
    assert grids.shape == (8, 1, 9, 9, 9) and torch.equal(labels, rotated_labels)
    assert torch.allclose(rotated, rotate_grid(grids, R), atol=1e-6)


def test_filled_cubes_are_solid():
    """fill n: n^3 blobs per cube on a regular sub-grid, so a line of 4 cubes is a solid 4 x 1 x 1 bar."""
    grids, _ = tetris_grids(None, grid_size=21, unit=4.0, sigma=0.6, fill=4)
    line = grids[list(TETRIS_SHAPES).index("line"), 0]
    bar = line[10, 10, 3:18]  # along the line's axis (z), through its centre
    assert bar.min() > 0.9 * bar.max()  # no dips between cubes or between blobs
    assert line[10, 10, 0] < 0.05 * bar.max() and line[13, 10, 10] < 0.05 * bar.max()  # sharp faces


def test_trained_on_one_orientation_classifies_all_24_grid_rotations():
    grids, labels = tetris_grids(None, grid_size=11, unit=2.0, sigma=0.8)
    network = SteerableCNN(
        1,
        8,
        preset="tiny",
        stages=[[4, 2, 1], [4, 2, 1], [8, 4, 2]],
        blocks=[0, 1, 1],
        input_downsample=False,
    )
    fit_tetris(network, grid_size=11, unit=2.0, sigma=0.8, max_steps=200)
    test_grids = torch.cat([rotate_grid(grids, R) for R in cube_rotations()])
    with torch.no_grad():
        predictions = network(test_grids).argmax(dim=1)
    assert bool((predictions == labels.repeat(24)).all())


def test_learning_rate_decay_schedule():
    """decay_start=0, decay=0: only the first step moves the weights; without decay every step does."""

    def trained(steps: int, decay_start: int | None) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        network = SteerableCNN(1, 8, preset="tiny", stages=[[2, 1], [2, 1]], blocks=[0, 0], head_hidden=8)
        fit_tetris(
            network,
            grid_size=9,
            unit=1.5,
            sigma=0.8,
            max_steps=steps,
            lr=0.05,
            target_loss=0.0,
            decay_start=decay_start,
            decay=0.0,
        )
        return {k: v.clone() for k, v in network.state_dict().items()}

    def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(trained(1, 0), trained(4, 0))
    assert not same(trained(1, None), trained(4, None))
