"""Public SpMM: ``out[i] = reduce_{j -> i} A[i, j] * x[j]`` over a :class:`~sparsegnn.Graph`."""

from __future__ import annotations

import torch
from torch import Tensor

from ..graph import Graph
from .library import spmm_op
from .validate import as_matrix, check_backend, check_features, check_graph, check_reduce


def spmm(
    graph: Graph,
    x: Tensor,
    reduce: str = "sum",
    backend: str = "auto",
    return_arg: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Sparse-dense matrix product with a reduction, differentiable in ``x`` and edge values.

    Args:
        graph: the adjacency (``num_nodes`` x ``num_cols``); weighted when ``graph.value`` is set.
        x: floating ``[num_cols, *]`` node features (float16/bfloat16 accumulate in float32).
        reduce: ``"sum"``, ``"mean"`` (divides by the row's entry count), ``"max"`` or ``"min"``.
        backend: ``"auto"`` or a registered backend name (``ops.available_backends()``).
        return_arg: for max/min, also return the int64 ``[num_nodes, *]`` arg tensor: the first
            entry position reaching the extreme, ``graph.nnz`` for empty rows.

    Returns:
        ``[num_nodes, *]`` in ``x``'s dtype; rows with no entries are 0 (and get no gradient).
    """
    graph = check_graph(graph)
    x = check_features(x, graph.num_cols, graph.device, "x")
    reduce, backend = check_reduce(reduce), check_backend(backend)
    if return_arg and reduce not in ("max", "min"):
        raise ValueError(f"return_arg: only max and min have an arg, not {reduce!r}")
    value = graph.value
    if value is not None and value.dtype != x.dtype:
        value = value.to(x.dtype)
    t_rowptr = t_col = t_perm = None
    if reduce in ("sum", "mean") and torch.is_grad_enabled() and x.requires_grad:
        transposed = graph.transpose()
        t_rowptr, t_col = transposed.rowptr, transposed.col
        t_perm = None if graph.marked_symmetric else graph.transpose_perm()  # None: A^T's values are A's
    # Forward-only max/min (inference, or nothing to differentiate) skips the arg: less to write.
    need_arg = return_arg or (
        torch.is_grad_enabled() and (x.requires_grad or (value is not None and value.requires_grad))
    )
    out, arg = spmm_op(
        graph.rowptr, graph.col, value, as_matrix(x), reduce, backend, t_rowptr, t_col, t_perm, need_arg
    )
    shape = (graph.num_nodes, *x.shape[1:])
    return (out.view(shape), arg.view(shape)) if return_arg else out.view(shape)
