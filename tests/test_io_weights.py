"""Weights files: weights-only format, sha256 sidecar / index verification, name resolution."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from protsteer.errors import ProtsteerError
from protsteer.io import weights as weights_io


def _save(path: Path, state: dict | None = None) -> str:
    state = state if state is not None else {"layer.weight": torch.arange(6.0).reshape(2, 3)}
    return weights_io.save_weights(
        path,
        network_config={"arch": "plain", "in_channels": 1, "n_outputs": 2},
        state_dict=state,
        task="propensity",
        labels=["A", "C"],
        voxel_spec={"grid_size": 9},
        read_policy={"model": "first"},
        metadata={"note": "test"},
    )


def test_save_writes_sidecar_with_file_hash(tmp_path):
    path = tmp_path / "w.pt"
    digest = _save(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (tmp_path / "w.pt.sha256").read_text() == f"{digest}  w.pt\n"
    assert not list(tmp_path.glob(".*tmp-*"))


def test_roundtrip_payload_is_plain_and_weights_only(tmp_path):
    path = tmp_path / "w.pt"
    state = {"a": torch.randn(3, 4), "b": torch.tensor([1, 2, 3])}
    _save(path, state)
    payload, found, name, digest = weights_io.read_weights_file(path)
    assert found == path and name == "w"
    assert payload["format"] == weights_io.WEIGHTS_FORMAT
    assert payload["labels"] == ["A", "C"] and payload["voxel_spec"] == {"grid_size": 9}
    for key, tensor in state.items():
        assert torch.equal(payload["state_dict"][key], tensor)
    # loadable with the strict loader directly
    assert torch.load(path, weights_only=True)["task"] == "propensity"


def test_sha256_mismatch_is_one_line_error(tmp_path):
    path = tmp_path / "w.pt"
    _save(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ProtsteerError) as info:
        weights_io.read_weights_file(path)
    assert "sha256 mismatch" in info.value.one_line()
    assert "\n" not in info.value.one_line()
    assert info.value.path == str(path)


def test_missing_recorded_hash_is_refused(tmp_path):
    path = tmp_path / "w.pt"
    _save(path)
    (tmp_path / "w.pt.sha256").unlink()
    with pytest.raises(ProtsteerError, match="no recorded sha256"):
        weights_io.read_weights_file(path)


class _Trap:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_objects_are_never_executed(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    torch.save({"format": weights_io.WEIGHTS_FORMAT, "trap": _Trap(marker)}, path)
    (tmp_path / "evil.pt.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "  evil.pt\n")
    with pytest.raises(ProtsteerError, match="not a weights-only") as raised:
        weights_io.read_weights_file(path)
    assert not marker.exists()
    assert "never unpickles" in str(raised.value) and "weights_only=False" not in str(raised.value)


def test_wrong_format_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state": torch.zeros(2)}, path)
    (tmp_path / "other.pt.sha256").write_text(hashlib.sha256(path.read_bytes()).hexdigest() + "  other.pt\n")
    with pytest.raises(ProtsteerError, match="unsupported weights format"):
        weights_io.read_weights_file(path)


def test_names_resolve_through_models_directory_and_index(tmp_path, monkeypatch):
    models = tmp_path / "models"
    digest = _save(models / "tiny-v1.pt")
    entry = weights_io.register_weights(models / "tiny-v1.pt", description="tiny")
    assert entry["sha256"] == digest and entry["task"] == "propensity"
    index = json.loads((models / "index.json").read_text())
    assert index["tiny-v1"]["file"] == "tiny-v1.pt"
    (models / "tiny-v1.pt.sha256").unlink()  # the index alone suffices
    monkeypatch.setattr(weights_io, "models_directory", lambda: models)
    assert weights_io.available_weights() == ["tiny-v1"]
    _, path, name, found = weights_io.read_weights_file("tiny-v1")
    assert (path, name, found) == (models / "tiny-v1.pt", "tiny-v1", digest)
    with pytest.raises(ProtsteerError, match="available: tiny-v1"):
        weights_io.read_weights_file("nope-v1")


def test_index_entry_overrides_sidecar(tmp_path):
    path = tmp_path / "w.pt"
    _save(path)
    weights_io.register_weights(path)
    index = json.loads((tmp_path / "index.json").read_text())
    index["w"]["sha256"] = "0" * 64
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ProtsteerError, match="sha256 mismatch"):
        weights_io.read_weights_file(path)


def test_missing_file_path(tmp_path):
    with pytest.raises(ProtsteerError, match="not found"):
        weights_io.read_weights_file(tmp_path / "absent.pt")


def test_default_models_directory_is_the_models_package():
    import protsteer.models

    assert weights_io.models_directory() == Path(protsteer.models.__file__).parent


def _loaded(path: Path, name: str) -> weights_io.LoadedWeights:
    return weights_io.LoadedWeights(
        model=None,
        task="propensity",
        labels=[],
        voxel_spec=None,
        read_policy={},
        metadata={},
        sha256="",
        path=path,
        name=name,
    )


def test_distinct_weight_names_prepend_parent_folders_only_where_names_collide(tmp_path):
    files = [tmp_path / "runs" / "elem" / "weights.pt", tmp_path / "runs" / "split" / "weights.pt"]
    weights = [_loaded(files[0], "weights"), _loaded(files[1], "weights"), _loaded(tmp_path / "v3.pt", "v3")]
    assert weights_io.distinct_weight_names(weights) == ["elem-weights", "split-weights", "v3"]
    nested = [_loaded(tmp_path / "a" / "x" / "w.pt", "w"), _loaded(tmp_path / "b" / "x" / "w.pt", "w")]
    assert weights_io.distinct_weight_names(nested) == ["a-x-w", "b-x-w"]


def test_distinct_weight_names_refuse_the_same_file_twice(tmp_path):
    same = _loaded(tmp_path / "w.pt", "w")
    with pytest.raises(ProtsteerError, match="given twice"):
        weights_io.distinct_weight_names([same, same])


def test_every_shipped_weights_file_loads_verified_and_the_defaults_exist():
    from protsteer.models import DEFAULT_WEIGHTS

    shipped = weights_io.available_weights()
    assert set(DEFAULT_WEIGHTS.values()) <= set(shipped)
    for name in shipped:
        loaded = weights_io.load_weights(name)
        assert loaded.sha256 == hashlib.sha256(loaded.path.read_bytes()).hexdigest()
        assert (loaded.path.parent / f"{name}.md").is_file(), f"{name} has no model card"
        grid = loaded.voxel_spec.grid_size
        logits = loaded.model(torch.zeros(1, loaded.voxel_spec.n_channels, grid, grid, grid))
        assert logits.shape == (1, len(loaded.labels)) and bool(torch.isfinite(logits).all())
    for task, name in DEFAULT_WEIGHTS.items():
        assert weights_io.load_weights(name).task == task
