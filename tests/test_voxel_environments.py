"""Residue environments and domain atom sets: neighbour search, own side chain, models, batching."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import gemmi
import numpy as np
import pytest
import torch

from protsteer.errors import ProtsteerError
from protsteer.so3 import random_rotations
from protsteer.structure import ReadPolicy, backbone_frames, read_structure
from protsteer.voxel import (
    DOMAIN_ATOM_SPEC,
    DOMAIN_CA_SPEC,
    RESIDUE_SPEC,
    VoxelSpec,
    channel_membership,
    concatenate_environments,
    domain_environment,
    environment_centres,
    neighbor_pairs,
    principal_frame,
    residue_environments,
)

DATA = Path(__file__).resolve().parent / "data"


ROTATION = random_rotations(1, generator=torch.Generator().manual_seed(3)).double().numpy()[0]
SHIFT = np.array([13.0, -40.0, 7.5])


def moved_copy(structure, rotation: np.ndarray, shift: np.ndarray):
    """``structure`` with every position p replaced by ``rotation @ p + shift`` (Angstrom)."""

    def move(xyz):
        return (xyz.astype(np.float64) @ rotation.T + shift).astype(np.float32)

    return dataclasses.replace(
        structure,
        coords=move(structure.coords),
        backbone=move(structure.backbone),
        virtual_cb=move(structure.virtual_cb),
    )


def assert_same_grids(first: torch.Tensor, second: torch.Tensor) -> None:
    """Equal grids up to the rare voxel at the 3-sigma truncation edge, where a tiny coordinate change
    switches a density of exp(-4.5) = 0.011 on or off."""
    difference = (first - second).abs()
    assert difference.max() < 0.012 and (difference > 2e-4).float().mean() < 1e-4


@pytest.fixture(scope="module")
def antibody():
    return read_structure(DATA / "1LVE.pdb.gz")


@pytest.fixture(scope="module")
def metallo():
    return read_structure(DATA / "beryllium__3A10.pdb.gz")


@pytest.mark.parametrize("ball", [False, True])
def test_neighbor_pairs_match_brute_force(ball):
    rng = np.random.default_rng(0)
    points = rng.uniform(-20, 40, size=(3000, 3))
    centres = rng.uniform(-30, 50, size=(200, 3))
    centres[7] = np.nan
    reach = 7.5
    centre_index, point_index = neighbor_pairs(points, centres, reach, ball=ball)
    delta = points[None] - centres[:, None]
    expected = (delta**2).sum(-1) <= reach**2 if ball else (np.abs(delta) <= reach).all(-1)
    got = np.zeros_like(expected)
    got[centre_index, point_index] = True
    assert np.array_equal(got, expected) and len(centre_index) == expected.sum()
    assert np.all(np.diff(centre_index) >= 0)
    empty = neighbor_pairs(np.zeros((0, 3)), centres, reach)
    assert len(empty[0]) == len(empty[1]) == 0


@pytest.mark.parametrize("spec", [VoxelSpec(), RESIDUE_SPEC], ids=["box", "crop-ball"])
def test_environments_equal_brute_force_selection(metallo, spec):
    envs = residue_environments(metallo, spec)
    assert envs.n_env == metallo.n_residues and envs.residue_rows.tolist() == list(range(metallo.n_residues))
    membership = channel_membership(metallo.element, metallo.atom_name, metallo.residue_index, spec.channels)
    centres = environment_centres(metallo)
    for row in (0, 5, 57, metallo.n_residues - 1):
        delta = metallo.coords - centres[row]
        if spec.crop_radius is None:
            inside = (np.abs(delta) <= spec.reach).all(axis=1)
        else:
            inside = (delta**2).sum(axis=1) <= spec.crop_radius**2
        own_sidechain = (metallo.residue_index == row) & metallo.is_sidechain
        atoms = np.flatnonzero(inside & ~own_sidechain)
        expected = sorted(
            (tuple(np.round(delta[a], 4)), c) for a in atoms for c in np.flatnonzero(membership[a])
        )
        part = slice(envs.offsets[row], envs.offsets[row + 1])
        got = sorted(
            (tuple(np.round(xyz, 4)), c) for xyz, c in zip(envs.coords[part], envs.channel[part], strict=True)
        )
        assert got == expected
        assert (envs.env_index[part] == row).all()


def test_own_side_chain_removed_but_backbone_and_neighbours_kept(antibody):
    envs = residue_environments(antibody)
    row = int(np.flatnonzero(antibody.residues.resname == "TRP")[0])
    part = slice(envs.offsets[row], envs.offsets[row + 1])
    centre = environment_centres(antibody)[row]
    atom_offsets = antibody.coords - centre
    own = antibody.residue_index == row
    own_side = atom_offsets[own & antibody.is_sidechain]
    own_backbone = atom_offsets[own & ~antibody.is_sidechain]
    entries = {tuple(np.round(xyz, 4)) for xyz in envs.coords[part]}
    assert len(own_side) == 10  # CB + 9 ring atoms of TRP
    assert not any(tuple(np.round(xyz, 4)) in entries for xyz in own_side)
    assert all(tuple(np.round(xyz, 4)) in entries for xyz in own_backbone)


def test_virtual_cb_geometry(antibody):
    ca, vcb = antibody.ca, antibody.virtual_cb
    bond = np.linalg.norm(vcb - ca, axis=1)
    assert 1.0 < bond.min() and bond.max() < 2.0 and abs(np.median(bond) - 1.55) < 0.05
    real_cb = {}
    for atom in np.flatnonzero(antibody.atom_name == "CB"):
        real_cb[int(antibody.residue_index[atom])] = antibody.coords[atom]
    rows = np.array(sorted(real_cb))
    distance = np.linalg.norm(vcb[rows] - np.stack([real_cb[r] for r in rows]), axis=1)
    assert np.median(distance) < 0.2 and distance.max() < 0.6
    glycine = antibody.residues.resname == "GLY"
    assert glycine.any() and np.isfinite(vcb[glycine]).all()


def test_rotatable_environments_give_the_same_unrotated_grid(antibody):
    rows = np.arange(0, antibody.n_residues, 9)
    cube = residue_environments(antibody, residue_mask=rows)
    ball = residue_environments(antibody, residue_mask=rows, rotatable=True)
    assert (ball.atom_counts() >= cube.atom_counts()).all()
    torch.testing.assert_close(ball.voxelize(), cube.voxelize(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ProtsteerError, match="rotatable"):
        cube.voxelize(random_rotations(len(rows)))


def test_rotated_grid_equals_grid_of_the_rotated_structure(antibody):
    """Augmentation = looking at the same residue in a rotated copy of the structure (nothing cut off)."""
    rotations = random_rotations(3, generator=torch.Generator().manual_seed(7)).double().numpy()
    rows = [10, 50, 90]
    ball = residue_environments(antibody, residue_mask=rows, rotatable=True)
    augmented = ball.voxelize(torch.from_numpy(rotations).float())
    for i, (row, rotation) in enumerate(zip(rows, rotations, strict=True)):
        centre = environment_centres(antibody)[row].astype(np.float64)
        rotated = moved_copy(antibody, rotation, centre - rotation @ centre)
        expected = residue_environments(rotated, residue_mask=[row]).voxelize()
        torch.testing.assert_close(augmented[i : i + 1], expected, rtol=1e-4, atol=1e-4)


def test_backbone_frames_are_rotations_along_the_backbone(antibody):
    backbone = antibody.backbone.astype(np.float64)
    frames = backbone_frames(backbone[:, 0], backbone[:, 1], backbone[:, 2])
    defined = np.isfinite(frames).all(axis=(1, 2))
    assert defined.mean() > 0.95
    f = frames[defined]
    np.testing.assert_allclose(f @ f.transpose(0, 2, 1), np.broadcast_to(np.eye(3), f.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(f), 1.0, atol=1e-9)
    along = backbone[defined, 2] - backbone[defined, 1]  # CA -> C lies on +x
    np.testing.assert_allclose(np.einsum("rij,rj->ri", f, along)[:, 1:], 0.0, atol=1e-9)
    to_n = np.einsum("rij,rj->ri", f, backbone[defined, 0] - backbone[defined, 1])
    assert (to_n[:, 1] > 0).all() and np.abs(to_n[:, 2]).max() < 1e-9  # N in the x-y plane, y > 0
    missing = np.full(3, np.nan)
    assert np.isnan(backbone_frames(missing, np.zeros(3), np.ones(3))).all()
    assert np.isnan(backbone_frames(np.array([2.0, 2, 2]), np.zeros(3), np.ones(3))).all()  # collinear


def test_backbone_frame_environments_do_not_depend_on_the_input_orientation(antibody):
    rows = np.arange(0, antibody.n_residues, 7)
    moved = moved_copy(antibody, ROTATION, SHIFT)
    local = residue_environments(antibody, residue_mask=rows, frame="local")
    local_moved = residue_environments(moved, residue_mask=rows, frame="local")
    assert local.frame == "local" and local.rotatable
    assert np.array_equal(local.offsets, local_moved.offsets)
    for env in range(local.n_env):  # the same atoms at the same local positions (in another order)
        part = slice(local.offsets[env], local.offsets[env + 1])
        gap = np.linalg.norm(local.coords[part, None] - local_moved.coords[None, part], axis=-1)
        same_channel = local.channel[part, None] == local_moved.channel[None, part]
        assert np.where(same_channel, gap, np.inf).min(axis=1).max() < 2e-4
    assert_same_grids(local.voxelize(), local_moved.voxelize())
    # control: the input frame does change with the orientation, and the frame is a rotation of it
    plain, plain_moved = (
        residue_environments(s, residue_mask=rows, rotatable=True) for s in (antibody, moved)
    )
    assert (plain.voxelize() - plain_moved.voxelize()).abs().max() > 0.1
    frames = backbone_frames(*(antibody.backbone[rows, i] for i in range(3)))
    np.testing.assert_allclose(
        local.coords, np.einsum("mij,mj->mi", frames[plain.env_index], plain.coords), atol=1e-4
    )
    with pytest.raises(ProtsteerError, match="frame"):
        residue_environments(antibody, residue_mask=rows, frame="global")
    with pytest.raises(ProtsteerError, match="frames"):
        concatenate_environments([local, plain])


def test_residues_without_a_backbone_frame_keep_the_input_axes(antibody):
    backbone = antibody.backbone.copy()
    backbone[5, 0] = np.nan  # residue 5 without N: no frame (its stored centre is kept here)
    broken = dataclasses.replace(antibody, backbone=backbone)
    local = residue_environments(broken, residue_mask=[4, 5], frame="local")
    plain = residue_environments(broken, residue_mask=[4, 5], rotatable=True)
    part = slice(local.offsets[1], local.offsets[2])
    np.testing.assert_array_equal(local.coords[part], plain.coords[part])
    assert not np.allclose(local.coords[: local.offsets[1]], plain.coords[: plain.offsets[1]])


def test_principal_frame_domains_do_not_depend_on_the_input_orientation(antibody):
    moved = moved_copy(antibody, ROTATION, SHIFT)
    for spec in (DOMAIN_CA_SPEC, DOMAIN_ATOM_SPEC):
        local, local_moved = (
            domain_environment(s, spec, "A:1-110", frame="local") for s in (antibody, moved)
        )
        assert local.frame == "local"
        assert_same_grids(local.voxelize(), local_moved.voxelize())
        plain, plain_moved = (domain_environment(s, spec, "A:1-110") for s in (antibody, moved))
        assert (plain.voxelize() - plain_moved.voxelize()).abs().max() > 0.1  # control
    points = np.random.default_rng(1).normal(size=(200, 3)) * [9.0, 4.0, 1.0] + [3.0, 0.0, 0.0]
    axes = principal_frame(points)
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(axes) > 0 and abs(axes[0, 0]) > 0.99 and abs(axes[1, 1]) > 0.99
    np.testing.assert_allclose(principal_frame(points @ ROTATION.T), axes @ ROTATION.T, atol=1e-6)
    np.testing.assert_array_equal(principal_frame(points[:2]), np.eye(3))


def test_residue_mask_forms_agree(antibody):
    mask = np.zeros(antibody.n_residues, dtype=bool)
    mask[[3, 40, 41]] = True
    by_mask = residue_environments(antibody, residue_mask=mask)
    by_rows = residue_environments(antibody, residue_mask=np.array([41, 3, 40]))
    assert by_mask.residue_rows.tolist() == by_rows.residue_rows.tolist() == [3, 40, 41]
    assert np.array_equal(by_mask.coords, by_rows.coords)
    full = residue_environments(antibody)
    selected = full.select(mask)
    assert np.array_equal(selected.coords, by_mask.coords) and np.array_equal(
        selected.offsets, by_mask.offsets
    )


def test_select_and_concatenate_batch_consistently(antibody, metallo):
    first = residue_environments(antibody, residue_mask=np.arange(4))
    second = residue_environments(metallo, residue_mask=np.arange(3))
    batch = concatenate_environments([first, second])
    assert batch.n_env == 7 and batch.residue_rows.tolist() == [0, 1, 2, 3, 0, 1, 2]
    grids = batch.voxelize()
    torch.testing.assert_close(grids, torch.cat([first.voxelize(), second.voxelize()]))
    torch.testing.assert_close(batch.select([5, 0]).voxelize(), grids[[5, 0]])
    with pytest.raises(ProtsteerError):
        concatenate_environments([first, residue_environments(metallo, DOMAIN_ATOM_SPEC, np.arange(2))])


def test_models_are_never_mixed(tmp_path):
    structure = gemmi.read_structure(str(DATA / "1LVE.pdb.gz"))
    structure.remove_waters()
    second = structure[0].clone()
    second.num = 2
    structure.add_model(second)
    path = tmp_path / "two_models.pdb"
    structure.write_pdb(str(path))
    single = read_structure(path)
    both = read_structure(path, ReadPolicy(model="all"))
    assert both.n_residues == 2 * single.n_residues
    one_env = residue_environments(single)
    two_env = residue_environments(both)
    counts = two_env.atom_counts()
    assert np.array_equal(counts[: single.n_residues], one_env.atom_counts())
    assert np.array_equal(counts[single.n_residues :], one_env.atom_counts())


def test_domain_environment_ca_and_atoms(antibody):
    ca_only = domain_environment(antibody, DOMAIN_CA_SPEC, "A:1-50")
    assert ca_only.n_env == 1 and ca_only.residue_rows.tolist() == [-1]
    n_selected = 50 + 6  # 1-50 plus insertions 27A-27F
    assert len(ca_only.coords) == n_selected
    assert np.allclose(ca_only.coords.astype(np.float64).mean(axis=0), 0.0, atol=1e-4)
    grid = ca_only.voxelize()
    assert grid.shape == (1, 1, 50, 50, 50) and grid.sum() > 0
    atoms = domain_environment(antibody, DOMAIN_ATOM_SPEC)
    assert len(atoms.coords) == (antibody.residue_index >= 0).sum()
    rotated = atoms.voxelize(random_rotations(1))
    assert rotated.shape == (1, 5, 50, 50, 50)
    with pytest.raises(ProtsteerError, match="matches no residue"):
        domain_environment(antibody, DOMAIN_CA_SPEC, "Z:1-10")


def test_backbone_sidechain_channel_split(metallo):
    spec = VoxelSpec(channels=("C:backbone", "C:sidechain", "all:hetero", "S"))
    membership = channel_membership(metallo.element, metallo.atom_name, metallo.residue_index, spec.channels)
    carbon = metallo.element == 6
    assert np.array_equal(membership[:, 0] | membership[:, 1], carbon & (metallo.residue_index >= 0))
    assert np.array_equal(membership[:, 2], metallo.residue_index < 0)
    selenium = metallo.element == 34
    assert selenium.any() and membership[selenium, 3].all()
    envs = residue_environments(metallo, spec, residue_mask=np.arange(5))
    assert envs.voxelize().shape == (5, 4, 21, 21, 21)


def test_crop_ball_gives_every_orientation_the_same_atoms(metallo):
    """A cube's corners hold different atoms in each orientation; the crop ball holds the same ones."""
    rotations = random_rotations(8, generator=torch.Generator().manual_seed(3), dtype=torch.float64).float()
    spread = {}
    for name, spec in (("box", VoxelSpec()), ("ball", RESIDUE_SPEC)):
        envs = residue_environments(metallo, spec, residue_mask=[5, 57], rotatable=True)
        totals = torch.stack(
            [envs.voxelize(rotations[[i, i]]).sum(dim=(1, 2, 3, 4)) for i in range(len(rotations))]
        )  # [rotations, environments]: density inside the grid
        spread[name] = float((totals.std(dim=0) / totals.mean(dim=0)).max())
    assert spread["ball"] < 2e-3 and spread["box"] > 10 * spread["ball"], spread
    with pytest.raises(ProtsteerError, match="crop_radius"):
        VoxelSpec(crop_radius=0.0)
    saved_before_crop = {k: v for k, v in RESIDUE_SPEC.to_dict().items() if k != "crop_radius"}
    assert VoxelSpec.from_dict(saved_before_crop) == VoxelSpec()
    assert VoxelSpec.from_dict(RESIDUE_SPEC.to_dict()) == RESIDUE_SPEC
    assert RESIDUE_SPEC.rotation_reach == 9.0
    assert VoxelSpec(crop_radius=99.0).rotation_reach == VoxelSpec().rotation_reach
