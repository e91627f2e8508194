"""EGConv (Efficient Graph Convolution) on sparsegnn kernels, compatible with PyG's."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import Parameter

from ..graph import Graph
from .aggregation import MultiAggregation, target_rows
from .conv import Conv, MappedSources
from .linear import check_channels, glorot_init, linear, reset_linear, torch_init
from .norm import as_graph, gcn_norm


def self_looped(edge_index: Any, num_nodes: int, add_self_loops: bool, flow: str = "source_to_target") -> Graph:
    """The unweighted graph with PyG's remaining self loops (every node exactly one)."""
    graph = as_graph(edge_index, num_nodes, flow=flow)
    if not add_self_loops:
        return graph
    looped = graph.with_value(None).gcn_norm(add_self_loops=True)
    return looped.with_value(None)


class EGConv(Conv):
    r"""The Efficient Graph Convolution of Tailor et al., `"Adaptive Filters and Aggregator Fusion
    for Efficient Graph Convolutions" <https://arxiv.org/abs/2104.01481>`_ (2021).

    Each node combines :math:`B` basis aggregations with its own weights, per head :math:`h`:

    .. math::
        \mathbf{y}_i = \Big\Vert_{h=1}^{H} \sum_{\oplus \in \mathcal{A}} \sum_{b=1}^{B}
        w_{i,h,\oplus,b} \; \bigoplus_{j \in \mathcal{N}(i) \cup \{i\}} \mathbf{W}_b \mathbf{x}_j

    with :math:`\mathbf{w}_i = \mathbf{W}_{comb} \mathbf{x}_i + \mathbf{b}_{comb}`. In matrix form
    with one aggregator: :math:`\mathbf{Y} = [\mathbf{W}_{comb}\mathbf{X}]
    \cdot \mathrm{AGG}(\mathbf{A}, \mathbf{X}\mathbf{W}_{bases})`. ``symnorm`` is GCN's
    :math:`\hat{\mathbf{D}}^{-1/2}\hat{\mathbf{A}}\hat{\mathbf{D}}^{-1/2}`. All aggregators of a
    layer run in at most three passes over the graph (:func:`sparsegnn.ops.multi.multi_aggregate`,
    through the module ``aggr_module``). A :class:`sparsegnn.Graph` whose ``norm`` is set is a ready
    batch graph: its entries are the structure and its values the symnorm weights, used as they
    are (it may be rectangular: ``x`` has its column count, the combination weights are read from
    the first ``num_nodes`` rows, the targets).
    ``state_dict`` keys (``bases_lin.weight``, ``comb_lin.weight``, ``comb_lin.bias``, ``bias``)
    are PyG's. ``x`` may also be a :class:`~sparsegnn.nn.conv.MappedSources`: the sources'
    bases computed already (:meth:`map_sources`) and the targets' rows apart.

    Args:
        in_channels (int): size of each input sample, or -1 to read it from the first input.
        out_channels (int): size of each output sample, divisible by ``num_heads``.
        aggregators (list of str, optional): from ``sum``, ``mean``, ``symnorm``, ``max``,
            ``min``, ``std``, ``var`` (default: ``["symnorm"]``).
        num_heads (int): number of heads :math:`H` (default: 8).
        num_bases (int): number of bases :math:`B` (default: 4).
        cached (bool): cache the graph(s) on first call; cleared by :meth:`reset_parameters`
            (default: ``False``).
        add_self_loops (bool): add remaining self loops (default: ``True``).
        bias (bool): learn an additive bias (default: ``True``).
        **kwargs: PyG's ``MessagePassing`` arguments (``flow``, ``node_dim``,
            ``decomposed_layers``, ``aggr_kwargs``): see :class:`~sparsegnn.nn.conv.Conv`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, ``edge_index``
          :math:`(2, |\mathcal{E}|)` or a :class:`sparsegnn.Graph` / sparse ``adj_t``
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        aggregators: list[str] | None = None,
        num_heads: int = 8,
        num_bases: int = 4,
        cached: bool = False,
        add_self_loops: bool = True,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_channels(in_channels, out_channels)
        if num_heads <= 0 or num_bases <= 0:
            raise ValueError(
                f"num_heads/num_bases: expected positive counts, got {num_heads}, {num_bases}"
            )
        if out_channels % num_heads != 0:
            raise ValueError(
                f"out_channels: {out_channels} must be divisible by the number of heads (num_heads={num_heads})"
            )
        self.aggr_module = MultiAggregation(aggregators or ["symnorm"])  # validates the names
        aggregators = self.aggr_module.aggregators
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_heads = num_heads
        self.num_bases = num_bases
        self.cached = cached
        self.add_self_loops = add_self_loops
        self.aggregators = aggregators
        self._cached_edge_index: tuple[Graph, Graph | None] | None = None
        self.bases_lin = linear(in_channels, (out_channels // num_heads) * num_bases, False)
        self.comb_lin = linear(in_channels, num_heads * num_bases * len(aggregators), True)
        if bias:
            self.bias = Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_linear(self.bases_lin, glorot_init)
        reset_linear(self.comb_lin, torch_init)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)
        self._cached_edge_index = None

    def graphs(self, edge_index: Any, num_nodes: int) -> tuple[Graph, Graph | None]:
        """``(structure, symnorm graph or None)``, from the cache when ``cached``."""
        if self._cached_edge_index is not None:
            return self._cached_edge_index
        symnorm = None
        if isinstance(edge_index, Graph) and edge_index.norm is not None:  # a ready batch graph
            symnorm = edge_index if "symnorm" in self.aggregators else None
            structure = edge_index.with_value(None)
        elif "symnorm" in self.aggregators:
            symnorm = gcn_norm(edge_index, None, num_nodes, False, self.add_self_loops, self.flow)
            structure = symnorm.with_value(None)
        else:
            structure = self_looped(edge_index, num_nodes, self.add_self_loops, self.flow)
        if self.cached:
            self._cached_edge_index = (structure, symnorm)
        return structure, symnorm

    maps_sources = True

    def map_sources(self, x: Tensor) -> Tensor:
        """The bases ``X W_bases`` of the sources, ``[M, B F_out / H]``."""
        return self.bases_lin(x)

    def forward(self, x: Tensor | MappedSources, edge_index: Any) -> Tensor:
        if isinstance(x, MappedSources):
            bases, targets = x
            structure, symnorm = self.graphs(edge_index, self.num_nodes_of(bases))
        else:
            structure, symnorm = self.graphs(edge_index, self.num_nodes_of(x))
            bases, targets = self.map_sources(x), target_rows(x, structure, self.node_dim)
        weightings = self.comb_lin(targets)
        aggregated = self.aggregate_nodes(self.aggr_module, structure, bases, symnorm)
        nodes = weightings.shape[:-1]  # [*, N]: the batch and node dimensions
        weightings = weightings.reshape(-1, self.num_heads, self.num_bases * len(self.aggregators))
        aggregated = aggregated.reshape(
            -1, len(self.aggregators) * self.num_bases, self.out_channels // self.num_heads
        )
        out = torch.matmul(weightings, aggregated).reshape(*nodes, self.out_channels)
        if self.bias is not None:
            out = out + self.bias
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggregators={self.aggregators})"
