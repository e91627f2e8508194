"""``torchrun --nproc_per_node=2 -m sparsegnn train``: two gloo ranks on loopback train a sampled
method data-parallel, match single-process accuracy within noise, and resume from their
checkpoints exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch.distributed.run")

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "sbm:600,3,6", "--method", "cluster", "--num-parts", "12", "--batch-size", "2",
        "--quiet", "--seeds", "2"]


def _run(*args: str, ranks: int = 2) -> dict:
    out = Path(args[args.index("--json") + 1])
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else []
    done = subprocess.run([sys.executable, *launcher, "-m", "sparsegnn", "train", *ARGS, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(out.read_text())


def _losses(payload: dict) -> list[tuple]:
    return [(e["seed"], e["epoch"], e["loss"], e["val_acc"], e["test_acc"]) for e in payload["epochs"]]


def test_two_ranks_train_to_single_process_accuracy_and_resume_exactly(tmp_path):
    two = _run("--epochs", "40", "--json", str(tmp_path / "two.json"))
    one = _run("--epochs", "40", "--json", str(tmp_path / "one.json"), "--threads", "1", ranks=1)
    assert two["config"]["ranks"] == 2 and one["config"]["ranks"] == 1
    assert abs(two["test_acc_mean"] - one["test_acc_mean"]) < 5.0, (two["test_acc_mean"], one["test_acc_mean"])
    assert two["test_acc_mean"] > 80  # three well-separated blocks
    assert _losses(two) != _losses(one)  # each rank saw half of each epoch's batches
    folder = tmp_path / "ckpt"
    _run("--epochs", "25", "--checkpoint", str(folder), "--json", str(tmp_path / "part.json"))
    resumed = _run("--epochs", "40", "--resume", str(folder), "--json", str(tmp_path / "resumed.json"))
    assert _losses(resumed) == _losses(two)


def test_full_batch_is_refused_under_torchrun(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sparsegnn",
         "train", "--dataset", "sbm:200,2,4", "--epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "torchrun needs a sampled --method" in done.stderr
