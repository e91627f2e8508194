"""Turning any adjacency a layer may be handed into a :class:`~sparsegnn.Graph`, and GCN's
symmetric normalisation on it.

Layers accept what PyG's accept: a ``[2, E]`` LongTensor ``edge_index`` (row 0 source, row 1
target), a :class:`sparsegnn.Graph`, a torch sparse tensor or a ``torch_sparse.SparseTensor``
(both the *transposed* adjacency ``adj_t``: row = target, as in PyG). Building a CSR from an
``edge_index`` costs a sort, so the structure is cached per tensor object (checked by identity
and in-place version, never by a reusable data pointer alone); edge weights are re-applied
through the cached permutation on every call, so gradients reach them.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import Tensor

from ..graph import Graph

_STRUCTURE_CACHE: dict[tuple[int, bool], tuple[Any, int, tuple[int, int], Graph, Tensor]] = {}
_CACHE_LIMIT = 16
FLOWS = ("source_to_target", "target_to_source")


def _torch_sparse_type() -> type | None:
    try:  # torch_sparse is optional
        from torch_sparse import SparseTensor  # type: ignore

        return SparseTensor
    except (ImportError, OSError):  # pragma: no cover - depends on the environment
        return None


def is_sparse_tensor(obj: object) -> bool:
    """Whether ``obj`` is a torch sparse tensor (COO/CSR/CSC)."""
    return isinstance(obj, Tensor) and obj.layout != torch.strided


def is_torch_sparse_sparse_tensor(obj: object) -> bool:
    """Whether ``obj`` is a ``torch_sparse.SparseTensor`` (False when torch_sparse is absent)."""
    cls = _torch_sparse_type()
    return cls is not None and isinstance(obj, cls)


def _edge_index_structure(
    edge_index: Tensor, num_nodes: int, num_rows: int, reverse: bool
) -> tuple[Graph, Tensor]:
    """The unweighted CSR of ``edge_index`` (of its reversed edges when ``reverse``) and the
    permutation from edge order to CSR order."""
    key = (id(edge_index), reverse)
    hit = _STRUCTURE_CACHE.get(key)
    if hit is not None:
        ref, version, nodes, graph, perm = hit
        if (
            ref() is edge_index
            and version == edge_index._version
            and nodes == (num_nodes, num_rows)
        ):
            return graph, perm
    src, dst = edge_index[0].long(), edge_index[1].long()
    if reverse:
        src, dst = dst, src
    keys = dst * max(num_nodes, 1) + src
    perm = torch.sort(keys, stable=True)[1]
    counts = torch.bincount(dst, minlength=num_rows) if dst.numel() else dst.new_zeros(num_rows)
    rowptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=edge_index.device)
    torch.cumsum(counts, 0, out=rowptr[1:])
    graph = Graph(rowptr, src[perm], None, num_nodes)
    for dead in [k for k, entry in _STRUCTURE_CACHE.items() if entry[0]() is None]:
        del _STRUCTURE_CACHE[dead]  # the edge_index is gone: free its CSR now
    if len(_STRUCTURE_CACHE) >= _CACHE_LIMIT:
        _STRUCTURE_CACHE.pop(next(iter(_STRUCTURE_CACHE)))
    _STRUCTURE_CACHE[key] = (
        weakref.ref(edge_index),
        edge_index._version,
        (num_nodes, num_rows),
        graph,
        perm,
    )
    return graph, perm


def as_graph(
    edge_index: Any,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    num_rows: int | None = None,
    flow: str = "source_to_target",
) -> Graph:
    """A :class:`Graph` (row = target) for any supported adjacency.

    Args:
        edge_index: ``[2, E]`` integer tensor, ``Graph``, torch sparse ``adj_t`` or
            ``torch_sparse.SparseTensor`` ``adj_t``.
        num_nodes: number of source nodes (columns) for an ``edge_index``; defaults to
            ``max + 1``.
        edge_weight: optional ``[E]`` weights for an ``edge_index`` (ignored otherwise: sparse
            inputs carry their own values).
        num_rows: number of target nodes when it differs from ``num_nodes`` (bipartite).
        flow: PyG's message direction for an ``edge_index``: ``"source_to_target"`` (row 0
            sends to row 1) or ``"target_to_source"`` (row 1 sends to row 0). Sparse and Graph
            inputs are already in aggregation form and take the default only (as in PyG).
    """
    if flow not in FLOWS:
        raise ValueError(f"flow: expected one of {FLOWS}, got {flow!r}")
    if flow != FLOWS[0] and (not isinstance(edge_index, Tensor) or is_sparse_tensor(edge_index)):
        raise ValueError(f"flow: {flow!r} needs an edge_index; a sparse or Graph adjacency is already row = target")
    if isinstance(edge_index, Graph):
        return edge_index
    if is_sparse_tensor(edge_index):
        return Graph.from_torch_sparse(edge_index)
    if is_torch_sparse_sparse_tensor(edge_index):  # pragma: no cover - needs torch_sparse
        rowptr, col, value = edge_index.csr()
        return Graph(rowptr, col, value, edge_index.size(1))
    if not isinstance(edge_index, Tensor):
        raise TypeError(
            "edge_index: expected a [2, E] LongTensor, a sparsegnn.Graph, a torch sparse tensor or a "
            f"torch_sparse.SparseTensor, got {type(edge_index).__name__}"
        )
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index: expected shape [2, E], got {tuple(edge_index.shape)}")
    if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
        raise ValueError(f"edge_index: expected an integer dtype, got {edge_index.dtype}")
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
    num_rows = num_nodes if num_rows is None else num_rows
    graph, perm = _edge_index_structure(edge_index, num_nodes, num_rows, flow != FLOWS[0])
    if edge_weight is None:
        return graph
    if edge_weight.shape != (edge_index.shape[1],):
        raise ValueError(
            f"edge_weight: expected shape ({edge_index.shape[1]},), got {tuple(edge_weight.shape)}"
        )
    graph.transpose()  # computed once per structure; every re-weighting shares it
    return graph.with_value(edge_weight[perm])


def _with_diagonal(graph: Graph, fill: float, keep_existing: bool) -> Graph:
    """``graph`` with one diagonal entry per node: ``fill`` plus (``keep_existing``) the old ones'
    sum, or ``fill`` replacing them (torch_sparse's ``fill_diag``)."""
    row, col = graph.row_index(), graph.col.long()
    value = graph.value if graph.value is not None else torch.ones(graph.nnz, device=graph.device)
    loop = row == col
    nodes = torch.arange(graph.num_nodes, device=graph.device)
    diag = torch.full((graph.num_nodes,), fill, dtype=value.dtype, device=graph.device)
    if keep_existing:
        diag = diag.index_add(0, row[loop], value[loop])
    keep = ~loop
    return Graph.from_coo(
        torch.cat([row[keep], nodes]),
        torch.cat([col[keep], nodes]),
        torch.cat([value[keep], diag]),
        graph.num_nodes,
        graph.num_cols,
    )


def gcn_norm(
    edge_index: Any,
    edge_weight: Tensor | None = None,
    num_nodes: int | None = None,
    improved: bool = False,
    add_self_loops: bool = True,
    flow: str = "source_to_target",
) -> Graph:
    """GCN's ``D^-1/2 (A + I) D^-1/2`` as a weighted :class:`Graph`, matching PyG's ``gcn_norm``
    for each input kind.

    - a ``Graph`` whose ``norm`` is set (already normalised by its maker: a sampler's batch,
      GNNAutoScale's full-degree subgraph): returned as it is.
    - ``edge_index`` / raw ``Graph``: ``add_remaining_self_loops`` (a node's existing loop keeps its
      weight, others get 1, or 2 when ``improved``), degrees are weighted in-degrees.
    - torch sparse ``adj_t``: PyG's ``add_self_loops`` (the fill is added to any existing loop).
    - ``torch_sparse.SparseTensor``: ``fill_diag`` (existing loops replaced by the fill).

    Args:
        edge_index: any adjacency accepted by :func:`as_graph`.
        edge_weight: optional ``[E]`` weights (``edge_index`` input only).
        num_nodes: node count (``x.size(0)``).
        improved: use ``A + 2I``.
        add_self_loops: add the self loops at all.
        flow: as :func:`as_graph` (degrees are then counted at the aggregating end, as PyG).

    Returns:
        A square weighted ``Graph`` of ``num_nodes`` nodes.
    """
    if isinstance(edge_index, Graph) and edge_index.norm is not None:
        return edge_index
    fill = 2.0 if improved else 1.0
    sparse_kind = (
        "torch"
        if is_sparse_tensor(edge_index)
        else ("torch_sparse" if is_torch_sparse_sparse_tensor(edge_index) else None)
    )
    graph = as_graph(edge_index, num_nodes, edge_weight, flow=flow)
    if sparse_kind is None or not add_self_loops:
        return graph.gcn_norm(add_self_loops=add_self_loops, improved=improved)
    looped = _with_diagonal(graph, fill, keep_existing=sparse_kind == "torch")
    return looped.gcn_norm(add_self_loops=False)
