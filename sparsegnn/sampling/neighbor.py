"""Neighbour sampling (Hamilton et al. 2017, GraphSAGE's fan-outs; PyG's ``NeighborLoader``).

Each batch takes ``batch_size`` training seeds (reshuffled every epoch) and samples, hop by hop,
up to ``num_neighbors[h]`` distinct neighbours of every node first reached at hop ``h``
(``-1``: all of them). The batch is one square graph on the sampled nodes, the seeds first, with
the sampled entries only: a model of ``len(num_neighbors)`` layers computes the seeds' outputs
exactly as far as the samples reach, and the loss is the mean cross-entropy of the seeds alone
(``out[:batch_size]``). With every fan-out ``-1`` that is the full-batch output on the seeds.

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
        x, graph, y, train_mask, seed, num_workers: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        num_neighbors: fan-out per hop, ints ``>= 1`` or ``-1`` (default ``[25, 10]``, the
            GraphSAGE paper's ``S1, S2``); one hop per model layer.
        batch_size: seeds per batch (default 512, GraphSAGE's).
        norm: ``None`` (raw entries: SAGE) or ``"gcn"`` (see the module docstring).

    A batch: ``x [n, F]`` (seeds first), a square ``Graph [n, n]``, ``y [s]`` and
    ``loss_rows = arange(s)`` for its ``s`` seeds, ``node_ids [n]``.
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
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers)
        self.num_neighbors = check_fanouts("num_neighbors", num_neighbors)
        self.batch_size = check_int("batch_size", batch_size)
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
        self.norm = norm
        self.source = full_gcn_graph(graph) if norm == "gcn" else graph
        self._scratch = kernels.node_map(graph.num_nodes)

    @property
    def eval_graph(self) -> Graph:
        return self.source

    def sample(self, seeds: Tensor, generator: np.random.Generator) -> tuple[Tensor, Graph]:
        """``(node_ids [n], graph [n, n])`` of the sampled neighbourhood of ``seeds`` (int64
        ``[s]`` distinct), seeds first."""
        rowptr, col = csr_numpy(self.source)
        nodes, _, row, local_col, position = kernels.neighbor_sample(
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
        return nodes, Graph.from_coo(row, local_col, value, n, n, norm=tag)

    def plan(self, epoch: int) -> list[Tensor]:
        """The epoch's shuffled training seeds, ``batch_size`` at a time."""
        return batch_permutation(self.train_ids, self.batch_size, rng(self.seed, EPOCH, epoch))

    def make_batch(self, epoch: int, index: int, item: Tensor) -> Batch:
        nodes, graph = self.sample(item, rng(self.seed, EPOCH, epoch, index))
        return Batch(take_rows(self.x, nodes), graph, self.y[item], loss_rows=torch.arange(item.numel()),
                     node_ids=nodes)
