"""METIS partitions of a graph (pymetis): the part of every node, and the nodes sorted by part.

ClusterGCN batches parts, GNNAutoScale makes each part a contiguous block of history rows, and
:func:`~sparsegnn.graph.metis_order` renumbers nodes by part; all three read one
:class:`Partition`, computed once per graph and settings (kept with the graph).

METIS takes an undirected graph without self loops: the pattern ``A + A^T`` with the diagonal
dropped is what is partitioned (PyG's wrapper crashes on a directed graph, pytorch_geometric
#4893). Isolated nodes are fine: METIS places them like any other node.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .container import Graph


@dataclass(frozen=True)
class Partition:
    """Nodes split into ``num_parts`` parts.

    Attributes:
        part: int64 ``[N]``, the part of every node.
        perm: int64 ``[N]``, the nodes sorted by part (stable: ids ascending within a part), so
            part ``p`` is ``perm[partptr[p]:partptr[p + 1]]``.
        partptr: int64 ``[num_parts + 1]``, the offsets of the parts in ``perm`` (a part METIS
            leaves empty has ``partptr[p] == partptr[p + 1]``).
    """

    part: Tensor
    perm: Tensor
    partptr: Tensor

    @property
    def num_parts(self) -> int:
        return self.partptr.numel() - 1

    def nodes(self, p: int) -> Tensor:
        """int64: the nodes of part ``p``, ascending."""
        return self.perm[self.partptr[p] : self.partptr[p + 1]]

    def sizes(self) -> Tensor:
        """int64 ``[num_parts]``: nodes per part."""
        return self.partptr.diff()

    @classmethod
    def from_part(cls, part: Tensor, num_parts: int) -> Partition:
        """The partition given the part of every node (int64 ``[N]`` in ``[0, num_parts)``)."""
        perm = torch.sort(part, stable=True).indices
        partptr = torch.zeros(num_parts + 1, dtype=torch.int64, device=part.device)
        torch.cumsum(torch.bincount(part, minlength=num_parts), 0, out=partptr[1:])
        return cls(part, perm, partptr)


def partition(graph: Graph, num_parts: int, recursive: bool = False) -> Partition:
    """METIS parts of ``graph``'s symmetrised pattern, cached on the graph per
    ``(num_parts, recursive)``.

    Args:
        graph: a square graph.
        num_parts: number of parts, in ``[1, num_nodes]``.
        recursive: METIS's recursive bisection instead of its k-way partitioner (better balanced
            for few parts, slower for many).

    Returns:
        A :class:`Partition`; one part (or a graph without edges, which METIS cannot cut) gives
        contiguous blocks of node ids.
    """
    if not isinstance(num_parts, int) or isinstance(num_parts, bool) or num_parts < 1:
        raise ValueError(f"num_parts: expected a positive int, got {num_parts!r}")
    if num_parts > graph.num_nodes:
        raise ValueError(
            f"num_parts: {num_parts} parts for a graph of {graph.num_nodes} nodes (at most one part per node)"
        )
    if not graph.is_square:
        raise ValueError(f"graph: partition needs a square graph, got shape {graph.shape}")
    return graph.memo(("partition", num_parts, bool(recursive)), lambda: _metis(graph, num_parts, recursive))


def _metis(graph: Graph, num_parts: int, recursive: bool) -> Partition:
    n = graph.num_nodes
    sym = graph.symmetric_pattern(cache=False)  # one use: not kept on the graph
    if num_parts == 1 or sym.nnz == 0:
        part = torch.arange(n, dtype=torch.int64) * num_parts // max(n, 1)
    else:
        try:
            import pymetis
        except ImportError as err:
            raise ImportError("partition needs pymetis: pip install pymetis") from err
        adjacency = pymetis.CSRAdjacency(sym.indptr, sym.indices)
        result = pymetis.part_graph(num_parts, adjacency, recursive=recursive)
        part = torch.as_tensor(result.vertex_part, dtype=torch.int64)
    return Partition.from_part(part.to(graph.device), num_parts)
