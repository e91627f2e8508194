"""The GNNAutoScale model (Fey et al., ICML 2021): any GCN, SAGE or EGC
:class:`~sparsegnn.nn.LayerStack` trained on batches of METIS parts with historical embeddings.

For a batch with targets ``T`` and 1-hop halo ``H`` (:mod:`.halo`), layer ``l`` maps
``[T ∪ H, F_l] -> [T, F_{l+1}]`` on the batch graph; between layers the targets' outputs are
pushed to history ``l`` and the halo's layer-``l`` embeddings pulled from it:

    h^{l+1}_T = f_l(h^l_T ∥ H̄^l_H),     H̄^l_T <- h^{l+1}_T

where ``H̄^l`` is history ``l`` (no gradient flows into it) and ``h^0`` are the input features
of ``T ∪ H``. Memory is that of one batch for any depth (``L - 1`` histories of ``[N, hidden]``
live on the host). :meth:`GASModel.inference` runs the same layers layer by layer over all
batches, pushing every node's fresh embedding, so for fresh histories it is the full-batch
forward (the rows of a full-graph-normalised adjacency aggregate over exactly the full graph's
entries, in its order).

The adjacency is the one the wrapped layers use on the full graph: GCN's and EGC's
``D^-1/2 (A + I) D^-1/2`` computed once with full-graph degrees (PyGAS: ``gcn_norm`` before
partitioning; a batch's own degrees would be wrong), SAGE's raw graph (its mean runs over a
target's full neighbourhood, which the batch graph holds).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..graph import Graph
from ..nn import EGC, GCN, SAGE, LayerStack
from ..sampling.common import take_rows
from .halo import HaloBatch
from .history import History
from .transfer import Transfers

MODELS = (GCN, SAGE, EGC)


class GASModel(torch.nn.Module):
    """A :class:`~sparsegnn.nn.GCN`, :class:`~sparsegnn.nn.SAGE` or :class:`~sparsegnn.nn.EGC`
    with ``num_layers - 1`` histories (one per hidden layer output).

    Args:
        stack: the model (its convs must not cache a graph: every batch has its own).
        num_nodes: nodes of the full graph (history rows).
        history_dtype: storage of the histories (:class:`~sparsegnn.gas.History`).
        history_device: where the histories live (default the host, as PyGAS).

    ``forward(x, graph, halo)``: ``x`` ``[t + h, F_in]`` (dense or sparse COO) features of
    ``halo.node_ids``, ``graph`` the ``[t, t + h]`` batch graph; returns ``[t, F_out]`` logits
    and pushes the targets' hidden outputs. The ``state_dict`` is the stack's (keys
    ``stack.*``); the histories are the training method's state (:class:`~sparsegnn.gas.GAS`).
    """

    def __init__(self, stack: LayerStack, num_nodes: int, history_dtype: str | torch.dtype = "float32",
                 history_device: str | torch.device = "cpu") -> None:
        super().__init__()
        if not isinstance(stack, MODELS):
            raise TypeError(f"stack: GAS wraps a GCN, SAGE or EGC, got {type(stack).__name__}")
        if any(getattr(conv, "cached", False) for conv in stack.layers):
            raise ValueError("stack: its convs cache the graph (cached=True); GAS batches need cached=False")
        self.stack = stack
        self.histories = [History(num_nodes, stack.layers[i].out_channels, history_dtype, history_device)
                          for i in range(stack.num_layers - 1)]
        self.transfers = Transfers()

    def adjacency(self, graph: Graph) -> Graph:
        """The full-graph adjacency the layers aggregate over (see the module docstring)."""
        if isinstance(self.stack, SAGE):
            return graph
        conv = self.stack.layers[0]
        return graph.gcn_norm(add_self_loops=conv.add_self_loops, improved=getattr(conv, "improved", False))

    def forward(self, x: Tensor, graph: Graph, halo: HaloBatch) -> Tensor:
        pulls = [self.transfers.pull(h, halo.halo_rows, x.device) for h in self.histories]
        out = x
        for i in range(self.stack.num_layers):
            out = self.stack.layer(i, out, graph)
            if i < len(self.histories):
                self.transfers.push_chunks(self.histories[i], out, halo.offsets, halo.counts)
                out = torch.cat([out, pulls[i].wait()])
        return out

    @torch.no_grad()
    def inference(self, x: Tensor, batches: Sequence[HaloBatch]) -> Tensor:
        """``[N, F_out]`` logits of every node, layer by layer and batch by batch (eval mode),
        pushing every hidden output to its history; memory beyond the histories is one batch's.
        The next batch's input rows are gathered while the current one computes.

        Args:
            x: ``[N, F_in]`` features (dense or sparse COO).
            batches: batches whose targets cover every node once (e.g. the parts in order).
        """
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

                pending = load(batches[0]) if batches else None
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
