"""The 3D Tetris toy problem of the paper: 8 shapes of 4 cubes, to check rotation invariance end to end.

A network trained on one orientation per shape must classify every rotated copy: a steerable network
generalises by construction, a plain CNN does not. Shapes are point sets (one point per cube, unit spacing);
they are rotated as point sets and then voxelised as sums of Gaussians, so continuous rotations involve no
resampling of a grid. Used by the tests and by ``benchmarks/tetris.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from protsteer.nn.batchnorm import SteerableBatchNorm3d
from protsteer.nn.equivariance import smooth_field

#: cube positions of the 8 shapes (two are mirror images: only a rotation-, not reflection-invariant
#: classifier can tell them apart)
TETRIS_SHAPES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "chiral_left": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)),
    "chiral_right": ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)),
    "square": ((0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)),
    "line": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)),
    "corner": ((0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)),
    "L": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)),
    "T": ((0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)),
    "zigzag": ((0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)),
}


def tetris_points() -> torch.Tensor:
    """``[8, 4, 3]`` float64 cube centres of each shape (unit spacing), centred on the shape's centroid."""
    points = torch.tensor(list(TETRIS_SHAPES.values()), dtype=torch.float64)
    return points - points.mean(dim=1, keepdim=True)


def tetris_grids(
    rotations: torch.Tensor | None = None,
    grid_size: int = 15,
    unit: float = 2.0,
    sigma: float = 1.0,
    shifts: torch.Tensor | None = None,
    fill: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxelised Tetris shapes, every shape in every given orientation.

    Args:
        rotations: ``[N, 3, 3]`` rotation matrices applied to the point sets (``None``: the identity only).
        grid_size: ``G``, voxels per side.
        unit: cube spacing in voxels.
        sigma: Gaussian width per cube in voxels.
        shifts: ``[N * 8, 3]`` translations (voxels) added after rotating, or ``None``.
        fill: blobs per cube edge. 1: one blob at each cube's centre; ``n > 1``: ``n^3`` blobs on a regular
            sub-grid filling each cube (spacing ``unit / n``), i.e. solid cubes as in the paper's code when
            ``sigma`` is about the spacing.

    Returns:
        ``(grids [N * 8, 1, G, G, G] float32, labels [N * 8] int64)``, rotation-major.
    """
    if rotations is None:
        rotations = torch.eye(3, dtype=torch.float64)[None]
    points = tetris_points() * unit  # [8, 4, 3]
    offsets = (torch.arange(fill, dtype=torch.float64) + 0.5) / fill - 0.5
    cube = torch.stack(torch.meshgrid(offsets, offsets, offsets, indexing="ij"), -1).reshape(-1, 3) * unit
    points = (points[:, :, None, :] + cube[None, None]).reshape(8, -1, 3)
    rotated = torch.einsum("rij,snj->rsni", rotations.to(torch.float64), points).reshape(
        -1, points.shape[1], 3
    )
    if shifts is not None:
        rotated = rotated + shifts.to(torch.float64)[:, None, :]
    weights = torch.ones(rotated.shape[0], rotated.shape[1], 1, dtype=torch.float64)
    grids = smooth_field(rotated, weights, grid_size, sigma).float()
    labels = torch.arange(len(TETRIS_SHAPES)).repeat(rotations.shape[0])
    return grids, labels


def fit_tetris(
    network: nn.Module,
    grid_size: int,
    unit: float = 2.0,
    sigma: float = 1.0,
    orientation: torch.Tensor | None = None,
    jitter: float = 0.0,
    copies: int = 1,
    max_steps: int = 200,
    lr: float = 0.01,
    target_loss: float = 0.05,
    fill: int = 1,
    decay_start: int | None = None,
    decay: float = 0.98,
) -> int:
    """Train ``network`` with Adam on the 8 shapes in ONE orientation until it fits them with a small loss.

    Each step uses the 8 shapes in ``orientation`` (``[3, 3]``, default the identity), ``copies`` times, each
    copy translated by a random offset in ``[-jitter, jitter]^3`` voxels (no rotation; 0 = no translation).
    ``fill`` is passed to :func:`tetris_grids`. The learning rate is ``lr`` up to step ``decay_start``, then
    multiplied by ``decay`` at every further step (the paper's schedule: 0.1, decay 0.98 after step 100;
    ``None``: constant). Stops after ``max_steps`` or once every training grid is right and the loss is
    below ``target_loss``.
    Then sets the batch-norm running statistics to those of the training grids (one pass with momentum 1),
    so eval mode reproduces training mode, and leaves the network in eval mode.

    Returns:
        the number of optimisation steps taken.
    """
    rotation = (torch.eye(3) if orientation is None else orientation)[None].repeat(copies, 1, 1)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        shifts = (torch.rand(8 * copies, 3) * 2 - 1) * jitter if jitter > 0 else None
        return tetris_grids(rotation, grid_size, unit, sigma, shifts, fill)

    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: 1.0 if decay_start is None else decay ** max(0, step - decay_start),
    )
    network.train()
    steps = 0
    while steps < max_steps:
        grids, labels = batch()
        logits = network(grids)
        loss = F.cross_entropy(logits, labels)
        if bool((logits.argmax(dim=1) == labels).all()) and loss.item() < target_loss:
            break  # fitted: keep exactly these weights
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        steps += 1
    norms = [m for m in network.modules() if isinstance(m, (nn.BatchNorm3d, SteerableBatchNorm3d))]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.momentum = 1.0
    with torch.no_grad():
        network(batch()[0])
    for module, momentum in zip(norms, momenta, strict=True):
        module.momentum = momentum
    network.eval()
    return steps
