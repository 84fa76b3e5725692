"""Resume: a run interrupted anywhere (between inputs, between batches, inside a write, by kill -9) and then
rerun gives tables identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from predict_helpers import run_cli, tiny_weights, write_valid_structures

from protsteer.io import tables as tables_module
from protsteer.io.batch import BatchRun
from protsteer.io.rundir import read_manifest
from protsteer.tasks.propensity.inference import BatchedPredictor


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    weights = tiny_weights(root / "tiny.pt")
    inputs = root / "in"
    write_valid_structures(inputs)
    reference = root / "reference"
    assert (
        run_cli(
            "predict",
            inputs,
            "-o",
            reference,
            "--weights",
            weights,
            "--workers",
            "0",
            "--batch-size",
            "16",
            "-q",
        )
        == 0
    )
    return weights, inputs, (reference / "residues.tsv").read_bytes()


def _predict(inputs, out, weights, *extra):
    return run_cli(
        "predict",
        inputs,
        "-o",
        out,
        "--weights",
        weights,
        "--workers",
        "0",
        "--batch-size",
        "16",
        "-q",
        *extra,
    )


def _interrupt_on_call(monkeypatch, owner, name, call_number):
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call_number:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def test_interrupted_between_inputs(setup, tmp_path, monkeypatch):
    weights, inputs, reference = setup
    out = tmp_path / "out"
    _interrupt_on_call(monkeypatch, BatchRun, "complete", 2)
    assert _predict(inputs, out, weights) == 130
    assert not (out / "residues.tsv").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "stopped"
    monkeypatch.undo()
    assert _predict(inputs, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == reference
    record = json.loads((out / "run.json").read_text())
    assert record["summary"]["resumed"] == 1 and record["status"] == "complete"


def test_interrupted_between_batches(setup, tmp_path, monkeypatch):
    weights, inputs, reference = setup
    out = tmp_path / "out"
    _interrupt_on_call(monkeypatch, BatchedPredictor, "_forward_padded", 4)
    assert _predict(inputs, out, weights) == 130
    monkeypatch.undo()
    assert _predict(inputs, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == reference


def test_interrupted_inside_a_part_write(setup, tmp_path, monkeypatch):
    weights, inputs, reference = setup
    out = tmp_path / "out"
    # parts are written by the background writer (protsteer.io.committer); an exception there that is not a
    # write error stops the run in the main thread, as it would in the main thread itself
    _interrupt_on_call(monkeypatch, tables_module.TableWriter, "write_row", 40)
    assert _predict(inputs, out, weights) == 130
    assert not list((out / "parts").glob(".*tmp-*"))
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()[1:]]
    # the first input (28 rows) is recorded, the second was cut; the third may have been written meanwhile
    assert 1 <= len(records) <= 2 and records[0]["rows"] == {"residues": 28}
    parts = sorted(path.name for path in (out / "parts").glob("*.tsv"))
    assert parts == sorted(f"{record['structure_id']}.residues.tsv" for record in records)
    monkeypatch.undo()
    assert _predict(inputs, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == reference


def test_interrupted_inside_the_final_table(setup, tmp_path, monkeypatch):
    weights, inputs, reference = setup
    out = tmp_path / "out"
    assert _predict(inputs, out, weights) == 0
    _interrupt_on_call(monkeypatch, tables_module.TableWriter, "write_row", 100)
    assert _predict(inputs, out, weights, "--overwrite") == 130
    assert not (out / "residues.tsv").exists()  # --overwrite removed it; no truncated table appeared
    monkeypatch.undo()
    assert _predict(inputs, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == reference


def test_leftovers_of_kill_9_are_repaired(setup, tmp_path):
    """What kill -9 can leave: temporary files and a torn manifest line."""
    weights, inputs, reference = setup
    out = tmp_path / "out"
    assert _predict(inputs / "head.pdb", out, weights) == 0
    (out / "parts" / ".tail.residues.tsv.tmp-x1").write_text("structure_id\tfile\nhalf")
    (out / ".residues.tsv.tmp-y2").write_text("partial")
    with open(out / "manifest.jsonl", "a") as handle:
        handle.write('{"structure_id": "tail", "file": "')
    assert _predict(inputs, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == reference
    assert not list(out.rglob(".*tmp-*"))
    assert all(json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines())


def test_real_kill_9_then_resume(setup, tmp_path):
    weights, inputs, _ = setup
    many = tmp_path / "many"
    many.mkdir()
    for copy in range(4):
        for path in sorted(inputs.iterdir()):
            shutil.copy(path, many / f"c{copy}_{path.name}")
    reference = tmp_path / "reference"
    assert _predict(many, reference, weights) == 0
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        "from protsteer.cli import main; main()",
        "predict",
        str(many),
        "-o",
        str(out),
        "--weights",
        str(weights),
        "--workers",
        "0",
        "--batch-size",
        "16",
        "-q",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,  # import the installed package, not the checkout (its models/ maps elsewhere)
    )
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    assert not (out / "residues.tsv").exists()
    _, completed, _ = read_manifest(manifest)
    n_inputs = len(list(many.iterdir()))
    assert 1 <= len(completed) < n_inputs  # killed mid-run, with finished inputs to resume from
    assert _predict(many, out, weights) == 0
    assert (out / "residues.tsv").read_bytes() == (reference / "residues.tsv").read_bytes()


def test_other_settings_are_refused_unless_overwrite(setup, tmp_path, capsys):
    weights, inputs, reference = setup
    out = tmp_path / "out"
    other = tiny_weights(tmp_path / "other.pt", seed=1)
    assert _predict(inputs, out, weights) == 0
    assert _predict(inputs, out, other) == 1
    assert "other settings" in capsys.readouterr().err
    assert _predict(inputs, out, other, "--overwrite") == 0
    assert (out / "residues.tsv").read_bytes() != reference


def test_other_precision_is_refused(setup, tmp_path, capsys):
    """bf16 changes the numbers: an fp32 run must not be resumed in bf16 (a silent mix of both)."""
    weights, inputs, _ = setup
    out = tmp_path / "out"
    assert _predict(inputs, out, weights, "--device", "cpu") == 0
    assert _predict(inputs, out, weights, "--device", "cpu", "--precision", "bf16") == 1
    assert "other settings" in capsys.readouterr().err
    assert _predict(inputs, out, weights, "--device", "cpu", "--precision", "fp16") == 0  # = fp32 on a CPU


@pytest.mark.parametrize("changed", [("--orientations", "2"), ("--frame", "input")])
def test_other_orientations_or_frame_are_refused(setup, tmp_path, capsys, changed):
    """Both change the numbers, so a run must not be resumed with another value."""
    weights, inputs, _ = setup
    out = tmp_path / "out"
    assert _predict(inputs, out, weights) == 0
    capsys.readouterr()
    assert _predict(inputs, out, weights, *changed) == 1
    assert "other settings" in capsys.readouterr().err
    assert _predict(inputs, out, weights, *changed, "--overwrite") == 0
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_include_and_exclude_choose_the_inputs(setup, tmp_path):
    weights, inputs, _ = setup
    out = tmp_path / "out"
    assert _predict(inputs, out, weights, "--include", "*.cif") == 0
    ids = {line.split("\t")[0] for line in (out / "residues.tsv").read_text().splitlines()[1:]}
    assert ids == {"tail"}
    out = tmp_path / "out2"
    assert _predict(inputs, out, weights, "--exclude", "*.cif") == 0
    ids = {line.split("\t")[0] for line in (out / "residues.tsv").read_text().splitlines()[1:]}
    assert ids == {"head", "tenascin"}


def test_quiet_verbose_and_log_file(setup, tmp_path, capsys):
    weights, inputs, _ = setup
    base = ["predict", inputs, "--weights", weights, "--workers", "0"]
    assert run_cli(*base, "-o", tmp_path / "quiet", "-q") == 0
    quiet = capsys.readouterr().err.splitlines()  # no errors here: only the summary line
    assert len(quiet) == 1 and quiet[0].startswith("protsteer: 3 inputs: 3 done")
    log = tmp_path / "logs" / "predict.log"
    assert run_cli(*base, "-o", tmp_path / "verbose", "-v", "--log-file", log) == 0
    err = capsys.readouterr().err
    assert "device auto -> cpu" in err and "3 inputs: 3 done" in err
    logged = log.read_text()
    assert "INFO" in logged and "device auto -> cpu" in logged and "DEBUG" not in logged
    assert run_cli(*base, "-o", tmp_path / "default", "--log-file", log) == 0
    assert "device auto -> cpu" not in capsys.readouterr().err  # info goes to the file only
    assert log.read_text().count("device auto -> cpu") == 2  # appended


def test_unwritable_output_directory_is_one_line(setup, tmp_path, capsys):
    weights, inputs, _ = setup
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    assert _predict(inputs, blocker / "out", weights) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"protsteer: error: {blocker / 'out'}: cannot write the output directory")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_changed_input_is_recomputed(setup, tmp_path):
    weights, inputs, _ = setup
    local = tmp_path / "in"
    shutil.copytree(inputs, local)
    out = tmp_path / "out"
    assert _predict(local, out, weights) == 0
    head = local / "head.pdb"
    lines = head.read_text().splitlines()
    head.write_text("\n".join(line for line in lines if " 803 " not in line[17:27]) + "\n")
    assert _predict(local, out, weights) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["summary"]["resumed"] == 2 and record["summary"]["computed"] == 1
    heads = [line for line in (out / "residues.tsv").read_text().splitlines() if line.startswith("head\t")]
    assert len(heads) == 27
