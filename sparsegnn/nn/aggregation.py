"""The aggregation step of every conv, as a module.

A conv computes its messages and hands them to its aggregation module: ``out = aggr(graph, x)``.
Being a module (with no state by default) is what lets a quantisation pass wrap or replace it by
module swap (observers and fake quantisation around the aggregation, or an INT8 SpMM in its
place) and lets a profiler name it; the maths is one call of :mod:`sparsegnn.ops`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import ops
from ..graph import Graph
from ..ops.multi import AGGREGATORS, multi_aggregate

REDUCES = ("sum", "mean", "max", "min")
_ALIASES = {"add": "sum"}  # PyG's name for sum


def check_reduce_name(reduce: str, name: str = "aggr") -> str:
    """``reduce`` with PyG's ``"add"`` read as ``"sum"``; ValueError naming ``name`` otherwise."""
    reduce = _ALIASES.get(reduce, reduce) if isinstance(reduce, str) else reduce
    if reduce not in REDUCES:
        raise ValueError(f"{name}: expected one of {REDUCES} (or 'add'), got {reduce!r}")
    return reduce


def target_rows(x: Tensor, graph: Graph, node_dim: int = -2) -> Tensor:
    """The nodes of ``x`` that are ``graph``'s targets: all of ``x`` for a graph with as many rows
    as ``x`` has nodes (along ``node_dim``), else the first ``graph.num_nodes`` (a batch graph
    lists its targets first). Shapes: ``x`` :math:`(M, F)` (dense or sparse) or
    :math:`(*, M, F)`, output with :math:`N` nodes."""
    if x.size(node_dim) == graph.num_nodes:
        return x
    if x.is_sparse:  # sparse COO cannot be sliced as a view
        return x.index_select(node_dim, torch.arange(graph.num_nodes, device=x.device))
    return x[: graph.num_nodes] if node_dim % x.dim() == 0 else x.narrow(node_dim, 0, graph.num_nodes)


class Aggregation(torch.nn.Module):
    r"""``out[i] = reduce_{j} A_{ij} x_j`` over the entries of row ``i`` (one
    :func:`sparsegnn.ops.spmm`; weighted by the graph's values when it has them).

    Args:
        reduce (str): ``"sum"`` (or ``"add"``), ``"mean"``, ``"max"`` or ``"min"``.

    Shapes: ``graph`` ``(N, M)``, ``x`` :math:`(M, F)`; output :math:`(N, F)`.
    """

    def __init__(self, reduce: str = "sum") -> None:
        super().__init__()
        self.reduce = check_reduce_name(reduce, "reduce")

    def forward(self, graph: Graph, x: Tensor) -> Tensor:
        return ops.spmm(graph, x, self.reduce)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"


class MultiAggregation(torch.nn.Module):
    r"""Several reductions of the same messages (:func:`sparsegnn.ops.multi.multi_aggregate`:
    at most three passes over the graph for any set), EGConv's aggregators.

    Args:
        aggregators (list of str): names from ``AGGREGATORS`` (``sum``, ``mean``, ``symnorm``,
            ``max``, ``min``, ``var``, ``std``), in output order.

    Shapes: ``graph`` ``(N, M)`` (its values ignored), ``x`` :math:`(M, F)`, ``symnorm`` the
    weighted graph of ``"symnorm"``; output :math:`(N, A, F)`, or :math:`(N, F)` for one
    aggregator.
    """

    def __init__(self, aggregators: list[str]) -> None:
        super().__init__()
        aggregators = list(aggregators)
        if not aggregators:
            raise ValueError("aggregators: expected at least one aggregator")
        for name in aggregators:
            if name not in AGGREGATORS:
                raise ValueError(f"aggregators: Unsupported aggregator {name!r} (expected names from {AGGREGATORS})")
        self.aggregators = aggregators

    def forward(self, graph: Graph, x: Tensor, symnorm: Graph | None = None) -> Tensor:
        return multi_aggregate(graph, x, self.aggregators, symnorm)

    def extra_repr(self) -> str:
        return f"aggregators={self.aggregators}"
