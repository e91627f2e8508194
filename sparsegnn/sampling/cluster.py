"""ClusterGCN (Chiang et al., "Cluster-GCN", KDD 2019).

The graph is cut into ``num_parts`` METIS parts once (:func:`sparsegnn.graph.partition`, cached on
disk with ``cache_dir``). Every epoch the parts are shuffled and grouped ``batch_size`` at a
time (the paper's stochastic multiple partitions, ``q`` parts per batch); a batch is the subgraph
induced by its parts' nodes, so the edges between its parts are restored. It is normalised with
its own degrees, as the paper does:

- ``diag_lambda=None``: GCN's ``D_s^-1/2 (A_s + I) D_s^-1/2``;
- ``diag_lambda=λ``: the diagonal enhancement ``Ã + λ diag(Ã)`` with
  ``Ã = (D_s + I)^-1 (A_s + I)`` (paper eq. 11; not in PyG).

The loss is the mean cross-entropy of the batch's training nodes (a batch without one is
skipped). Evaluation runs on the full graph, normalised the same way with full-graph degrees.

Unweighted GCN batches come from the graph's entries grouped by the pair of parts they join
(``kernels.part_blocks``: int16 row and column within their parts, 4 bytes per entry where parts
hold under 2^15 nodes, plus 12 bytes per nonempty pair of parts): a batch reads only the blocks
between its own parts, found by binary search, and is normalised as it is written
(``kernels.block_batch_gcn``). Weighted and diagonally enhanced batches are cut from a copy of
the graph renumbered part by part (int32 columns, plus the int16 part of every entry's column:
6 bytes per entry), whose rows a batch reads as contiguous streams (``kernels.induced_parts``).
"""

from __future__ import annotations

import os
import torch
from torch import Tensor

import numpy as np

from ..graph import Graph
from ..graph.kernels import sort_rows, symmetric_ascending
from ..train import Batch
from . import kernels
from .common import EPOCH, SampledMethod, check_int, compact, csr_numpy, full_gcn_graph, gcn_normalised, rng, take_rows
from .partition_cache import cached_partition


def check_parts(graph: Graph, num_parts: int, batch_size: int) -> tuple[int, int]:
    """``(num_parts, batch_size)`` checked: ints >= 1, at most one part per node."""
    num_parts, batch_size = check_int("num_parts", num_parts), check_int("batch_size", batch_size)
    if num_parts > graph.num_nodes:
        raise ValueError(f"num_parts: {num_parts} parts for a graph of {graph.num_nodes} nodes")
    return num_parts, batch_size


def shuffled_groups(seed: int, epoch: int, num_parts: int, batch_size: int) -> list[Tensor]:
    """The parts ``0 .. num_parts - 1`` shuffled by epoch ``epoch``'s stream of ``seed`` and cut
    into groups of ``batch_size`` (the last one shorter): int64 tensors."""
    return list(torch.from_numpy(rng(seed, EPOCH, epoch).permutation(num_parts)).split(batch_size))


def diag_enhanced(graph: Graph, diag_lambda: float) -> Graph:
    """``Ã + λ diag(Ã)``, ``Ã = (D + I)^-1 (A + I)`` with ``D`` the row sums of ``A`` (an
    existing self loop is kept and gets ``+1``); tagged ``norm="cluster-diag"``. Square graphs."""
    n = graph.num_nodes
    row, col = graph.row_index(), graph.col.long()
    value = graph.value if graph.value is not None else torch.ones(graph.nnz)
    nodes = torch.arange(n)
    row, col = torch.cat([row, nodes]), torch.cat([col, nodes])
    value = torch.cat([value, torch.ones(n, dtype=value.dtype)])
    degree = torch.zeros(n, dtype=value.dtype).index_add_(0, row, value)
    value = value / degree[row]
    value = torch.where(row == col, value * (1.0 + diag_lambda), value)
    return Graph.from_coo(row, col, value, n, n, duplicates="sum", norm="cluster-diag")


class ClusterGCN(SampledMethod):
    """ClusterGCN's batches of METIS parts.

    Args:
        x, graph, y, train_mask, seed, num_workers, evaluation: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        num_parts: METIS parts, in ``[1, N]`` (paper, Reddit: 1500).
        batch_size: parts per batch, ``q`` (paper, Reddit: 20).
        diag_lambda: ``None`` for GCN's normalisation, or the diagonal enhancement's ``λ``.
        cache_dir: folder of the on-disk partition cache (``None``: in memory only).
        recursive: METIS recursive bisection instead of k-way.

    A batch: ``x [n, F]``, its tagged square ``Graph [n, n]`` (nodes part by part), ``y [t]``
    and ``loss_rows [t]`` of its ``t`` training nodes, ``node_ids [n]``.
    """

    def __init__(
        self,
        x: Tensor,
        graph: Graph,
        y: Tensor,
        train_mask: Tensor,
        num_parts: int = 1500,
        batch_size: int = 20,
        diag_lambda: float | None = None,
        cache_dir: str | os.PathLike | None = None,
        recursive: bool = False,
        seed: int = 0,
        num_workers: int = 0,
        evaluation: str = "auto",
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers, evaluation)
        self.num_parts, self.batch_size = check_parts(graph, num_parts, batch_size)
        if diag_lambda is not None and not diag_lambda >= 0:
            raise ValueError(f"diag_lambda: expected None or a number >= 0, got {diag_lambda!r}")
        self.diag_lambda = diag_lambda
        self.partition = cached_partition(graph, self.num_parts, cache_dir, recursive)
        # The graph renumbered part by part (one more CSR, int32 columns, each row's columns
        # ascending), the part of every entry's column (int16 up to 32,767 parts), and the labels
        # and training mask in part order: a batch reads its parts' rows and nodes as streams.
        # Unweighted GCN batches keep the entries in blocks by pair of parts instead (below).
        ordered = compact(graph.permute(self.partition.perm))
        rowptr, col = csr_numpy(ordered)  # the permuted copy's own arrays: sorted in place
        position = torch.from_numpy(sort_rows(rowptr, col))
        self.ordered = Graph(ordered.rowptr, ordered.col, None if ordered.value is None else ordered.value[position],
                             validate=False)
        part_dtype = np.int16 if self.num_parts < 2**15 else np.int32
        part_of = np.repeat(np.arange(self.num_parts, dtype=part_dtype), self.partition.sizes().numpy())
        self._col_part = part_of[col]
        self._base = np.full(self.num_parts, -1, np.int64)
        self._train_ordered = train_mask[self.partition.perm].numpy()
        self._y_ordered = y[self.partition.perm].numpy()
        # unweighted, GCN-normalised batches (each loop stored at most once): cut and normalised
        # in one kernel; otherwise cut, then normalised (or diagonally enhanced) on their own
        loops = kernels.self_loops(rowptr, col) if ordered.value is None and diag_lambda is None else None
        self._loops = loops if loops is not None and (loops.size == 0 or loops.max() <= 1) else None
        self._blocks = None
        if self._loops is not None:  # from blocks of entries by pair of parts: a batch reads the kept ones only
            index = np.empty(0, np.int16 if self.partition.sizes().max() < 2**15 else np.int32)
            self._blocks = kernels.part_blocks(rowptr, col, self.partition.partptr.numpy(), self._col_part, index)
            self._col_dtype = np.empty(0, col.dtype)
            # an undirected graph's batches are symmetric, values too (dinv_i dinv_j): their
            # transpose for the backward pass is the batch itself (Graph.mark_symmetric), no sort
            self._symmetric = symmetric_ascending(rowptr, col)
            self.ordered = self._col_part = None

    @property
    def eval_graph(self) -> Graph:
        """The full graph with ClusterGCN's normalisation from full-graph degrees, built on
        first use and kept with the graph."""
        if self.diag_lambda is None:
            return full_gcn_graph(self.graph)
        return self.graph.memo(("cluster_diag", self.diag_lambda), lambda: diag_enhanced(self.graph, self.diag_lambda))

    def batch_of(self, parts: Tensor) -> Batch | None:
        """The batch of the given parts (int64 ``[q]``, distinct), their nodes part by part in
        ascending part order; or None without a training node."""
        parts = parts.sort().values.numpy()  # ascending: see kernels.induced_parts
        partptr = self.partition.partptr.numpy()
        nodes, loss_rows, y = kernels.part_nodes(self.partition.perm.numpy(), partptr, parts, self._train_ordered,
                                                 self._y_ordered)
        if loss_rows.size == 0:
            return None
        nodes, loss_rows, y = torch.from_numpy(nodes), torch.from_numpy(loss_rows), torch.from_numpy(y)
        if self._blocks is not None:  # GCN's normalisation in the cutting kernel itself
            out_ptr, out_col, value = kernels.block_batch_gcn(*self._blocks, partptr, parts, self._base, self._loops,
                                                              self._col_dtype)
            graph = Graph(torch.from_numpy(out_ptr), torch.from_numpy(out_col), torch.from_numpy(value),
                          validate=False, norm="gcn")
            if self._symmetric:
                graph.mark_symmetric()
            return Batch(take_rows(self.x, nodes), graph, y, loss_rows=loss_rows, node_ids=nodes)
        rowptr, col = csr_numpy(self.ordered)
        weighted = self.ordered.value is not None
        out_ptr, out_col, position = kernels.induced_parts(rowptr, col, partptr, parts, self._col_part, self._base,
                                                           weighted)
        value = self.ordered.value[torch.from_numpy(position)] if weighted else None
        if self.diag_lambda is None:
            graph = gcn_normalised(out_ptr, out_col, value)
        else:
            graph = diag_enhanced(Graph(torch.from_numpy(out_ptr), torch.from_numpy(out_col), value, validate=False),
                                  self.diag_lambda)
        return Batch(take_rows(self.x, nodes), graph, y, loss_rows=loss_rows, node_ids=nodes)

    def plan(self, epoch: int) -> list[Tensor]:
        """The epoch's groups of ``batch_size`` shuffled parts."""
        return shuffled_groups(self.seed, epoch, self.num_parts, self.batch_size)

    def make_batch(self, epoch: int, index: int, item: Tensor) -> Batch | None:
        return self.batch_of(item)
