"""Propensity training data: split index, target residues, family-aware weights, val subset, environments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from protsteer.errors import ProtsteerError
from protsteer.tasks.propensity.cache import StructureStore, build_cache, cache_root
from protsteer.tasks.propensity.data import (
    EnvironmentDataset,
    ResidueSamples,
    collate_environments,
    sampling_weights,
    split_samples,
    spread_subset,
)
from protsteer.tasks.propensity.metrics import (
    calibration_bins,
    confusion_matrix,
    family_bootstrap_difference,
    family_macro,
    fit_temperature,
    summary_metrics,
)
from protsteer.tasks.propensity.splits import SplitChain, read_split
from protsteer.voxel import VoxelSpec, residue_environments


def _toy_store() -> StructureStore:
    """File 0: chains A (3 residues, one X) and B (2 residues); file 1: chain A (2 residues)."""
    coords = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 2, 0], [9, 9, 9], [0, 0, 1], [5, 5, 5], [0, 0, 0]], np.float32
    )
    return StructureStore(
        files=["f0.pdb.gz", "f1.pdb.gz"],
        coords=coords,
        element=np.array([6, 6, 8, 7, 16, 6, 6], np.uint8),
        atom_name=np.array([b"CA", b"CB", b"OG", b"N", b"S", b"CB", b"CA"]),
        residue_index=np.array([0, 0, 1, 2, -1, 0, 1], np.int32),
        is_sidechain=np.array([False, True, True, False, False, True, False]),
        atom_offsets=np.array([0, 5, 7]),
        chain=np.array(["A", "A", "A", "B", "B", "A", "A"]),
        model=np.ones(7, np.int32),
        aa=np.array([0, -1, 3, 4, 5, 1, 2], np.int8),
        virtual_cb=np.array(
            [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [np.nan] * 3, [5, 5, 5], [0, 0, 0]], np.float32
        ),
        residue_offsets=np.array([0, 5, 7]),
    )


def test_split_samples_select_chain_residues_with_known_aa_and_virtual_cb():
    store = _toy_store()
    chains = [
        SplitChain("s/f0:A", "f0.pdb.gz", "A", "famX", 3),
        SplitChain("s/f0:B", "f0.pdb.gz", "B", "famY", 2),
        SplitChain("s/f1:A", "f1.pdb.gz", "A", "famX", 2),
        SplitChain("s/f2:A", "f2.pdb.gz", "A", "famZ", 5),
    ]
    samples = split_samples(store, chains)
    # f0:A rows 0 and 2 (row 1 is X), f0:B row 3 (row 4 has no virtual CB), f1:A rows 5 and 6; f2 not cached
    assert samples.residue.tolist() == [0, 2, 3, 5, 6]
    assert samples.label.tolist() == [0, 3, 4, 1, 2]
    assert [samples.family_names[f] for f in samples.family] == ["famX", "famX", "famY", "famX", "famX"]


def test_family_weights_are_sublinear_in_family_size():
    family = np.array([0] * 100 + [1] * 4)
    samples = ResidueSamples(
        np.zeros(104, np.int32), np.arange(104), np.zeros(104, np.int64), family, ["a", "b"]
    )
    for mode, expected_ratio in (("sqrt", 5.0), ("family", 1.0), ("residue", 25.0)):
        weights = sampling_weights(samples, mode)
        assert weights[family == 0].sum() / weights[family == 1].sum() == pytest.approx(expected_ratio)


def test_spread_subset_covers_every_family_and_is_deterministic():
    family = np.repeat(np.arange(10), [500, 3, 3, 3, 3, 3, 3, 3, 3, 3])
    samples = ResidueSamples(
        np.zeros(len(family), np.int32),
        np.arange(len(family)),
        np.zeros(len(family)),
        family,
        [str(i) for i in range(10)],
    )
    subset = spread_subset(samples, 50, seed=1)
    assert len(subset) == 50
    assert np.bincount(subset.family).tolist() == [23] + [3] * 9
    assert np.array_equal(subset.residue, spread_subset(samples, 50, seed=1).residue)
    assert np.all(np.diff(subset.residue) > 0)


def test_environment_removes_own_side_chain_only_and_crops_to_radius():
    store = _toy_store()
    samples = ResidueSamples(
        np.array([0], np.int32), np.array([0]), np.array([0]), np.array([0], np.int32), ["f"]
    )
    spec = VoxelSpec(box_size=3.0, voxel_size=1.0, sigma=0.5, truncation=2.0)  # rotation_reach = sqrt(3) + 1
    coords, channel, label = EnvironmentDataset(store, samples, spec)[0]
    # atoms of file 0 within 2.73 A of (0,0,0): 0 (own CA, kept), 1 (own side chain, removed), 2 (other
    # residue's side chain), 4 (context); atom 3 at (9, 9, 9) is too far. Channels C, N, O, S -> 0, 2, 3
    assert channel.tolist() == [0, 2, 3]
    assert np.allclose(coords, [[0, 0, 0], [0, 2, 0], [0, 0, 1]])
    assert label == 0
    batch = collate_environments([(coords, channel, 0), (coords[:1], channel[:1], 5)])
    assert batch[2].tolist() == [0, 0, 0, 1] and batch[3].tolist() == [0, 5]


def test_metrics_top_k_log_loss_confusion_and_family_macro():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1] + [0.0] * 17, [0.1, 0.2, 0.7] + [0.0] * 17]) + 1e-12)
    targets = torch.tensor([0, 1])
    metrics = summary_metrics(logits, targets)
    assert metrics["top1"] == 0.5 and metrics["top3"] == 1.0
    assert metrics["log_loss"] == pytest.approx(-(np.log(0.7) + np.log(0.2)) / 2, rel=1e-5)
    confusion = confusion_matrix(np.array([0, 2]), np.array([0, 1]))
    assert confusion[0, 0] == 1 and confusion[1, 2] == 1 and confusion.sum() == 2
    macro = family_macro({"top1": np.array([1.0, 1.0, 1.0, 0.0])}, np.array([0, 0, 0, 1]))
    assert macro["top1"] == 0.5


def test_calibration_error_and_reliability_bins():
    # bin [0.3, 0.4): 4 residues at 0.35, 1 right (accuracy 0.25); bin [0.9, 1]: 2 at 1.0, both right
    confidence = np.array([0.35, 0.35, 0.35, 0.35, 1.0, 1.0])
    correct = np.array([True, False, False, False, True, True])
    ece, rows = calibration_bins(confidence, correct, n_bins=10)
    assert ece == pytest.approx(4 / 6 * 0.1)
    assert [row["n"] for row in rows] == [0, 0, 0, 4, 0, 0, 0, 0, 0, 2]
    assert rows[3]["mean_confidence"] == pytest.approx(0.35) and rows[3]["accuracy"] == 0.25
    assert rows[9]["bin_low"] == 0.9 and rows[9]["bin_high"] == 1.0 and rows[9]["accuracy"] == 1.0
    assert np.isnan(rows[0]["accuracy"])
    calibrated, _ = calibration_bins(np.full(10, 0.55), np.arange(10) < 5)  # 0.55 vs 0.5 right
    assert calibrated == pytest.approx(0.05)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.0])
def test_fit_temperature_recovers_the_temperature_of_the_labels(true_temperature):
    """Labels drawn from softmax(logits / T0): the fit finds T0, and its log-loss is the lowest nearby."""
    generator = torch.Generator().manual_seed(0)
    logits = 2.0 * torch.randn(40_000, 20, generator=generator)
    targets = torch.multinomial(torch.softmax(logits / true_temperature, dim=1), 1, generator=generator)[:, 0]
    fit = fit_temperature(logits, targets)
    assert fit["temperature"] == pytest.approx(true_temperature, rel=0.03)
    assert fit["log_loss"] <= fit["log_loss_at_1"] + 1e-12
    for factor in (0.95, 1.05):
        nearby = torch.nn.functional.cross_entropy(logits / (fit["temperature"] * factor), targets)
        assert fit["log_loss"] < float(nearby)


def test_read_split_on_shared_data(shared_data):
    train = read_split(shared_data, "train")
    assert len({c.chain_key for c in train}) == len(train) > 1000
    assert all(chain.chain != "_" for chain in train)
    with pytest.raises(ProtsteerError):
        read_split(shared_data, "nonexistent")


def test_cached_environments_equal_the_inference_environments(shared_subset, tmp_path):
    from protsteer.structure.policy import ReadPolicy
    from protsteer.structure.reading import read_structure

    chains = [c for c in read_split(shared_subset, "train") if c.file.endswith("1A2K_l_b.pdb.gz")]
    root, errors = build_cache(shared_subset, [chains[0].file], tmp_path, ReadPolicy())
    assert root == cache_root(tmp_path, ReadPolicy()) and not errors
    store = StructureStore.load(root, [chains[0].file])
    samples = split_samples(store, chains)
    assert 0.9 * chains[0].n_residues <= len(samples) <= chains[0].n_residues
    spec = VoxelSpec()
    dataset = EnvironmentDataset(store, samples, spec)
    parsed = read_structure(shared_subset / chains[0].file, ReadPolicy())
    for i in (0, 5, len(samples) - 1):
        coords, channel, label = dataset[i]
        reference = residue_environments(parsed, spec, residue_mask=[int(samples.residue[i])], rotatable=True)
        assert label == parsed.residues.aa_index[samples.residue[i]]
        ours = sorted(zip(map(tuple, np.round(coords, 4)), channel.tolist(), strict=True))
        theirs = sorted(
            zip(map(tuple, np.round(reference.coords, 4)), reference.channel.tolist(), strict=True)
        )
        assert len(ours) > 100 and ours == theirs


def test_cache_key_changes_with_the_policy_and_the_reader_version(tmp_path, monkeypatch):
    from protsteer.structure.policy import ReadPolicy
    from protsteer.tasks.propensity import cache

    default = cache_root(tmp_path, ReadPolicy())
    assert cache_root(tmp_path, ReadPolicy()) == default
    assert cache_root(tmp_path, ReadPolicy(keep_waters=True)) != default
    monkeypatch.setattr(cache, "READER_VERSION", cache.READER_VERSION + 1)
    assert cache_root(tmp_path, ReadPolicy()) != default  # a changed reader never reuses a stale cache


def test_family_bootstrap_difference_is_paired_and_resamples_whole_families():
    rng = np.random.default_rng(0)
    family = np.repeat(np.arange(30), 20)
    base = (rng.random(600) < 0.4).astype(float)
    same = family_bootstrap_difference(base, base, family, n_resamples=200)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0

    better = base.copy()
    better[rng.choice(np.flatnonzero(base == 0), 60, replace=False)] = 1.0  # +0.1 top-1, spread over families
    shifted = family_bootstrap_difference(better, base, family, n_resamples=500)
    assert shifted["difference"] == pytest.approx(0.1) and shifted["a"] - shifted["b"] == pytest.approx(0.1)
    assert 0 < shifted["ci_low"] < 0.1 < shifted["ci_high"] and shifted["p_not_positive"] == 0.0

    # the whole gain in three families: resampling families (not residues) must see that it is fragile
    concentrated = base.copy()
    concentrated[family < 3] = 1.0
    gain = family_bootstrap_difference(concentrated, base, family, n_resamples=500)
    assert gain["ci_low"] < 0.5 * gain["difference"] < gain["ci_high"]
