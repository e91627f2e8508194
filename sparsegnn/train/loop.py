"""The one training loop: :class:`Trainer` runs a :class:`~sparsegnn.train.methods.Method` for
some epochs, evaluates every epoch, keeps the best-validation state and records each epoch.

Per epoch it records the mean batch loss, the accuracy and loss on every split, the epoch time
split into sampling (waiting for the method's next batch) and compute, and the process's peak
RSS. Selection: the epoch with the best validation accuracy (ties go to the later epoch), or the
last epoch; early stopping after ``patience`` epochs without a better validation accuracy.
"""

from __future__ import annotations

import copy
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .methods import Batch, Method

SELECTIONS = ("val", "last")


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
        select: ``"val"`` (best validation accuracy) or ``"last"``.
        patience: stop after this many epochs without a better validation accuracy (None: off).
        keep_best_state: keep a copy of the model's ``state_dict`` at the selected epoch.
        on_epoch: called with every :class:`EpochRecord` (logging, progress, checkpoints).
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
    ) -> None:
        if epochs < 1:
            raise ValueError(f"epochs: expected >= 1, got {epochs}")
        if select not in SELECTIONS:
            raise ValueError(f"select: expected one of {SELECTIONS}, got {select!r}")
        if select == "val" and masks.get("val") is None:
            raise ValueError("masks: select='val' needs a 'val' mask")
        if patience is not None and patience < 1:
            raise ValueError(f"patience: expected >= 1 or None, got {patience}")
        if lr <= 0:
            raise ValueError(f"lr: expected > 0, got {lr}")
        self.model, self.method, self.y = model, method, y
        self.masks = {s: m for s, m in masks.items() if m is not None}
        params = param_groups if param_groups is not None else model.parameters()
        self.optimizer = optimizer or torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        self.epochs, self.select, self.patience = epochs, select, patience
        self.keep_best_state, self.on_epoch = keep_best_state, on_epoch

    def step(self, batch: Batch) -> float:
        """One optimisation step on ``batch``; returns its loss."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.method.loss(self.model, batch)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """``(mean batch loss, sampling seconds, compute seconds)`` of one epoch."""
        losses, sample_time, compute_time = [], 0.0, 0.0
        batches = iter(self.method.batches(epoch))
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            sample_time += time.perf_counter() - start
            if batch is None:
                break
            start = time.perf_counter()
            losses.append(self.step(batch))
            compute_time += time.perf_counter() - start
        if not losses:
            raise ValueError(f"method: epoch {epoch} yielded no batch")
        return sum(losses) / len(losses), sample_time, compute_time

    @torch.no_grad()
    def evaluate(self) -> tuple[dict[str, float], dict[str, float]]:
        """``(accuracy in percent, mean cross-entropy)`` per split, from one prediction."""
        self.model.eval()
        logits = self.method.predict(self.model).float()
        acc, loss = {}, {}
        for split, mask in self.masks.items():
            if not bool(mask.any()):
                continue
            out, y = logits[mask], self.y[mask]
            acc[split] = 100.0 * float((out.argmax(-1) == y).float().mean())
            loss[split] = float(F.cross_entropy(out, y))
        return acc, loss

    def fit(self) -> FitResult:
        """Train for ``epochs`` (or until early stopping) and return the selected epoch."""
        result = FitResult(best_epoch=-1, acc={})
        best_val, stale = -1.0, 0
        for epoch in range(self.epochs):
            start = time.perf_counter()
            loss, sample_time, compute_time = self.train_epoch(epoch)
            acc, eval_loss = self.evaluate()
            record = EpochRecord(
                epoch, loss, acc, eval_loss, time.perf_counter() - start, sample_time,
                compute_time, peak_rss_mib(),
            )
            result.records.append(record)
            improved = self.select == "last" or acc.get("val", -1.0) >= best_val
            if improved:
                best_val = max(best_val, acc.get("val", -1.0))
                result.best_epoch, result.acc = epoch, dict(acc)
                if self.keep_best_state:
                    result.best_state = copy.deepcopy(self.model.state_dict())
            if self.on_epoch is not None:
                self.on_epoch(record)
            stale = 0 if improved else stale + 1
            if self.patience is not None and stale >= self.patience:
                break
        return result
