"""How a training method plugs into the one loop (:class:`~sparsegnn.train.Trainer`): it
supplies each epoch's batches, the loss of a batch, and the logits the loop evaluates.

:class:`FullBatch` is the full-graph method; samplers, GNNAutoScale, distillation and QAT are
further :class:`Method` subclasses, never copies of the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nn.gcn_conv import aggregate_first


@dataclass
class Batch:
    """One optimisation step's input.

    Attributes:
        x: ``[n, F]`` features of the batch's nodes (the columns of ``graph``; dense or sparse).
        graph: the adjacency the model takes (a :class:`sparsegnn.Graph`, ready: normalised by
            the method once per batch, or an ``edge_index``).
        y: int64 ``[t]`` labels of the nodes that count in the loss.
        loss_rows: int64 ``[t]``, the output rows those labels belong to (``None``: every row).
        loss_weight: ``[t]`` per-node loss weights, summed (GraphSAINT's lambda); ``None``
            takes the mean cross-entropy.
        node_ids: int64 ``[n]`` global ids of the batch's nodes (``None``: the whole graph).
    """

    x: Tensor
    graph: Any
    y: Tensor
    loss_rows: Tensor | None = None
    loss_weight: Tensor | None = None
    node_ids: Tensor | None = None


def batch_loss(logits: Tensor, batch: Batch) -> Tensor:
    """Cross-entropy of the batch's loss rows: the mean, or the ``loss_weight``-weighted sum."""
    if batch.loss_rows is not None:
        logits = logits[batch.loss_rows]
    if batch.loss_weight is None:
        return F.cross_entropy(logits.float(), batch.y)
    return (F.cross_entropy(logits.float(), batch.y, reduction="none") * batch.loss_weight).sum()


class Method:
    """A training method: what :class:`~sparsegnn.train.Trainer` asks of it.

    Subclasses implement :meth:`batches` and :meth:`predict`; :meth:`loss` defaults to the
    cross-entropy of the batch's loss rows (:func:`batch_loss`).
    """

    def batches(self, epoch: int) -> Iterable[Batch]:
        """The batches of epoch ``epoch`` (0-based), in order."""
        raise NotImplementedError

    #: whether training steps run GCN layers aggregating before their linear map on square batch
    #: graphs where that is cheaper (:func:`sparsegnn.nn.gcn_conv.aggregate_first` with
    #: ``square=True``: equal up to rounding); the samplers' methods do
    aggregates_first: bool = False

    def forward(self, model: torch.nn.Module, batch: Batch, **kwargs: Any) -> Any:
        """``model(batch.x, batch.graph, **kwargs)`` for a training step, in the layer order
        :attr:`aggregates_first` asks for."""
        if not self.aggregates_first:
            return model(batch.x, batch.graph, **kwargs)
        with aggregate_first(square=True):
            return model(batch.x, batch.graph, **kwargs)

    def loss(self, model: torch.nn.Module, batch: Batch) -> Tensor:
        """The scalar loss of one batch (the model is in training mode)."""
        return batch_loss(self.forward(model, batch), batch)

    def predict(self, model: torch.nn.Module) -> Tensor:
        """``[N, C]`` logits of every node for evaluation (eval mode, no gradient)."""
        raise NotImplementedError

    #: the gradient clipping (total 2-norm) the method's paper trains with; None: none
    grad_clip: float | None = None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module to train in place of the built ``model`` (GAS wraps it with its
        histories); the model itself by default."""
        return model

    def bind(self, model: torch.nn.Module) -> None:
        """Called once by the loop with the model it trains (unwrapped by DDP), before a
        checkpoint is restored: a method that keeps per-model state (GAS's histories) sizes it
        here."""

    def keep_every_row(self) -> None:
        """From now on, make the model give an output row for every node of a batch (a wrapper
        whose loss reads them all, distillation's, calls this before :meth:`bind`). A method
        whose batches cut rows away (neighbour sampling's hop-trimmed blocks) stops cutting."""

    def shard(self, rank: int, world: int) -> None:
        """Yield only this rank's share of each epoch's batches from now on (data-parallel
        training, :mod:`sparsegnn.train.distributed`). A method that cannot be split refuses."""
        if world != 1:
            raise ValueError(f"method: {type(self).__name__} cannot be split across {world} ranks")

    def end_epoch(self, epoch: int) -> None:
        """Called by the loop after epoch ``epoch``'s optimisation steps, before evaluation (on
        every rank: GAS makes its histories agree across ranks here)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep of the method beyond its constructor's arguments (tensors,
        numbers, strings, containers). Methods whose draws depend only on their seed and the
        epoch (the samplers) keep nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if state:
            raise ValueError(f"state: {type(self).__name__} keeps no state, got keys {sorted(state)}")


class FullBatch(Method):
    """Full-graph training: one batch per epoch, the whole graph, loss on the training nodes.

    Args:
        x: ``[N, F]`` node features (dense or sparse COO).
        graph: the adjacency the model takes (e.g. ``data.graph``).
        y: int64 ``[N]`` labels.
        train_mask: bool ``[N]``, the nodes in the loss.
    """

    def __init__(self, x: Tensor, graph: Any, y: Tensor, train_mask: Tensor) -> None:
        if train_mask.dtype != torch.bool or train_mask.shape != y.shape:
            raise ValueError(f"train_mask: expected a bool mask of shape {tuple(y.shape)}")
        if not bool(train_mask.any()):
            raise ValueError("train_mask: no training node")
        rows = train_mask.nonzero().flatten()
        self.batch = Batch(x, graph, y[rows], loss_rows=rows)

    def batches(self, epoch: int) -> Iterable[Batch]:
        return (self.batch,)

    def predict(self, model: torch.nn.Module) -> Tensor:
        return model(self.batch.x, self.batch.graph)
