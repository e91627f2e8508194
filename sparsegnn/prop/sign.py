"""SIGN: precomputed multi-operator diffusions (Rossi et al.) and the SIGN model.

``sign_features(graph, x, K, operators)`` returns ``[X, A_1 X, ..., A_1^K X, A_2 X, ...]`` for
each operator ``A_o``. The work is split into column chunks of ``x``, so the intermediates
(two ``[N, chunk]`` buffers per operator) fit a memory budget, and every product is one
:func:`sparsegnn.ops.spmm`. Training is then a graph-free MLP over the precomputed matrices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..graph import Graph
from ..nn.models import feature_dropout
from ..nn.norm import as_graph

OPERATORS = ("gcn", "ppr", "triangle")


def triangle_graph(graph: Graph) -> Graph:
    """The triangle-based adjacency of SIGN: edge ``(i, j)`` weighted by the number of
    triangles through it (edges in none are dropped), then GCN-normalised with self loops."""
    import scipy.sparse as sp

    adj = graph.with_value(None).to_scipy()
    adj = ((adj + adj.T) > 0).astype("float32")
    adj.setdiag(0)
    adj.eliminate_zeros()
    tri = (adj @ adj).multiply(adj).tocsr()
    tri.eliminate_zeros()
    out = Graph.from_scipy(sp.csr_matrix(tri, dtype="float32"))
    if out.num_nodes < graph.num_nodes:  # pragma: no cover - scipy keeps the shape
        raise ValueError("triangle_graph: lost nodes")
    return out.gcn_norm(add_self_loops=True)


def _operator(
    name: str, graph: Graph, ppr_alpha: float, ppr_steps: int
) -> Callable[[Tensor], Tensor]:
    if name == "gcn":
        norm = graph.gcn_norm(add_self_loops=True)
        return lambda h: ops.spmm(norm, h, "sum")
    if name == "ppr":
        norm = graph.gcn_norm(add_self_loops=True)

        def ppr(h: Tensor) -> Tensor:  # truncated power iteration of alpha (I - (1 - alpha) S)^-1
            z = h
            for _ in range(ppr_steps):
                z = (1 - ppr_alpha) * ops.spmm(norm, z, "sum") + ppr_alpha * h
            return z

        return ppr
    if name == "triangle":
        tri = triangle_graph(graph)
        return lambda h: ops.spmm(tri, h, "sum")
    raise ValueError(f"operators: unknown {name!r}, expected names from {OPERATORS}")


@torch.no_grad()
def sign_features(
    graph: Any,
    x: Tensor,
    K: int,
    operators: tuple[str, ...] | list[str] = ("gcn",),
    chunk_size: int | None = None,
    max_bytes: int = 1 << 30,
    ppr_alpha: float = 0.15,
    ppr_steps: int = 10,
) -> list[Tensor]:
    """Precompute SIGN's diffused features.

    Args:
        graph: the adjacency (a :class:`Graph`, ``edge_index``, or sparse ``adj_t``); made
            symmetric-normalised per operator.
        x: floating ``[N, F]`` node features.
        K: powers per operator (``K >= 0``).
        operators: from ``OPERATORS``: ``"gcn"`` (:math:`\\hat{D}^{-1/2}\\hat{A}\\hat{D}^{-1/2}`),
            ``"ppr"`` (personalised PageRank diffusion, ``ppr_alpha``, ``ppr_steps`` power
            iterations), ``"triangle"`` (triangle-count-weighted adjacency).
        chunk_size: feature columns per chunk; defaults to what fits ``max_bytes`` of
            intermediates.
        max_bytes: working-memory budget for the intermediates.

    Returns:
        ``1 + K * len(operators)`` tensors of shape ``[N, F]``: ``X`` then, per operator,
        ``A X, ..., A^K X``.
    """
    if K < 0:
        raise ValueError(f"K: expected K >= 0, got {K}")
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError("x: expected a floating [N, F] tensor")
    graph = as_graph(graph, x.size(0))
    if graph.num_nodes != x.size(0) or not graph.is_square:
        raise ValueError(
            f"graph: expected a square graph with {x.size(0)} nodes, got shape {graph.shape}"
        )
    fns = [_operator(name, graph, ppr_alpha, ppr_steps) for name in operators]
    n, feat = x.shape
    if chunk_size is None:
        per_column = max(n * x.element_size() * 3, 1)
        chunk_size = max(1, min(feat, max_bytes // per_column))
    outs = [x] + [torch.empty_like(x) for _ in range(K * len(fns))]
    for start in range(0, feat, chunk_size):
        cols = slice(start, min(start + chunk_size, feat))
        block = x[:, cols].contiguous()
        slot = 1
        for fn in fns:
            h = block
            for _ in range(K):
                h = fn(h)
                outs[slot][:, cols] = h
                slot += 1
    return outs


class SIGN(torch.nn.Module):
    r"""The SIGN model of Rossi et al., `"SIGN: Scalable Inception Graph Neural Networks"
    <https://arxiv.org/abs/2004.11198>`_ (2020): one linear branch per precomputed matrix
    :math:`\mathbf{A}_o^k\mathbf{X}`, concatenated and classified,

    .. math::
        \mathbf{Z} = \sigma\Big(\big\Vert_{r} \sigma(\mathbf{A}_r \mathbf{X}
        \mathbf{\Theta}_r)\Big) \mathbf{\Omega}

    Args:
        in_channels (int): feature size of each matrix.
        hidden_channels (int): size of each branch.
        out_channels (int): number of classes.
        num_inputs (int): number of precomputed matrices (``1 + K * len(operators)``).
        dropout (float): dropout probability (default: 0.5).
        input_dropout (float): dropout on the inputs (default: 0.0).
        batch_norm (bool): batch-normalise each branch (default: ``True``).

    Shapes: ``xs`` a list of ``num_inputs`` tensors :math:`(N, F)` (or their concatenation
    :math:`(N, num\_inputs \cdot F)`); output :math:`(N, C)`.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_inputs: int,
        dropout: float = 0.5,
        input_dropout: float = 0.0,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if num_inputs < 1:
            raise ValueError(f"num_inputs: expected >= 1, got {num_inputs}")
        self.in_channels = in_channels
        self.num_inputs = num_inputs
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.lins = torch.nn.ModuleList(
            torch.nn.Linear(in_channels, hidden_channels) for _ in range(num_inputs)
        )
        self.norms = torch.nn.ModuleList(
            torch.nn.BatchNorm1d(hidden_channels) if batch_norm else torch.nn.Identity()
            for _ in range(num_inputs)
        )
        self.out = torch.nn.Linear(num_inputs * hidden_channels, out_channels)

    def reset_parameters(self) -> None:
        for lin, norm in zip(self.lins, self.norms):
            lin.reset_parameters()
            if hasattr(norm, "reset_parameters"):
                norm.reset_parameters()
        self.out.reset_parameters()

    def forward(self, xs: list[Tensor] | Tensor, edge_index: Any = None) -> Tensor:
        if isinstance(xs, Tensor):
            xs = list(xs.split(self.in_channels, dim=-1))
        if len(xs) != self.num_inputs:
            raise ValueError(f"xs: expected {self.num_inputs} matrices, got {len(xs)}")
        hs = []
        for x, lin, norm in zip(xs, self.lins, self.norms):
            x = feature_dropout(x, self.input_dropout, self.training)
            hs.append(feature_dropout(F.relu(norm(lin(x))), self.dropout, self.training))
        return self.out(torch.cat(hs, dim=-1))
