"""Shared training loop on a tiny stand-in task: resume == uninterrupted, DDP (gloo, 2 ranks) == 1 rank."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from protsteer.errors import ProtsteerError
from protsteer.tasks.run_files import MetricsLog, checkpoint_paths
from protsteer.tasks.sampling import EpochBatchSampler
from protsteer.tasks.training import TrainConfig, train


class ToyDataset(torch.utils.data.Dataset):
    """Deterministic 3-class points in 6 dimensions (class = argmax of the first 3 coordinates)."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(n, 6)).astype(np.float32)
        self.y = self.x[:, :3].argmax(axis=1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.x[i], int(self.y[i])


class ToyTask:
    """Stand-in task: MLP with dropout (global RNG), augmentation noise from the per-step generator."""

    name = "toy"
    selection_metric = "accuracy"
    selection_mode = "max"

    def __init__(self, dropout: float = 0.2, noise: float = 0.1, sigterm_at_call: int | None = None) -> None:
        self.dropout = dropout
        self.noise = noise
        self.sigterm_at_call = sigterm_at_call
        self.train_calls = 0

    def build_model(self) -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(self.dropout), torch.nn.Linear(16, 3)
        )

    def train_dataset(self) -> ToyDataset:
        return ToyDataset(64, seed=1)

    def train_weights(self) -> np.ndarray:
        return np.linspace(1.0, 2.0, 64)

    def samples_per_epoch(self) -> int:
        return 40

    def val_dataset(self) -> ToyDataset:
        return ToyDataset(30, seed=2)

    def collate(self, items: list) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.stack([x for x, _ in items])), torch.tensor([y for _, y in items])

    def prepare_batch(self, batch, device, generator):
        x, y = batch
        if torch.is_grad_enabled():
            self.train_calls += 1
            if self.train_calls == self.sigterm_at_call:
                os.kill(os.getpid(), signal.SIGTERM)
        x = x + self.noise * torch.randn(x.shape, generator=generator)
        return x.to(device), y.to(device)

    def loss(self, logits, targets):
        return torch.nn.functional.cross_entropy(logits, targets)

    def metrics(self, logits, targets):
        return {
            "accuracy": float((logits.argmax(1) == targets).float().mean()),
            "log_loss": float(torch.nn.functional.cross_entropy(logits, targets)),
        }

    def describe(self) -> dict:
        return {"toy": True}


def _config(out_dir, **overrides) -> TrainConfig:
    values = dict(
        out_dir=out_dir,
        device="cpu",
        batch_size=4,
        max_steps=12,
        val_every=4,
        warmup_steps=2,
        lr=0.05,
        log_every=100,
        keep_checkpoints=2,
        seed=3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def _final_weights(run_dir) -> dict:
    return torch.load(checkpoint_paths(run_dir)[-1], weights_only=False)["model"]


def _rows_without_time(run_dir) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in MetricsLog(run_dir).rows()]


def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path):
    full = train(ToyTask(), _config(tmp_path / "full"))
    assert full.stopped == "completed" and full.step == 12

    first = train(ToyTask(sigterm_at_call=7), _config(tmp_path / "split"))
    assert first.stopped == "interrupted" and first.step == 7
    assert checkpoint_paths(tmp_path / "split")[-1].name == "step-00000007.pt"
    second = train(ToyTask(), _config(tmp_path / "split", resume=True))
    assert second.stopped == "completed" and second.step == 12

    a, b = _final_weights(tmp_path / "full"), _final_weights(tmp_path / "split")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = _rows_without_time(tmp_path / "full")
    assert [row["step"] for row in rows] == [4, 8, 12]
    assert rows == _rows_without_time(tmp_path / "split")
    header = (tmp_path / "full" / "metrics.tsv").read_text().splitlines()[0].split("\t")
    assert header[:3] == ["step", "epoch", "samples"] and "accuracy" in header
    assert len(checkpoint_paths(tmp_path / "full")) == 2  # keep_checkpoints
    best = torch.load(tmp_path / "full" / "best.pt", weights_only=False)
    assert best["metrics"]["accuracy"] == max(row["accuracy"] for row in rows)


def test_run_directory_log_collects_every_run_and_resume_and_leaves_logging_as_it_was(tmp_path):
    import logging

    package = logging.getLogger("protsteer")
    level_before, handlers_before = package.level, list(package.handlers)
    train(ToyTask(sigterm_at_call=3), _config(tmp_path, log_every=1))
    train(ToyTask(), _config(tmp_path, resume=True, log_every=1))
    assert package.level == level_before and package.handlers == handlers_before

    lines = (tmp_path / "train.log").read_text().splitlines()
    messages = [line.split(": ", 1)[1] for line in lines]
    assert "received signal 15: stopping after this step with a checkpoint" in messages
    assert any(m.startswith("resumed from ") and m.endswith("at step 3 of 12") for m in messages)
    assert [m.split()[1] for m in messages if m.startswith("step ")] == [f"{i}/12" for i in range(1, 13)]
    assert all(" INFO " in line or " WARNING " in line for line in lines)


def test_training_learns_the_toy_problem(tmp_path):
    result = train(ToyTask(dropout=0.0), _config(tmp_path, max_steps=60, val_every=20))
    assert result.best_metrics["accuracy"] >= 0.8


def test_existing_run_without_resume_is_refused(tmp_path):
    train(ToyTask(), _config(tmp_path, max_steps=4))
    with pytest.raises(ProtsteerError, match="--resume"):
        train(ToyTask(), _config(tmp_path, max_steps=4))


def test_time_budget_stops_with_a_checkpoint(tmp_path):
    result = train(ToyTask(), _config(tmp_path, max_steps=1000, time_budget_min=0.0))
    assert result.stopped == "time_budget" and result.step == 1
    assert result.last_checkpoint is not None and result.last_checkpoint.exists()
    assert json.loads((tmp_path / "train.json").read_text())["total_steps"] == 1000


def test_sampler_shards_cover_the_single_rank_draw_and_resume_mid_epoch():
    kwargs = dict(n_items=50, weights=None, samples_per_epoch=40, seed=5)
    single = EpochBatchSampler(batch_size=8, **kwargs)
    ranks = [EpochBatchSampler(batch_size=4, rank=r, world_size=2, **kwargs) for r in range(2)]
    single_batches = [b for _, b in zip(range(10), single, strict=False)]
    rank_batches = [[b for _, b in zip(range(10), s, strict=False)] for s in ranks]
    for step in range(10):
        assert sorted(single_batches[step]) == sorted(rank_batches[0][step] + rank_batches[1][step])
    resumed = EpochBatchSampler(batch_size=8, start_step=7, **kwargs)
    assert [b for _, b in zip(range(3), resumed, strict=False)] == single_batches[7:10]


def test_sampler_follows_weights():
    weights = np.zeros(10)
    weights[[2, 7]] = [1.0, 3.0]
    sampler = EpochBatchSampler(10, weights, samples_per_epoch=4000, batch_size=100, seed=0)
    draw = sampler.epoch_indices(0)
    assert set(np.unique(draw)) == {2, 7}
    assert 0.7 < np.mean(draw == 7) < 0.8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    train(ToyTask(dropout=0.0, noise=0.0), _config(out_dir, batch_size=4, max_steps=8, grad_clip=None))


def test_ddp_two_ranks_gloo_matches_one_rank_with_double_batch(tmp_path):
    single = train(
        ToyTask(dropout=0.0, noise=0.0),
        _config(tmp_path / "single", batch_size=8, max_steps=8, grad_clip=None),
    )
    assert single.step == 8
    for attempt in range(3):  # the free port can be taken before gloo binds it: retry on a fresh one
        try:
            mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path / "ddp")), nprocs=2, join=True)
            break
        except (mp.ProcessRaisedException, mp.ProcessExitedException):
            if attempt == 2:
                raise
            shutil.rmtree(tmp_path / "ddp", ignore_errors=True)
    a, b = _final_weights(tmp_path / "single"), _final_weights(tmp_path / "ddp")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    train_json = json.loads((tmp_path / "ddp" / "train.json").read_text())
    assert train_json["world_size"] == 2
    assert len(MetricsLog(tmp_path / "ddp").rows()) == 2


def test_init_weights_starts_a_new_run_from_another_runs_network(tmp_path):
    train(ToyTask(), _config(tmp_path / "a"))
    source = checkpoint_paths(tmp_path / "a")[-1]
    train(ToyTask(), _config(tmp_path / "b", init_weights=source, lr=0.0, max_steps=1, val_every=1))
    started = _final_weights(tmp_path / "b")
    assert all(torch.equal(value, _final_weights(tmp_path / "a")[name]) for name, value in started.items())
    assert json.loads((tmp_path / "b" / "train.json").read_text())["config"]["init_weights"] == str(source)

    class OtherTask(ToyTask):
        name = "other"

    with pytest.raises(ProtsteerError, match="task 'toy'"):
        train(OtherTask(), _config(tmp_path / "c", init_weights=source))


def test_network_check_names_the_differing_option_and_accepts_configs_saved_before_an_option_existed():
    from protsteer.networks import build_network
    from protsteer.tasks.training import _check_same_network

    tiny = {"arch": "steerable", "in_channels": 2, "n_outputs": 3, "preset": "tiny"}
    requested = build_network(tiny).config
    saved_before_pool_window = {k: v for k, v in requested.items() if k != "pool_window"}
    _check_same_network(saved_before_pool_window, requested, "checkpoint", "run")
    with pytest.raises(ProtsteerError, match=r"checkpoint network differs.*head_hidden=7"):
        _check_same_network({**requested, "head_hidden": 7}, requested, "checkpoint", "run")


def test_weight_average_follows_the_model_and_copies_integer_buffers():
    from protsteer.tasks.ema import WeightAverage

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    average = WeightAverage(model, decay=0.5)
    assert average.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): early steps follow the model
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model(torch.randn(8, 3))  # train mode: running statistics and the batch counter change
    average.update(model)
    averaged = average.model.state_dict()
    expected = 0.1 * start["0.weight"] + 0.9 * model.state_dict()["0.weight"]
    assert torch.allclose(averaged["0.weight"], expected)
    assert torch.allclose(averaged["1.running_mean"], 0.9 * model.state_dict()["1.running_mean"])
    assert averaged["1.num_batches_tracked"] == 1
    assert not any(p.requires_grad for p in average.model.parameters())
    for _ in range(200):
        average.update(model)
    assert average.current_decay() == 0.5
    assert torch.allclose(average.model.state_dict()["0.weight"], model.state_dict()["0.weight"])
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, decay=1.0)


def test_weight_average_run_resumes_exactly_and_validates_both_weights(tmp_path):
    full = train(ToyTask(), _config(tmp_path / "full", ema_decay=0.9))
    train(ToyTask(sigterm_at_call=7), _config(tmp_path / "split", ema_decay=0.9))
    train(ToyTask(), _config(tmp_path / "split", ema_decay=0.9, resume=True))
    rows = _rows_without_time(tmp_path / "full")
    assert rows == _rows_without_time(tmp_path / "split")
    assert all("raw_accuracy" in row and "accuracy" in row for row in rows)
    assert any(row["raw_log_loss"] != row["log_loss"] for row in rows)  # the average is another model

    last = torch.load(checkpoint_paths(tmp_path / "full")[-1], weights_only=False)
    resumed = torch.load(checkpoint_paths(tmp_path / "split")[-1], weights_only=False)
    assert last["ema"]["updates"] == 12 == resumed["ema"]["updates"]
    assert all(torch.equal(last["ema"]["model"][k], resumed["ema"]["model"][k]) for k in last["ema"]["model"])
    best = torch.load(tmp_path / "full" / "best.pt", weights_only=False)
    assert best["metrics"]["accuracy"] == full.best_metrics["accuracy"]


class DtypeRecordingTask(ToyTask):
    """Toy task whose model records the dtype of its logits in training and validation."""

    def __init__(self) -> None:
        super().__init__(dropout=0.0)
        self.dtypes: set[tuple[bool, torch.dtype]] = set()

    def build_model(self) -> torch.nn.Module:
        model = super().build_model()
        model.register_forward_hook(lambda m, args, out: self.dtypes.add((m.training, out.dtype)))
        return model


def test_bf16_autocast_trains_on_the_cpu(tmp_path):
    task = DtypeRecordingTask()
    result = train(task, _config(tmp_path, max_steps=60, val_every=20, amp="bf16"))
    assert result.stopped == "completed" and result.best_metrics["accuracy"] >= 0.8
    assert task.dtypes == {(True, torch.bfloat16), (False, torch.bfloat16)}


@pytest.mark.parametrize("schedule", ["cosine", "constant", "onecycle"])
def test_learning_rate_follows_the_schedule(tmp_path, schedule):
    """The logged lr at steps 4, 8, 12 of a 12-step run (warmup 2, peak 0.05) is the schedule's value."""
    train(ToyTask(), _config(tmp_path, schedule=schedule))
    logged = [row["lr"] for row in MetricsLog(tmp_path).rows()]
    if schedule == "constant":
        expected = [0.05] * 3
    elif schedule == "cosine":  # linear warmup, then cosine from 0.05 to min_lr_ratio * 0.05 at step 12
        floor = TrainConfig.min_lr_ratio
        expected = [
            0.05 * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (step - 2) / 10)))
            for step in (4, 8, 12)
        ]
    else:  # torch's one-cycle over the 12 steps: up to 0.05 at 30 %, then annealed to 0.05 / 25 / 1e4
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
        reference = torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.05, total_steps=13)
        expected = []
        for step in range(1, 13):
            optimizer.step()
            reference.step()
            if step % 4 == 0:
                expected.append(reference.get_last_lr()[0])
        assert expected[-1] == pytest.approx(0.05 / 25 / 1e4) and logged[0] > logged[1] > logged[2]
    assert logged == pytest.approx(expected, rel=1e-5)


def test_worker_processes_give_the_same_run(tmp_path):
    """The sampler picks the batches in the main process and an item does not depend on the process that
    loads it, so DataLoader workers change nothing; an interrupted run with workers resumes the same."""
    plain = train(ToyTask(), _config(tmp_path / "w0"))
    first = train(ToyTask(sigterm_at_call=7), _config(tmp_path / "w2", workers=2))
    assert first.stopped == "interrupted"
    resumed = train(ToyTask(), _config(tmp_path / "w2", workers=2, resume=True))
    assert plain.step == resumed.step == 12
    a, b = _final_weights(tmp_path / "w0"), _final_weights(tmp_path / "w2")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _rows_without_time(tmp_path / "w0") == _rows_without_time(tmp_path / "w2")
