"""Public SDDMM: one dot product per stored entry (attention scores; the value-gradient of SpMM)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..graph import Graph
from .library import sddmm_op
from .validate import as_matrix, check_backend, check_features, check_graph


def sddmm(graph: Graph, a: Tensor, b: Tensor, backend: str = "auto") -> Tensor:
    """``out[e] = <a[row(e)], b[col(e)]>`` for every entry ``e`` of ``graph``.

    Args:
        graph: the sparsity pattern (its values are ignored).
        a: ``[num_nodes, *]`` target-side features. b: ``[num_cols, *]`` source-side features of
            the same dtype and trailing shape.
        backend: ``"auto"`` or a registered backend name.

    Returns:
        ``[nnz]`` in ``a``'s dtype, in the graph's entry order; differentiable in ``a`` and ``b``.
    """
    graph = check_graph(graph)
    a = check_features(a, graph.num_nodes, graph.device, "a")
    b = check_features(b, graph.num_cols, graph.device, "b")
    backend = check_backend(backend)
    if a.dtype != b.dtype:
        raise TypeError(f"b: expected the dtype of a ({a.dtype}), got {b.dtype}")
    a2, b2 = as_matrix(a), as_matrix(b)
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"b: expected trailing shape {tuple(a.shape[1:])} like a, got {tuple(b.shape[1:])}")
    t_rowptr = t_col = t_perm = None
    if torch.is_grad_enabled() and b.requires_grad:
        transposed = graph.transpose()
        t_rowptr, t_col, t_perm = transposed.rowptr, transposed.col, graph.transpose_perm()
    return sddmm_op(graph.rowptr, graph.col, a2, b2, backend, t_rowptr, t_col, t_perm)
