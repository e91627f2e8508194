"""Several reductions of one SpMM in as few passes over the graph as the kernels allow.

``multi_aggregate(graph, x, aggregators, symnorm_graph=None)`` serves EGConv-style layers that
need ``sum``, ``mean``, ``var``, ``std``, ``max``, ``min`` and ``symnorm`` of the same messages.
It is composed only from the public :func:`sparsegnn.ops.spmm`:

- sum, mean, var, std: ONE unweighted sum-SpMM over ``[x, x*x]`` stacked along features
  (mean = sum / in-degree; var = E[x^2] - E[x]^2; std = sqrt(max(var, 1e-5)), PyG's EGConv);
- max, min: ONE max-SpMM over ``[x, -x]`` (min = -max(-x));
- symnorm: ONE weighted sum-SpMM over the symmetric-normalised graph.

So at most three passes for any set of aggregators, instead of one per aggregator.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..graph import Graph
from .spmm import spmm

AGGREGATORS = ("sum", "mean", "symnorm", "max", "min", "var", "std")
_MOMENTS = {"sum", "mean", "var", "std"}
_EXTREMES = {"max", "min"}


def multi_aggregate(
    graph: Graph,
    x: Tensor,
    aggregators: list[str] | tuple[str, ...],
    symnorm_graph: Graph | None = None,
    backend: str = "auto",
) -> Tensor:
    """Aggregate ``x`` over ``graph`` with every reduction in ``aggregators``.

    Args:
        graph: the adjacency; its values are ignored (every message has weight 1).
        x: floating ``[num_cols, F]``.
        aggregators: names from ``AGGREGATORS``, in output order.
        symnorm_graph: the weighted graph used by ``"symnorm"`` (required only for it).
        backend: passed to :func:`sparsegnn.ops.spmm`.

    Returns:
        ``[num_nodes, len(aggregators), F]`` (``[num_nodes, F]`` for a single aggregator).
    """
    for name in aggregators:
        if name not in AGGREGATORS:
            raise ValueError(
                f"aggregators: unsupported {name!r}, expected names from {AGGREGATORS}"
            )
    if len(aggregators) == 0:
        raise ValueError("aggregators: expected at least one aggregator")
    if x.dim() != 2:
        raise ValueError(f"x: expected a 2-D [num_cols, F] tensor, got shape {tuple(x.shape)}")
    feat = x.shape[1]
    plain = graph.with_value(None) if graph.value is not None else graph
    wanted = set(aggregators)
    results: dict[str, Tensor] = {}

    if wanted & _MOMENTS:
        need_sq = bool(wanted & {"var", "std"})
        sums = spmm(plain, torch.cat([x, x * x], dim=1) if need_sq else x, "sum", backend)
        total = sums[:, :feat]
        results["sum"] = total
        if wanted & {"mean", "var", "std"}:
            count = plain.in_degree().clamp(min=1).to(x.dtype).unsqueeze(1)
            mean = total / count
            results["mean"] = mean
            if need_sq:
                var = sums[:, feat:] / count - mean * mean
                results["var"] = var
                results["std"] = var.clamp(min=1e-5).sqrt()
    if wanted & _EXTREMES:
        both = wanted >= _EXTREMES
        ext = spmm(
            plain,
            torch.cat([x, -x], dim=1) if both else (x if "max" in wanted else -x),
            "max",
            backend,
        )
        if both:
            results["max"], results["min"] = ext[:, :feat], -ext[:, feat:]
        elif "max" in wanted:
            results["max"] = ext
        else:
            results["min"] = -ext
    if "symnorm" in wanted:
        if symnorm_graph is None:
            raise ValueError("symnorm_graph: required for the 'symnorm' aggregator")
        results["symnorm"] = spmm(symnorm_graph, x, "sum", backend)

    outs = [results[name] for name in aggregators]
    return outs[0] if len(outs) == 1 else torch.stack(outs, dim=1)
