"""Neighbour sampling (Hamilton et al. 2017, GraphSAGE's fan-outs; PyG's ``NeighborLoader``).

Each batch takes ``batch_size`` training seeds (reshuffled every epoch) and samples, hop by hop,
up to ``num_neighbors[h]`` distinct neighbours of every node first reached at hop ``h``
(``-1``: all of them). The batch is one square graph on the sampled nodes, the seeds first, with
the sampled entries only: a model of ``len(num_neighbors)`` layers computes the seeds' outputs
exactly as far as the samples reach, and the loss is the mean cross-entropy of the seeds alone
(``out[:batch_size]``). With every fan-out ``-1`` that is the full-batch output on the seeds.

With ``trim`` a batch's graph is a list of one block per layer, cut from that
square graph: nodes come in hop order, so the rows layer ``i`` must produce (the nodes within
``L - 1 - i`` hops of the seeds) are a prefix, and so are the columns they read; layer ``i``
maps the first ``k_{L-i}`` nodes to the first ``k_{L-1-i}`` (``k_h``: nodes within ``h`` hops).
The seeds' outputs are the same; the work and activations of every layer but the first shrink to
the nodes that feed the seeds (PyG's ``trim_to_layer``). The blocks go to a
:class:`~sparsegnn.nn.LayerStack` with one layer per hop (checked when the loop binds the model);
any other model takes the square graph.

``norm=None`` keeps the raw sampled entries (SAGE's mean aggregation is then the mean over the
sampled neighbours); ``norm="gcn"`` samples from GCN's full-graph ``D^-1/2 (A + I) D^-1/2``
(its self loops are entries like any other) and scales the ``k_v`` sampled entries of a row of
``d_v`` entries by ``d_v / k_v``, an unbiased estimate of the full aggregation, exact at ``-1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.hugepages import back_with_huge_pages
from ..nn import LayerStack
from ..train import Batch
from . import kernels
from .common import (
    EPOCH,
    SampledMethod,
    batch_permutation,
    check_fanouts,
    check_int,
    csr_numpy,
    full_gcn_graph,
    kernel_seed,
    rng,
    take_rows,
)

NORMS = (None, "gcn")


class NeighborSampling(SampledMethod):
    """GraphSAGE-style fan-out sampling around training seeds.

    Args:
        x, graph, y, train_mask, seed, num_workers, evaluation: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        num_neighbors: fan-out per hop, ints ``>= 1`` or ``-1`` (default ``[25, 10]``, the
            GraphSAGE paper's ``S1, S2``); one hop per model layer.
        batch_size: seeds per batch (default 512, GraphSAGE's).
        norm: ``None`` (raw entries: SAGE) or ``"gcn"`` (see the module docstring).
        trim: hop-trimmed blocks, one per layer, instead of one square graph (see above).
            ``None`` (default): blocks once the loop binds a model that takes them
            (:meth:`bind`), the square graph before; ``True``: blocks from the start (a bound
            model that cannot take them still gets the square graph); ``False``: never.
            :meth:`keep_every_row` (distillation: its losses read every node's row) turns
            blocks off.

    A batch: ``x [n, F]`` (seeds first), a square ``Graph [n, n]`` (or its ``L`` blocks), ``y [s]``
    and ``loss_rows = arange(s)`` for its ``s`` seeds, ``node_ids [n]``.
    """

    def __init__(
        self,
        x: Tensor,
        graph: Graph,
        y: Tensor,
        train_mask: Tensor,
        num_neighbors: Sequence[int] = (25, 10),
        batch_size: int = 512,
        norm: str | None = None,
        trim: bool | None = None,
        seed: int = 0,
        num_workers: int = 0,
        evaluation: str = "auto",
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers, evaluation)
        self.num_neighbors = check_fanouts("num_neighbors", num_neighbors)
        self.batch_size = check_int("batch_size", batch_size)
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
        self.norm, self.trim, self._trim_asked = norm, bool(trim), trim
        self.source = full_gcn_graph(graph) if norm == "gcn" else graph
        back_with_huge_pages(self.source.rowptr, self.source.col, self.source.value)  # rows read all over it
        self._scratch = kernels.node_map(graph.num_nodes)

    @property
    def eval_graph(self) -> Graph:
        return self.source

    def keep_every_row(self) -> None:
        self.trim = self._trim_asked = False

    def bind(self, model: torch.nn.Module) -> None:
        """Blocks for a layer stack with one layer per hop (unless ``trim=False``), the square
        graph for any other model."""
        takes_blocks = isinstance(model, LayerStack) and model.num_layers == len(self.num_neighbors)
        self.trim = takes_blocks and self._trim_asked is not False

    def sample(self, seeds: Tensor, generator: np.random.Generator) -> tuple[Tensor, Graph | list[Graph]]:
        """``(node_ids [n], graph [n, n])`` of the sampled neighbourhood of ``seeds`` (int64
        ``[s]`` distinct), seeds first; with ``trim``, the graph's blocks (see the module
        docstring)."""
        rowptr, col = csr_numpy(self.source)
        nodes, hops, row, local_col, position = kernels.neighbor_sample(
            rowptr, col, seeds.numpy(), np.asarray(self.num_neighbors, dtype=np.int64),
            kernel_seed(generator), self._scratch,
        )
        nodes, row, local_col, position = (torch.from_numpy(a) for a in (nodes, row, local_col, position))
        n = nodes.numel()
        value, tag = None, None
        if self.source.value is not None:
            value = self.source.value[position]
        if self.norm == "gcn":
            full_degree = self.source.in_degree()[nodes[row]].to(value.dtype)
            sampled = torch.bincount(row, minlength=n).to(value.dtype)
            value, tag = value * full_degree / sampled[row], "gcn-sampled"
        graph = Graph.from_coo(row, local_col, value, n, n, norm=tag)
        if not self.trim:
            return nodes, graph
        depth = len(self.num_neighbors)
        within = np.searchsorted(hops, np.arange(depth + 1), side="right")  # k_h: nodes within h hops
        return nodes, [block(graph, int(within[depth - 1 - i]), int(within[depth - i])) for i in range(depth)]

    def plan(self, epoch: int) -> list[Tensor]:
        """The epoch's shuffled training seeds, ``batch_size`` at a time."""
        return batch_permutation(self.train_ids, self.batch_size, rng(self.seed, EPOCH, epoch))

    def make_batch(self, epoch: int, index: int, item: Tensor) -> Batch:
        nodes, graph = self.sample(item, rng(self.seed, EPOCH, epoch, index))
        return Batch(take_rows(self.x, nodes), graph, self.y[item], loss_rows=torch.arange(item.numel()),
                     node_ids=nodes)


def block(graph: Graph, rows: int, cols: int) -> Graph:
    """The first ``rows`` rows of a CSR whose entries in those rows all have columns below
    ``cols``, as a ``[rows, cols]`` graph (views, no copy)."""
    end = int(graph.rowptr[rows])
    value = graph.value[:end] if graph.value is not None else None
    return Graph(graph.rowptr[: rows + 1], graph.col[:end], value, cols, validate=False, norm=graph.norm)
