"""GNNAutoScale's batches: the in-batch (target) nodes, their 1-hop halo, and the rectangular
graph between them, cut from an adjacency normalised once on the full graph.

For targets ``T`` (the nodes of some METIS parts) the halo ``H`` is every column of ``T``'s rows
outside ``T``; the batch graph keeps *every* entry of ``T``'s rows, renumbered so that the
targets are columns ``0 .. |T| - 1`` (in the order given) and the halo ``|T| .. |T| + |H| - 1``
(ascending id). Values and the ``norm`` tag are the full graph's, so a GCN batch aggregates
with full-graph degrees. Entries keep the full graph's order within each row, so a row's sum
runs in the same order as on the full graph.

History rows: GNNAutoScale stores the nodes part by part (METIS parts made contiguous), so node
``v``'s history row is its position in ``Partition.perm``, and a batch's targets are a few
contiguous row ranges (``offsets`` / ``counts``, one per part).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..graph import Graph, Partition
from ..graph.subgraph import row_entries
from ..train import Batch


@dataclass(frozen=True)
class HaloBatch:
    """Where one GAS batch lives.

    Attributes:
        graph: ``[t, t + h]`` :class:`Graph`, rows = targets, columns = targets then halo.
        node_ids: int64 ``[t + h]`` global ids of the graph's columns (targets first).
        num_targets: ``t``.
        offsets, counts: int64 ``[k]``: the targets' history rows, ``k`` contiguous chunks.
        halo_rows: int64 ``[h]``: the halo's history rows.
    """

    graph: Graph
    node_ids: Tensor
    num_targets: int
    offsets: Tensor
    counts: Tensor
    halo_rows: Tensor

    @property
    def target_ids(self) -> Tensor:
        return self.node_ids[: self.num_targets]

    @property
    def rows(self) -> Tensor:
        """int64 ``[t + h]``: the history rows of ``node_ids`` (targets' chunks, then halo)."""
        chunks = [torch.arange(o, o + c) for o, c in zip(self.offsets.tolist(), self.counts.tolist())]
        return torch.cat([*chunks, self.halo_rows])


@dataclass
class GASBatch(Batch):
    """A :class:`~sparsegnn.train.Batch` with its :class:`HaloBatch` (``x`` holds the features
    of ``halo.node_ids``; ``graph`` is ``halo.graph``)."""

    halo: HaloBatch | None = None


def halo_graph(adjacency: Graph, targets: Tensor) -> tuple[Graph, Tensor]:
    """``(graph, halo)``: the rows ``targets`` of the square ``adjacency`` as a ``[t, t + h]``
    graph over the targets and their 1-hop halo (int64 ``[h]`` ascending node ids, none of them
    a target). See the module docstring."""
    n, t = adjacency.num_nodes, targets.numel()
    owner, position = row_entries(adjacency, targets)
    cols = adjacency.col[position].long()
    local = torch.full((n,), -1, dtype=torch.int64, device=targets.device)
    local[targets] = torch.arange(t, device=targets.device)
    halo = torch.unique(cols[local[cols] < 0])
    local[halo] = t + torch.arange(halo.numel(), device=targets.device)
    rowptr = torch.zeros(t + 1, dtype=torch.int64, device=targets.device)
    torch.cumsum(torch.bincount(owner, minlength=t), 0, out=rowptr[1:])
    value = adjacency.value[position] if adjacency.value is not None else None
    graph = Graph(rowptr, local[cols].to(adjacency.col.dtype), value, t + halo.numel(), validate=False,
                  norm=adjacency.norm)
    return graph, halo


class HaloBatcher:
    """Makes the :class:`HaloBatch` of a group of METIS parts.

    Args:
        adjacency: the square full-graph adjacency the layers aggregate over (normalised once).
        partition: its METIS :class:`~sparsegnn.graph.Partition`.
    """

    def __init__(self, adjacency: Graph, partition: Partition) -> None:
        if not adjacency.is_square or partition.part.numel() != adjacency.num_nodes:
            raise ValueError("adjacency: expected a square graph with one part per node")
        self.adjacency, self.partition = adjacency, partition
        self.rows = torch.empty_like(partition.perm)
        self.rows[partition.perm] = torch.arange(partition.perm.numel(), device=partition.perm.device)

    def __call__(self, parts: Tensor) -> HaloBatch:
        """The batch of ``parts`` (int64 ``[q]`` part ids): their nodes part after part."""
        parts = torch.as_tensor(parts, dtype=torch.int64).flatten()
        targets = torch.cat([self.partition.nodes(int(p)) for p in parts])
        graph, halo = halo_graph(self.adjacency, targets)
        return HaloBatch(graph, torch.cat([targets, halo]), targets.numel(), self.partition.partptr[parts],
                         self.partition.sizes()[parts], self.rows[halo])

    def groups(self, batch_size: int) -> list[Tensor]:
        """The parts in order, ``batch_size`` at a time (layer-wise inference's batches)."""
        return list(torch.arange(self.partition.num_parts).split(batch_size))
