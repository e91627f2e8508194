r"""Degree-Quant's protective masks (Tailor et al., `"Degree-Quant: Quantization-Aware Training for
Graph Neural Networks" <https://arxiv.org/abs/2008.05000>`_, ICLR 2021).

At every training forward each node :math:`v` is protected (kept in full precision in every
quantised tensor of that forward) with probability

.. math::
    p_v = p_{min} + (p_{max} - p_{min}) \, \mathrm{CDF}(d_v)

where :math:`d_v` is its in-degree and CDF the empirical distribution function of the graph's
in-degrees (the fraction of nodes of in-degree at most :math:`d_v`): high-degree nodes, whose
aggregates have the widest ranges, are protected most often. One Bernoulli mask per forward,
shared by all layers; none at evaluation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..graph import Graph
from ..nn.norm import as_graph


def check_p_range(p_range: Any) -> tuple[float, float]:
    """``(p_min, p_max)`` with ``0 <= p_min <= p_max <= 1``; ValueError naming ``p_range``."""
    try:
        low, high = (float(p) for p in p_range)
    except (TypeError, ValueError):
        raise ValueError(f"p_range: expected a pair (low, high), got {p_range!r}") from None
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"p_range: expected 0 <= low <= high <= 1, got {p_range!r}")
    return low, high


def in_degree_cdf(graph: Graph) -> Tensor:
    """Float32 ``[num_cols]``: the empirical CDF of the in-degree of every node (a column of
    ``graph``; the in-degree of node ``v < num_nodes`` is the size of row ``v``, a column with no
    row of its own, a rectangular batch graph's halo node, counts 0). Cached on the graph."""

    def compute() -> Tensor:
        degree = torch.zeros(graph.num_cols, dtype=torch.int64, device=graph.device)
        degree[: graph.num_nodes] = graph.in_degree()
        ordered = degree.sort().values
        at_most = torch.searchsorted(ordered, degree, right=True)
        return at_most.float() / max(1, degree.numel())

    return graph.memo("degree_quant_cdf", compute)


def protection_probability(graph: Graph, p_range: tuple[float, float]) -> Tensor:
    """Float32 ``[num_cols]``: ``p_min + (p_max - p_min) * CDF(in-degree)``."""
    low, high = check_p_range(p_range)
    return low + (high - low) * in_degree_cdf(graph)


def protect_mask(graph: Any, p_range: tuple[float, float], num_nodes: int | None = None) -> Tensor:
    """One draw of the protective mask: bool ``[num_cols]``, True = kept in full precision.

    ``graph``: any adjacency :func:`sparsegnn.nn.norm.as_graph` takes (an ``edge_index`` with
    ``num_nodes`` nodes). Uses torch's global generator (deterministic under
    ``torch.manual_seed``)."""
    graph = as_graph(graph, num_nodes)
    return torch.bernoulli(protection_probability(graph, p_range)).bool()
