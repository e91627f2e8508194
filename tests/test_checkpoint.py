"""Durable records and training checkpoints: atomic writes, damaged and foreign files refused
with the file named, resume equal to an uninterrupted run (in process, and after ``kill -9`` of
a ``sparsegnn train`` subprocess), ``--plot``."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sparsegnn.cli import main
from sparsegnn.data import sbm
from sparsegnn.durable import DamagedFileError, read_header, read_record, write_record
from sparsegnn.sampling import make_method
from sparsegnn.train import fit_recipe, recipe
from sparsegnn.train.checkpoint import CheckpointMismatch, rng_state, set_rng_state

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--dataset", "sbm:400,3,6", "--method", "cluster", "--num-parts", "8", "--batch-size", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def data():
    return sbm(300, 3, 6.0, num_features=8, seed=0)


# ---------------------------------------------------------------------------- durable records
def test_record_round_trip_and_every_kind_of_damage(tmp_path):
    path = tmp_path / "r.rec"
    payload = {"t": torch.arange(5.0), "nested": {"n": 3, "s": "x", "l": [1, 2.5]}}
    write_record(path, "thing", {"who": "me"}, payload)
    meta, back = read_record(path, "thing")
    assert meta == {"who": "me"} and torch.equal(back["t"], payload["t"]) and back["nested"] == payload["nested"]
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) - 7],
        "header": data[:30],
        "sha256": data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:],
        "not a sparsegnn record": b"PK\x03\x04" + data[4:],
    }
    for what, damaged in cases.items():
        path.write_bytes(damaged)
        with pytest.raises(DamagedFileError, match=rf"^{path}: .*{what}"):
            read_record(path, "thing")
    path.write_bytes(data)
    with pytest.raises(DamagedFileError, match="a 'thing' record, expected a 'other' one"):
        read_header(path, "other")
    with pytest.raises(DamagedFileError, match="cannot be read"):
        read_record(tmp_path / "missing.rec", "thing")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "r.rec"
    write_record(path, "thing", {"v": 1}, {"x": torch.ones(2)})
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_record(path, "thing", {"v": 2}, {"x": torch.zeros(2)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.rec"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the umask's mode, not mkstemp's 0600


def test_rng_state_round_trip():
    def draw():
        return torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()

    state = rng_state()
    first = draw()
    set_rng_state(state)
    assert draw() == first


# ---------------------------------------------------------------------------- Trainer resume
def _cluster(data):
    return lambda x, seed: make_method("cluster", x, data.graph, data.y, data.train_mask, seed=seed,
                                       num_parts=6, batch_size=2)


@pytest.mark.parametrize("sampled", [False, True])
def test_resume_equals_an_uninterrupted_run(data, tmp_path, sampled):
    method = _cluster(data) if sampled else None
    r = recipe("gcn", epochs=12)
    whole = fit_recipe("gcn", data, r, 0, method=method)
    path = tmp_path / "c.ckpt"
    fit_recipe("gcn", data, r.with_overrides(epochs=5), 0, method=method, checkpoint=path)
    seen = []
    resumed = fit_recipe("gcn", data, r, 0, method=method, checkpoint=path, resume=True,
                         on_epoch=lambda rec: seen.append(rec.epoch))
    assert [x.loss for x in resumed.records] == [x.loss for x in whole.records]
    assert [x.acc for x in resumed.records] == [x.acc for x in whole.records]
    assert resumed.best_epoch == whole.best_epoch and resumed.acc == whole.acc
    for key, value in whole.best_state.items():
        assert torch.equal(resumed.best_state[key], value)
    assert seen == list(range(12))  # the restored epochs are replayed to on_epoch first


def test_resume_refuses_another_run_and_names_what_differs(data, tmp_path):
    path = tmp_path / "c.ckpt"
    r = recipe("gcn", epochs=2)
    fit_recipe("gcn", data, r, 0, checkpoint=path, identity={"dataset": "a", "seed": 0})
    with pytest.raises(CheckpointMismatch, match=rf"{path}: written by another run; dataset: the file has \"a\", this run has \"b\""):
        fit_recipe("gcn", data, r, 0, checkpoint=path, resume=True, identity={"dataset": "b", "seed": 0})
    with pytest.raises(CheckpointMismatch, match="model_signature"):
        fit_recipe("gcn", data, r.with_overrides(hidden=8), 0, checkpoint=path, resume=True,
                   identity={"dataset": "a", "seed": 0})
    with pytest.raises(ValueError, match="resume: needs a checkpoint"):
        fit_recipe("gcn", data, r, 0, resume=True)
    with pytest.raises(ValueError, match="grad_clip"):
        fit_recipe("gcn", data, r, 0, grad_clip=0.0)


# ---------------------------------------------------------------------------- sparsegnn train
def _train(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sparsegnn", "train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _epochs(path: Path) -> list[tuple]:
    rows = json.loads(path.read_text())["epochs"]
    return [(r["seed"], r["epoch"], r["loss"], r["val_acc"], r["test_acc"]) for r in rows]


def _last_epoch(path: Path) -> int:
    try:
        return len(read_record(path, "sparsegnn-checkpoint/1")[1]["records"]) - 1
    except (DamagedFileError, FileNotFoundError):
        return -1


def test_sigkill_then_resume_ends_exactly_as_an_uninterrupted_run(tmp_path):
    epochs = 120  # about 3 s a seed: the kill after epoch 20 lands mid-run with seconds to spare
    args = [*SMALL, "--epochs", str(epochs), "--seeds", "2", "--quiet"]
    reference = tmp_path / "reference.json"
    done = _train(*args, "--json", str(reference))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "ckpt"
    killed = subprocess.Popen([sys.executable, "-m", "sparsegnn", "train", *args, "--checkpoint", str(folder)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 180
    while _last_epoch(folder / "seed-0.ckpt") < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(60) == -signal.SIGKILL  # killed mid-run, not finished
    assert 20 <= _last_epoch(folder / "seed-0.ckpt") < epochs - 1
    resumed = tmp_path / "resumed.json"
    again = _train(*args, "--resume", str(folder), "--json", str(resumed))
    assert again.returncode == 0, again.stderr
    assert _epochs(resumed) == _epochs(reference)
    first, second = (json.loads(p.read_text()) for p in (reference, resumed))
    assert [(s["best_epoch"], s["test_acc"]) for s in first["per_seed"]] == \
        [(s["best_epoch"], s["test_acc"]) for s in second["per_seed"]]


def test_damaged_or_foreign_checkpoints_get_one_error_naming_the_file(tmp_path, capsys):
    folder = tmp_path / "ckpt"
    assert main(["train", *SMALL, "--epochs", "2", "--quiet", "--checkpoint", str(folder)]) == 0
    path = folder / "seed-0.ckpt"
    good = path.read_bytes()
    capsys.readouterr()
    assert main(["train", *SMALL[:-4], "--batch-size", "4", "--threads", "1", "--epochs", "3", "--quiet", "--resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "batch_size" in err and err.count("\n") == 1
    assert main(["train", *SMALL, "--model", "sage", "--epochs", "3", "--quiet", "--resume", str(folder)]) == 2
    assert "model" in capsys.readouterr().err
    path.write_bytes(good[: len(good) // 2])
    assert main(["train", *SMALL, "--epochs", "3", "--quiet", "--resume", str(folder)]) == 2
    assert f"{path}: truncated" in capsys.readouterr().err
    assert main(["train", *SMALL, "--epochs", "3", "--quiet", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint there" in capsys.readouterr().err


def test_plot_and_workers(tmp_path):
    png, out = tmp_path / "curves.png", tmp_path / "run.json"
    assert main(["train", *SMALL, "--epochs", "3", "--seeds", "2", "--quiet", "--workers", "2",
                 "--plot", str(png), "--json", str(out)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    alone = tmp_path / "alone.json"
    assert main(["train", *SMALL, "--epochs", "3", "--seeds", "2", "--quiet", "--json", str(alone)]) == 0
    assert _epochs(out) == _epochs(alone)  # worker processes change no batch
    assert main(["train", "--dataset", "sbm:400,3,6", "--workers", "2", "--epochs", "1"]) == 2
