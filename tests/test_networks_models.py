"""SteerableCNN / PlainCNN3d: invariance, configs, rebuilding from configs, parameter counts."""

from __future__ import annotations

import json

import pytest
import torch

from protsteer.errors import ProtsteerError
from protsteer.networks import (
    PLAIN_PRESETS,
    STEERABLE_PRESETS,
    PlainCNN3d,
    SteerableCNN,
    build_network,
    count_parameters,
)
from protsteer.nn import FieldType, check_equivariance
from protsteer.so3 import cube_rotations, rotate_grid

SMALL_RESIDUAL = {"preset": "tiny", "stages": [[2, 2, 1, 1], [4, 2, 1]], "blocks": [1, 1], "residual": True}
PSEUDOSCALARS = {"preset": "tiny", "pseudoscalar_radii": [1, 2, 3, 4], "pool_window": "ball"}


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize(
    "options",
    [{"preset": "tiny"}, SMALL_RESIDUAL, PSEUDOSCALARS],
    ids=["tiny", "residual_l3", "pseudoscalars"],
)
def test_steerable_network_is_invariant_on_cube_rotations(options, dtype, tolerance):
    net = SteerableCNN(3, 5, **options)
    report = check_equivariance(
        net, FieldType([3]), FieldType([5]), grid_size=13, n_continuous=0, dtype=dtype
    )
    assert report.cube_max <= tolerance


def test_steerable_network_is_invariant_in_training_mode():
    net = SteerableCNN(2, 4, preset="tiny", input_downsample=False).double().train()
    x = torch.randn(3, 2, 11, 11, 11, dtype=torch.float64)
    with torch.no_grad():
        reference = net(x)
        for R in cube_rotations()[1:6]:
            rotated = net(rotate_grid(x, R))
            assert float((rotated - reference).norm() / reference.norm()) < 1e-10


def test_pseudoscalar_invariants_are_appended_to_the_pooled_ones():
    torch.manual_seed(0)
    net = SteerableCNN(2, 4, **PSEUDOSCALARS).double().eval()
    x = torch.randn(2, 2, 11, 11, 11, dtype=torch.float64)
    n = 4  # triples of the four radii
    with torch.no_grad():
        invariants = net.invariants(x)
        assert invariants.shape == (2, net.pool.out_type.dim + n)
        assert torch.equal(invariants[:, :-n], net.pool(net.features(x)))
        assert torch.equal(invariants[:, -n:], net.pseudoscalars(x))
        raw = net.pseudoscalars[0]
        assert torch.allclose(raw(x.flip(2)), -raw(x), rtol=0, atol=1e-10)


def test_plain_network_is_not_invariant():
    net = PlainCNN3d(1, 4, preset="tiny").eval()
    report = check_equivariance(net, FieldType([1]), FieldType([4]), grid_size=11, n_continuous=0)
    assert report.cube_max > 1e-3


@pytest.mark.parametrize("arch", ["steerable", "plain"])
@pytest.mark.parametrize("preset", ["tiny", "small", "base"])
def test_config_round_trip(arch, preset):
    net = build_network({"arch": arch, "in_channels": 6, "n_outputs": 20, "preset": preset})
    config = json.loads(json.dumps(net.config))
    assert config["arch"] == arch and config["in_channels"] == 6 and config["n_outputs"] == 20
    assert config["preset"] == preset
    rebuilt = build_network(config)
    rebuilt.load_state_dict(net.state_dict())
    assert rebuilt.config == net.config
    assert count_parameters(rebuilt) == count_parameters(net) > 0
    x = torch.randn(2, 6, 11, 11, 11)
    net.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), rebuilt(x), atol=1e-6)
        assert net(x).shape == (2, 20)


def test_explicit_options_override_presets():
    net = SteerableCNN(1, 3, preset="tiny", stages=[[2, 1], [2, 1]], kernel_size=[3, 5], head_hidden=7)
    assert net.config["stages"] == [[2, 1], [2, 1]] and net.config["head_hidden"] == 7
    assert net.config["residual"] == STEERABLE_PRESETS["tiny"]["residual"]
    assert net.head[0].out_features == 7


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"arch": "steerable", "in_channels": 1, "n_outputs": 2, "preset": "huge"},
            "unknown steerable network preset",
        ),
        ({"arch": "plain", "in_channels": 1, "n_outputs": 2, "widths": [3]}, "unknown plain network option"),
        ({"arch": "resnet", "in_channels": 1, "n_outputs": 2}, "unknown network arch"),
        ({"arch": "steerable", "n_outputs": 2}, "lacks"),
        ({"arch": "steerable", "in_channels": 1, "n_outputs": 2, "stages": [[1, 1, 1, 1, 1]]}, "up to l = 3"),
        ({"arch": "steerable", "in_channels": 1, "n_outputs": 2, "kernel_size": [5, 5, 5]}, "one per stage"),
        (
            {"arch": "steerable", "in_channels": 1, "n_outputs": 2, "pseudoscalar_radii": [2, 3]},
            "pseudoscalar_radii.*three positive shell radii",
        ),
    ],
)
def test_bad_configs_raise_protsteer_error(config, message):
    with pytest.raises(ProtsteerError, match=message):
        build_network(config)


def test_presets_grow_and_plain_presets_match_feature_widths():
    counts = {p: count_parameters(SteerableCNN(6, 20, preset=p)) for p in STEERABLE_PRESETS}
    assert counts["tiny"] < counts["small"] < counts["base"]
    for preset, options in PLAIN_PRESETS.items():
        steerable = STEERABLE_PRESETS[preset]
        assert options["stages"] == [FieldType(m).dim for m in steerable["stages"]]
        assert options["blocks"] == steerable["blocks"]
        assert options["kernel_size"] == steerable["kernel_size"]


def test_any_grid_size_runs():
    net = SteerableCNN(2, 3, preset="tiny").eval()
    with torch.no_grad():
        for size in (9, 16, 21):
            assert net(torch.randn(1, 2, size, size, size)).shape == (1, 3)


def test_configs_saved_before_an_option_existed_still_build():
    """Weights files keep expanded configs; options added later must default to the old behaviour."""
    old = {
        "arch": "steerable", "in_channels": 5, "n_outputs": 20, "preset": "small",
        "stages": [[8, 4, 2], [16, 8, 4], [32, 16, 8]], "blocks": [0, 1, 1], "kernel_size": [5, 5, 3],
        "residual": False, "input_downsample": True, "band_limit": "compromise", "activation": "relu",
        "batch_norm": True, "field_dropout": 0.0, "pool_norms": True, "head_hidden": 128, "dropout": 0.1,
    }  # fmt: skip
    net = build_network(old)
    assert net.config["pool_window"] == "cube" and net.pool.window == "cube"
    assert net.config["band_limit"] == "compromise"
    assert all(m.band_limit == "compromise" for m in net.modules() if hasattr(m, "band_limit"))
