"""GCNConv on sparsegnn kernels, argument- and checkpoint-compatible with PyG's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
from torch import Tensor
from torch.nn import Parameter

from ..graph import Graph
from .aggregation import Aggregation
from .conv import Conv
from .linear import check_channels, glorot_init, linear, reset_linear
from .norm import as_graph, gcn_norm

#: where GCNConv may aggregate before its linear map (see :func:`aggregate_first`): None (never),
#: "rectangular" or "any" graph
_AGGREGATE_FIRST: ContextVar[str | None] = ContextVar("sparsegnn_gcn_aggregate_first", default=None)


@contextmanager
def aggregate_first(enabled: bool = True, square: bool = False) -> Iterator[None]:
    r"""Within this context a :class:`GCNConv` on a rectangular graph (``N`` target rows over
    ``M > N`` columns: a mini-batch's targets and their halo) computes
    :math:`(\hat{A} X) \Theta` instead of :math:`\hat{A} (X \Theta)` wherever that takes fewer
    multiply-adds: ``nnz F_in + N F_in F_out`` against ``M F_in F_out + nnz F_out`` (the linear
    map then runs on the ``N`` targets only, not on every column; the backward pass saves the
    same factor). The two are equal in exact arithmetic (a sum or mean aggregation is linear);
    in float32 they differ by rounding only. Dense 2-D inputs only; sparse features and ``max`` /
    ``min`` aggregation keep PyG's order, and so do square graphs unless ``square`` (then the
    order with fewer multiply-adds is taken wherever ``F_in < F_out``, and a first layer over
    features that need no gradient skips its aggregation's backward altogether). GNNAutoScale's
    training steps use it on their halo graphs, the samplers' training steps on their square
    batch graphs; no full-graph forward and no inference uses it, so those are unchanged."""
    token = _AGGREGATE_FIRST.set(("any" if square else "rectangular") if enabled else None)
    try:
        yield
    finally:
        _AGGREGATE_FIRST.reset(token)


class GCNConv(Conv):
    r"""The graph convolution of Kipf & Welling, `"Semi-supervised Classification with Graph
    Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_ (ICLR 2017).

    .. math::
        \mathbf{X}' = \hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}} \hat{\mathbf{D}}^{-1/2}
        \mathbf{X} \mathbf{\Theta} + \mathbf{b}

    with :math:`\hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}` (``+ 2I`` when ``improved``) and
    :math:`\hat{D}_{ii} = \sum_j \hat{A}_{ij}`. Node-wise,

    .. math::
        \mathbf{x}'_i = \mathbf{\Theta}^\top \sum_{j \in \mathcal{N}(i) \cup \{i\}}
        \frac{e_{j,i}}{\sqrt{\hat{d}_j \hat{d}_i}} \mathbf{x}_j + \mathbf{b}

    where :math:`e_{j,i}` is the weight of the edge ``j -> i`` (default 1). The aggregation is one
    weighted :func:`sparsegnn.ops.spmm`, through the module ``aggr_module``. A
    :class:`sparsegnn.Graph` whose ``norm`` is set (a sampler's batch, normalised once by its
    maker) is aggregated over as it is; it may be rectangular (``x`` then has its column count). Arguments, forward signature and ``state_dict`` keys
    (``lin.weight``, ``bias``) are PyG's, so a ``torch_geometric.nn.GCNConv`` checkpoint loads
    unchanged.

    Args:
        in_channels (int): size of each input sample, or -1 to read it from the first input.
        out_channels (int): size of each output sample.
        improved (bool): use :math:`\mathbf{A} + 2\mathbf{I}` (default: ``False``). Applied
            with or without ``edge_weight``; torch_geometric 2.8 silently ignores it for an
            unweighted ``edge_index`` (its ``add_remaining_self_loops`` drops the fill value).
        cached (bool): cache the normalised adjacency on first call, for transductive use; the
            cache is cleared by :meth:`reset_parameters` (default: ``False``).
        add_self_loops (bool, optional): add self loops; defaults to ``normalize``.
        normalize (bool): apply the symmetric normalisation (default: ``True``).
        bias (bool): learn an additive bias (default: ``True``).
        aggr (str): the reduction (default: ``"add"``, GCN's sum).
        **kwargs: PyG's ``MessagePassing`` arguments (``flow``, ``node_dim``,
            ``decomposed_layers``, ``aggr_kwargs``): see :class:`~sparsegnn.nn.conv.Conv`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` (or :math:`(B, |\mathcal{V}|,
          F_{in})`: static-graph batching), ``edge_index``
          :math:`(2, |\mathcal{E}|)` (or a :class:`sparsegnn.Graph`, a torch sparse / torch_sparse
          ``adj_t`` of shape :math:`(|\mathcal{V}|, |\mathcal{V}|)`), edge weights
          :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    reads_target_rows = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        improved: bool = False,
        cached: bool = False,
        add_self_loops: bool | None = None,
        normalize: bool = True,
        bias: bool = True,
        aggr: str = "add",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_channels(in_channels, out_channels)
        if add_self_loops is None:
            add_self_loops = normalize
        if add_self_loops and not normalize:
            raise ValueError(
                "add_self_loops: GCNConv does not support adding self-loops to the graph when no "
                "on-the-fly normalization is applied (normalize=False)"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.improved = improved
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self._cached_edge_index: Graph | None = None  # PyG's name for the cached adjacency
        self.lin = linear(in_channels, out_channels, False)
        self.aggr_module = Aggregation(aggr)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_linear(self.lin, glorot_init)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cached_edge_index = None

    def adjacency(self, edge_index: Any, edge_weight: Tensor | None, num_nodes: int) -> Graph:
        """The (normalised) graph the layer aggregates over, from the cache when ``cached``."""
        if self._cached_edge_index is not None:
            return self._cached_edge_index
        if self.normalize:
            graph = gcn_norm(edge_index, edge_weight, num_nodes, self.improved, self.add_self_loops, self.flow)
        else:
            graph = as_graph(edge_index, num_nodes, edge_weight, flow=self.flow)
        if self.cached:
            self._cached_edge_index = graph
        return graph

    def forward(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        if isinstance(x, (tuple, list)):
            raise ValueError("x: GCNConv does not support bipartite (tuple) node features")  # noqa: TRY004 (PyG raises ValueError)
        graph = self.adjacency(edge_index, edge_weight, self.num_nodes_of(x))
        if self.aggregates_first(x, graph):
            out = self.lin(self.aggregate_nodes(self.aggr_module, graph, x))
        else:
            out = self.aggregate_nodes(self.aggr_module, graph, self.lin(x))
        if self.bias is not None:
            out = out + self.bias
        return out

    def aggregates_first(self, x: Tensor, graph: Graph) -> bool:
        """Whether this call aggregates before the linear map (:func:`aggregate_first`)."""
        mode = _AGGREGATE_FIRST.get()
        if mode is None or x.dim() != 2 or x.is_sparse or self.node_dim % 2 != 0:
            return False
        rows, cols = graph.shape
        if (rows >= cols and mode == "rectangular") or self.aggr_module.reduce not in ("sum", "mean"):
            return False
        nnz, f_in, f_out = graph.nnz, x.size(1), self.out_channels
        return nnz * f_in + rows * f_in * f_out < cols * f_in * f_out + nnz * f_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
