"""BatchedPredictor: batches cut across structures, fixed batch shape, order, failures, OOM halving."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from predict_helpers import TINY_SPEC, tiny_weights, write_valid_structures

from protsteer.io.inputs import InputFile
from protsteer.io.weights import load_weights
from protsteer.structure import ReadPolicy
from protsteer.tasks.propensity import inference
from protsteer.tasks.propensity.inference import (
    BatchedPredictor,
    PreparedInput,
    PrepareFailure,
    PrepareOptions,
    prepared_inputs,
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("batching")
    paths = write_valid_structures(root / "in")
    weights = load_weights(tiny_weights(root / "tiny.pt"))
    options = PrepareOptions(policy=ReadPolicy(), spec=TINY_SPEC)
    items = [InputFile(path, path.name.split(".")[0]) for path in paths]
    items.insert(1, InputFile(root / "missing.pdb", "missing"))
    entries = list(prepared_inputs(items, options, workers=0))
    return weights, entries


class Recorder(torch.nn.Module):
    """Wraps a model; records batch sizes; raises out-of-memory above ``limit``."""

    def __init__(self, model: torch.nn.Module, limit: int | None = None) -> None:
        super().__init__()
        self.model, self.limit, self.sizes = model, limit, []

    def forward(self, grids):
        if self.limit is not None and len(grids) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.sizes.append(len(grids))
        return self.model(grids)


def _run(weights, entries, batch_size, limit=None):
    model = Recorder(weights.model, limit)
    predictor = BatchedPredictor(model, 20, torch.device("cpu"), batch_size)
    return list(predictor.run(entries)), model.sizes, predictor


def test_failures_keep_their_place(prepared):
    weights, entries = prepared
    assert isinstance(entries[1], PrepareFailure) and entries[1].stage == "read"
    results, _, _ = _run(weights, entries, 16)
    assert [entry.item.structure_id for entry, _ in results] == [e.item.structure_id for e in entries]
    assert results[1][1] is None


def test_every_call_has_the_same_batch_shape(prepared):
    weights, entries = prepared
    total = sum(e.n_env for e in entries if isinstance(e, PreparedInput))
    _, sizes, _ = _run(weights, entries, 32)
    assert sizes == [32] * -(-total // 32)  # the last batch is padded


def test_results_do_not_depend_on_batch_composition(prepared):
    weights, entries = prepared
    reference = [logp for _, logp in _run(weights, entries, 1)[0]]
    for batch_size in (7, 64):
        for (entry, logp), expected in zip(_run(weights, entries, batch_size)[0], reference, strict=True):
            if expected is None:
                assert logp is None
                continue
            assert logp.shape == (entry.n_env, 20)
            np.testing.assert_allclose(logp, expected, atol=1e-6)
            np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-9)


def test_out_of_memory_halves_the_batch(prepared):
    weights, entries = prepared
    reference = [logp for _, logp in _run(weights, entries, 32)[0]]
    results, sizes, predictor = _run(weights, entries, 32, limit=8)
    assert predictor.batch_size == 8 and set(sizes) == {8}
    for (_, logp), expected in zip(results, reference, strict=True):
        if expected is not None:
            np.testing.assert_allclose(logp, expected, atol=1e-6)


def test_other_errors_are_not_swallowed(prepared):
    weights, entries = prepared

    class Broken(torch.nn.Module):
        def forward(self, grids):
            raise RuntimeError("shape mismatch")

    predictor = BatchedPredictor(Broken(), 20, torch.device("cpu"), 8)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(predictor.run(entries))


REAL_PREPARE = inference.prepare_input


def crash_on_tail(item, options):
    """A reader that kills its process on ``tail`` (stands in for a parser crash or the OOM killer)."""
    if item.structure_id == "tail":
        os._exit(1)
    return REAL_PREPARE(item, options)


def test_a_dying_reader_process_fails_only_its_input(prepared, tmp_path, monkeypatch):
    weights, entries = prepared
    items = [entry.item for entry in entries]
    options = PrepareOptions(policy=ReadPolicy(), spec=TINY_SPEC)
    monkeypatch.setattr(inference, "START_METHOD", "fork")
    monkeypatch.setattr(inference, "prepare_input", crash_on_tail)
    results = list(prepared_inputs(items, options, workers=2))
    assert [r.item.structure_id for r in results] == [i.structure_id for i in items]
    by_id = {r.item.structure_id: r for r in results}
    assert isinstance(by_id["tail"], PrepareFailure) and by_id["tail"].error_type == "WorkerCrashed"
    assert isinstance(by_id["missing"], PrepareFailure) and by_id["missing"].stage == "read"
    for name in ("tenascin", "head"):
        assert isinstance(by_id[name], PreparedInput) and by_id[name].n_env > 0


def test_orientation_averaging_is_the_mean_probability_over_the_orientation_set(tmp_path):
    from protsteer.so3 import orientation_set

    weights = load_weights(tiny_weights(tmp_path / "tiny.pt"))
    path = write_valid_structures(tmp_path / "in")[1]
    item = [InputFile(path, "head")]
    rotatable = PrepareOptions(policy=ReadPolicy(), spec=TINY_SPEC, rotatable=True)
    (entry,) = prepared_inputs(item, rotatable, workers=0)
    averaging = BatchedPredictor(weights.model, 20, torch.device("cpu"), 8, orientations=3)
    ((_, averaged),) = averaging.run([entry])
    probabilities = []
    with torch.no_grad():
        for rotation in orientation_set(3):
            grids = entry.environments.voxelize(rotations=rotation.expand(entry.n_env, 3, 3))
            probabilities.append(torch.softmax(weights.model(grids).double(), dim=1))
    expected = torch.stack(probabilities).mean(0).log().numpy()
    assert np.allclose(averaged, expected, atol=1e-5)
    (plain_entry,) = prepared_inputs(item, PrepareOptions(policy=ReadPolicy(), spec=TINY_SPEC), workers=0)
    ((_, one),) = BatchedPredictor(weights.model, 20, torch.device("cpu"), 8).run([plain_entry])
    ((_, one_rotatable),) = BatchedPredictor(weights.model, 20, torch.device("cpu"), 8).run([entry])
    assert np.allclose(one, one_rotatable, atol=1e-6)  # the extra atoms of the rotatable ball add nothing
    assert np.abs(averaged - one).max() > 1e-5  # the other orientations do change the result
    assert np.allclose(orientation_set(3)[0], np.eye(3))
    assert torch.equal(orientation_set(3), orientation_set(3))  # a fixed set: results are reproducible


class DtypeRecorder(torch.nn.Module):
    """Wraps a model; records the dtype of its logits."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.dtypes = model, []

    def forward(self, grids):
        logits = self.model(grids)
        self.dtypes.append(logits.dtype)
        return logits


def test_bf16_runs_under_cpu_autocast_and_stays_close_to_fp32(prepared):
    weights, entries = prepared
    outputs = {}
    for dtype in (None, torch.bfloat16):
        model = DtypeRecorder(weights.model)
        predictor = BatchedPredictor(model, 20, torch.device("cpu"), 16, autocast_dtype=dtype)
        outputs[dtype] = [logp for _, logp in predictor.run(entries) if logp is not None]
        assert set(model.dtypes) == {dtype or torch.float32}
    for fp32, bf16 in zip(outputs[None], outputs[torch.bfloat16], strict=True):
        assert bf16.dtype == np.float64 and np.allclose(np.exp(bf16).sum(axis=1), 1.0)
        assert np.abs(np.exp(bf16) - np.exp(fp32)).max() < 0.05
