"""The GNNAutoScale model (Fey et al., ICML 2021): any GCN, SAGE or EGC
:class:`~sparsegnn.nn.LayerStack` trained on batches of METIS parts with historical embeddings.

For a batch with targets ``T`` and 1-hop halo ``H`` (:mod:`.halo`), layer ``l`` maps
``[T ∪ H, F_l] -> [T, F_{l+1}]`` on the batch graph; between layers the targets' outputs are
pushed to history ``l`` and the halo's layer-``l`` embeddings pulled from it:

    h^{l+1}_T = f_l(h^l_T ∥ H̄^l_H),     H̄^l_T <- h^{l+1}_T

where ``H̄^l`` is history ``l`` (no gradient flows into it) and ``h^0`` are the input features
of ``T ∪ H``. Memory is that of one batch for any depth (``L - 1`` histories of ``[N, hidden]``
live on the host). :meth:`GASModel.inference` runs the same layers layer by layer over all
batches (the model's METIS parts in order), pushing every node's fresh embedding, so for fresh
histories it is the full-batch forward (the rows of a full-graph-normalised adjacency aggregate
over exactly the full graph's entries, in its order).

The adjacency is the one the wrapped layers use on the full graph: GCN's and EGC's
``D^-1/2 (A + I) D^-1/2`` computed once with full-graph degrees (PyGAS: ``gcn_norm`` before
partitioning; a batch's own degrees would be wrong), SAGE's raw graph (its mean runs over a
target's full neighbourhood, which the batch graph holds).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..graph import Graph, Partition
from ..nn import EGC, GCN, SAGE, LayerStack
from ..nn.gcn_conv import aggregate_first
from ..sampling.common import take_rows
from .halo import HaloBatch, HaloBatcher
from .history import History
from .transfer import Transfers

MODELS = (GCN, SAGE, EGC)


class GASModel(torch.nn.Module):
    """A :class:`~sparsegnn.nn.GCN`, :class:`~sparsegnn.nn.SAGE` or :class:`~sparsegnn.nn.EGC`
    with ``num_layers - 1`` histories (one per hidden layer output), laid out by a METIS
    partition (node ``v``'s row is its position in ``partition.perm``).

    Args:
        stack: the model (its convs must not cache a graph: every batch has its own).
        partition: the :class:`~sparsegnn.graph.Partition` of the full graph (one part per
            node; the histories have a row per node).
        batch_size: parts per batch of :meth:`inference` (``>= 1``; PyGAS evaluates with the
            training batches' size).
        history_dtype: storage of the histories (:class:`~sparsegnn.gas.History`).
        history_device: where the histories live (default the host, as PyGAS).
        reorder: in training steps, let GCN layers aggregate before their linear map where that
            is cheaper (:func:`~sparsegnn.nn.gcn_conv.aggregate_first`: the linear map then
            runs on the targets, not on every halo row; equal up to float rounding). The
            layer-wise :meth:`inference` keeps PyG's order, so it equals the full-batch forward
            exactly.

    ``forward(x, graph, halo)``: ``x`` ``[t + h, F_in]`` (dense or sparse COO) features of
    ``halo.node_ids``, ``graph`` the ``[t, t + h]`` batch graph; returns ``[t, F_out]`` logits
    and pushes the targets' hidden outputs. ``inference(data)``: ``[N, F_out]`` logits of the
    full graph. The ``state_dict`` is the stack's (keys ``stack.*``); the histories are the
    training method's state (:class:`~sparsegnn.gas.GAS`).
    """

    def __init__(self, stack: LayerStack, partition: Partition, batch_size: int = 1,
                 history_dtype: str | torch.dtype = "float32", history_device: str | torch.device = "cpu",
                 reorder: bool = True) -> None:
        super().__init__()
        if not isinstance(stack, MODELS):
            raise TypeError(f"stack: GAS wraps a GCN, SAGE or EGC, got {type(stack).__name__}")
        if any(getattr(conv, "cached", False) for conv in stack.layers):
            raise ValueError("stack: its convs cache the graph (cached=True); GAS batches need cached=False")
        if not isinstance(partition, Partition):
            raise TypeError(f"partition: expected a sparsegnn.graph.Partition, got {type(partition).__name__}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size:
            raise ValueError(f"batch_size: expected an int >= 1 (parts per batch), got {batch_size!r}")
        self.stack, self.partition, self.batch_size, self.reorder = stack, partition, batch_size, bool(reorder)
        num_nodes = partition.part.numel()
        self.histories = [History(num_nodes, stack.layers[i].out_channels, history_dtype, history_device)
                          for i in range(stack.num_layers - 1)]
        self.transfers = Transfers()
        self._batches: tuple[Graph, HaloBatcher, list[HaloBatch] | None] | None = None

    @property
    def num_nodes(self) -> int:
        """Nodes of the full graph (history rows)."""
        return self.partition.part.numel()

    def adjacency(self, graph: Graph) -> Graph:
        """The full-graph adjacency the layers aggregate over (see the module docstring and
        :meth:`~sparsegnn.nn.LayerStack.full_adjacency`)."""
        return self.stack.full_adjacency(graph)

    def halo_batcher(self, graph: Graph) -> HaloBatcher:
        """The :class:`HaloBatcher` of the full ``graph`` (``N`` nodes) on this model's adjacency
        and partition, kept for the last graph asked for."""
        if not isinstance(graph, Graph) or not graph.is_square or graph.num_nodes != self.num_nodes:
            raise ValueError(f"graph: expected the square sparsegnn Graph of the {self.num_nodes} nodes the "
                             f"histories hold, got {getattr(graph, 'shape', type(graph).__name__)}")
        if self._batches is None or self._batches[0] is not graph:
            self._batches = (graph, HaloBatcher(self.adjacency(graph), self.partition), None)
        return self._batches[1]

    def eval_batches(self, graph: Graph) -> list[HaloBatch]:
        """:meth:`inference`'s batches: the parts in order, ``batch_size`` at a time (built once
        per graph)."""
        batcher = self.halo_batcher(graph)
        if self._batches[2] is None:
            self._batches = (graph, batcher, [batcher(parts) for parts in batcher.groups(self.batch_size)])
        return self._batches[2]

    def forward(self, x: Tensor, graph: Graph, halo: HaloBatch) -> Tensor:
        pulls = [self.transfers.pull(h, halo.halo_rows, x.device) for h in self.histories]
        out = x
        with aggregate_first(self.reorder):
            for i in range(self.stack.num_layers):
                out = self.stack.layer(i, out, graph)
                if i < len(self.histories):
                    self.transfers.push_chunks(self.histories[i], out, halo.offsets, halo.counts)
                    out = torch.cat([out, pulls[i].wait()])
        return out

    @torch.no_grad()
    def inference(self, data: Any) -> Tensor:
        """``[N, F_out]`` logits of every node, layer by layer and batch by batch (eval mode):
        layer ``l`` runs on every batch of the model's parts (in order, ``batch_size`` at a time)
        and pushes its output to history ``l``, which layer ``l + 1`` pulls. Memory beyond the
        histories and the output is one batch's; the next batch's input rows are gathered while
        the current one computes.

        Args:
            data: anything with ``x`` (float ``[N, F_in]`` model inputs, dense or sparse COO)
                and ``graph`` (the full :class:`~sparsegnn.graph.Graph`, ``N`` nodes): a
                :class:`~sparsegnn.data.GraphData` or the :class:`~sparsegnn.gas.GAS` method.
        """
        x, graph = getattr(data, "x", None), getattr(data, "graph", None)
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) != self.num_nodes:
            raise ValueError(f"data: expected x of {self.num_nodes} rows (the model's inputs), got "
                             f"{None if not isinstance(x, Tensor) else tuple(x.shape)}")
        batches = self.eval_batches(graph)
        was_training = self.training
        self.eval()
        device = x.device
        out = None
        try:
            for i in range(self.stack.num_layers):
                self.transfers.wait_all()
                source = self.histories[i - 1] if i else None

                def load(batch: HaloBatch) -> object:
                    if source is None:
                        return take_rows(x, batch.node_ids)
                    return self.transfers.pull(source, batch.rows, device)

                pending = load(batches[0])
                for k, batch in enumerate(batches):
                    inputs = pending.wait() if source is not None else pending
                    pending = load(batches[k + 1]) if k + 1 < len(batches) else None
                    h = self.stack.layer(i, inputs, batch.graph)
                    if i < len(self.histories):
                        self.transfers.push_chunks(self.histories[i], h, batch.offsets, batch.counts)
                    else:
                        if out is None:
                            out = h.new_empty(x.size(0), h.size(1))
                        out[batch.target_ids.to(device)] = h
            self.transfers.wait_all()
        finally:
            self.train(was_training)
        return out
