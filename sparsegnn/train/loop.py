"""The one training loop: :class:`Trainer` runs a :class:`~sparsegnn.train.methods.Method` for
some epochs, evaluates every epoch, keeps the best-validation state and records each epoch.

Per epoch it records the mean batch loss, the accuracy and loss on every split, the epoch time
split into sampling (waiting for the method's next batch) and compute, and the process's peak
RSS. Selection: the epoch with the best validation accuracy (ties go to the later epoch; with
``"val-first"`` to the earlier one, as PyGAS's benchmarks pick it), or the last epoch; early
stopping after ``patience`` epochs without a better validation accuracy.

With ``checkpoint=PATH`` it writes a checkpoint after every epoch (:mod:`.checkpoint`: atomic,
checked when read back) and, with ``resume=True``, continues from the one at ``PATH``: the
resumed run's epochs equal those of a run never stopped (same batches, dropout masks and
optimizer state). Under torchrun (``distributed``, :mod:`.distributed`) the model trains under
DistributedDataParallel on each rank's share of the batches; rank 0 evaluates and checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import os
import random
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import checkpoint as ckpt
from .distributed import Distributed
from .methods import Batch, Method

SELECTIONS = ("val", "val-first", "last")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class EpochRecord:
    """What one epoch did. Accuracies are in percent; times in seconds."""

    epoch: int
    loss: float
    acc: dict[str, float]
    eval_loss: dict[str, float]
    epoch_time: float
    sample_time: float
    compute_time: float
    peak_rss_mib: float

    def as_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            **{f"{s}_acc": a for s, a in self.acc.items()},
            **{f"{s}_loss": v for s, v in self.eval_loss.items()},
            "epoch_time": self.epoch_time,
            "sample_time": self.sample_time,
            "compute_time": self.compute_time,
            "peak_rss_mib": self.peak_rss_mib,
        }


@dataclass
class FitResult:
    """The selected epoch and the whole history."""

    best_epoch: int
    acc: dict[str, float]
    records: list[EpochRecord] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = None


def check_lr(lr: float) -> None:
    """ValueError unless the learning rate ``lr`` is > 0."""
    if not lr > 0:
        raise ValueError(f"lr: expected > 0, got {lr}")


_FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params, lr: float, weight_decay: float) -> torch.optim.Adam:
    """Adam over ``params`` (tensors, or param-group dicts), fused into one kernel for all of
    them where torch has that for their devices and dtypes: the same update (to rounding), and
    on a ClusterGCN step of a 2 x 128 GCN torch's per-tensor loop cost 0.6 ms of about 8."""
    params = [{**g, "params": [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])}
              if isinstance(g, dict) else g for g in params]
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    fused = bool(tensors) and all(
        p.is_floating_point() and p.device.type in _FUSED_ADAM_DEVICES and p.layout == torch.strided for p in tensors
    )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


class Trainer:
    """Trains ``model`` with ``method`` and evaluates it on ``masks``.

    Args:
        model: any module the method can call.
        method: supplies batches, the loss and the evaluation logits.
        y: int64 ``[N]`` labels, and ``masks`` a dict ``{"train", "val", "test"}`` of bool
            ``[N]`` (a missing split is not evaluated).
        optimizer: defaults to Adam over ``param_groups`` (or all parameters) with ``lr`` and
            ``weight_decay``.
        epochs: number of epochs (>= 1).
        select: ``"val"`` (best validation accuracy, the later of tied epochs), ``"val-first"``
            (the earlier of tied epochs) or ``"last"``.
        patience: stop after this many epochs without a better validation accuracy (None: off).
        keep_best_state: keep a copy of the model's ``state_dict`` at the selected epoch.
        on_epoch: called with every :class:`EpochRecord` (logging, progress); on resume first
            with the restored epochs' records.
        grad_clip: clip the gradients' total 2-norm to this before each step (None: off).
        checkpoint: write a checkpoint here after every epoch (None: off).
        resume: continue from the checkpoint at ``checkpoint`` where there is one.
        identity: JSON-able description of the run (dataset, model, settings, seed) stored in
            the checkpoint and compared on resume.
        distributed: this rank's place under torchrun (None: one process).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        method: Method,
        y: Tensor,
        masks: dict[str, Tensor],
        *,
        lr: float = 0.01,
        weight_decay: float = 0.0,
        param_groups: list[dict] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        epochs: int = 200,
        select: str = "val",
        patience: int | None = None,
        keep_best_state: bool = True,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        grad_clip: float | None = None,
        checkpoint: str | os.PathLike | None = None,
        resume: bool = False,
        identity: dict[str, Any] | None = None,
        distributed: Distributed | None = None,
    ) -> None:
        if epochs < 1:
            raise ValueError(f"epochs: expected >= 1, got {epochs}")
        if select not in SELECTIONS:
            raise ValueError(f"select: expected one of {SELECTIONS}, got {select!r}")
        if select != "last" and masks.get("val") is None:
            raise ValueError(f"masks: select={select!r} needs a 'val' mask")
        if patience is not None and patience < 1:
            raise ValueError(f"patience: expected >= 1 or None, got {patience}")
        check_lr(lr)
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip: expected > 0 or None, got {grad_clip}")
        if resume and checkpoint is None:
            raise ValueError("resume: needs a checkpoint path")
        self.model, self.method, self.y = model, method, y
        self.masks = {s: m for s, m in masks.items() if m is not None}
        params = param_groups if param_groups is not None else model.parameters()
        self.optimizer = optimizer or adam(params, lr, weight_decay)
        self.epochs, self.select, self.patience = epochs, select, patience
        self.keep_best_state, self.on_epoch, self.grad_clip = keep_best_state, on_epoch, grad_clip
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.resume, self.identity, self.distributed = resume, dict(identity or {}), distributed
        self.train_model: torch.nn.Module = model
        method.bind(model)
        if distributed is not None:
            method.shard(distributed.rank, distributed.world)
            self.train_model = distributed.wrap(model)

    @property
    def is_main(self) -> bool:
        """Whether this process evaluates and writes checkpoints (rank 0, or the only one)."""
        return self.distributed is None or self.distributed.is_main

    def step(self, batch: Batch) -> float:
        """One optimisation step on ``batch``; returns its loss."""
        self.train_model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.method.loss(self.train_model, batch)
        loss.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return float(loss.detach())

    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """``(mean batch loss over all ranks, sampling seconds, compute seconds)`` of one epoch."""
        losses, sample_time, compute_time = [], 0.0, 0.0
        batches = iter(self.method.batches(epoch))
        with self._uneven_inputs():
            while True:
                start = time.perf_counter()
                batch = next(batches, None)
                sample_time += time.perf_counter() - start
                if batch is None:
                    break
                start = time.perf_counter()
                losses.append(self.step(batch))
                compute_time += time.perf_counter() - start
        total, count = sum(losses), len(losses)
        if self.distributed is not None:
            total, count = self.distributed.sum(total, count)
        if not count:
            raise ValueError(f"method: epoch {epoch} yielded no batch")
        self.method.end_epoch(epoch)
        return total / count, sample_time, compute_time

    def _uneven_inputs(self):
        """DDP's ``join`` (ranks with fewer batches shadow the others' all-reduces), or nothing."""
        if self.distributed is None:
            return contextlib.nullcontext()
        return self.train_model.join()

    @torch.no_grad()
    def evaluate(self) -> tuple[dict[str, float], dict[str, float]]:
        """``(accuracy in percent, mean cross-entropy)`` per split, from one prediction (on rank
        0, broadcast to the others)."""
        acc, loss = {}, {}
        if self.is_main:
            self.model.eval()
            logits = self.method.predict(self.model).float()
            for split, mask in self.masks.items():
                if not bool(mask.any()):
                    continue
                out, y = logits[mask], self.y[mask]
                acc[split] = 100.0 * float((out.argmax(-1) == y).float().mean())
                loss[split] = float(F.cross_entropy(out, y))
        if self.distributed is not None:
            acc, loss = self.distributed.broadcast((acc, loss))
        return acc, loss

    def fit(self) -> FitResult:
        """Train for ``epochs`` (or until early stopping) and return the selected epoch."""
        result = FitResult(best_epoch=-1, acc={})
        progress = {"best_val": -1.0, "stale": 0, "next_epoch": 0, "stopped": False}
        if self.resume and self.checkpoint.exists():
            progress = self._restore(result)
        first = self.epochs if progress["stopped"] else progress["next_epoch"]
        for epoch in range(first, self.epochs):
            start = time.perf_counter()
            loss, sample_time, compute_time = self.train_epoch(epoch)
            acc, eval_loss = self.evaluate()
            record = EpochRecord(
                epoch, loss, acc, eval_loss, time.perf_counter() - start, sample_time,
                compute_time, peak_rss_mib(),
            )
            result.records.append(record)
            val = acc.get("val", -1.0)
            improved = (self.select == "last" or val > progress["best_val"]
                        or (self.select == "val" and val == progress["best_val"]))
            if improved:
                progress["best_val"] = max(progress["best_val"], acc.get("val", -1.0))
                result.best_epoch, result.acc = epoch, dict(acc)
                if self.keep_best_state:
                    result.best_state = copy.deepcopy(self.model.state_dict())
            progress["stale"] = 0 if improved else progress["stale"] + 1
            stop = self.patience is not None and progress["stale"] >= self.patience
            progress.update(next_epoch=epoch + 1, stopped=stop)
            if self.checkpoint is not None:
                self._save(result, progress)
            if self.on_epoch is not None:
                self.on_epoch(record)
            if stop:
                break
        return result

    def _save(self, result: FitResult, progress: dict[str, Any]) -> None:
        """Write the checkpoint of the epoch just done (rank 0; every rank's RNG state)."""
        rng = [ckpt.rng_state()]
        if self.distributed is not None:
            rng = self.distributed.gather(rng[0])
        if not self.is_main:
            return
        ckpt.save(self.checkpoint, {**self.identity, "world": len(rng)}, self.model, {
            "progress": progress,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "method": self.method.state_dict(),
            "rng": rng,
            "records": [asdict(record) for record in result.records],
            "best": {"epoch": result.best_epoch, "acc": result.acc, "state": result.best_state},
        })

    def _restore(self, result: FitResult) -> dict[str, Any]:
        """Load the checkpoint into the model, optimizer, method, RNGs and ``result``; replay the
        restored records through ``on_epoch``; return the selection progress."""
        world = 1 if self.distributed is None else self.distributed.world
        state = ckpt.load(self.checkpoint, {**self.identity, "world": world}, self.model)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.method.load_state_dict(state["method"])
        ckpt.set_rng_state(state["rng"][0 if self.distributed is None else self.distributed.rank])
        result.records.extend(EpochRecord(**record) for record in state["records"])
        result.best_epoch, result.acc = state["best"]["epoch"], dict(state["best"]["acc"])
        result.best_state = state["best"]["state"]
        if self.on_epoch is not None:
            for record in result.records:
                self.on_epoch(record)
        return dict(state["progress"])
