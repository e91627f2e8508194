"""SAGEConv (GraphSAGE) on sparsegnn kernels, argument- and checkpoint-compatible with PyG's."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..graph import Graph
from .aggregation import Aggregation, MultiAggregation, check_reduce_name, target_rows
from .conv import Conv, MappedSources
from .linear import check_channels, linear, reset_linear, torch_init
from .norm import as_graph


class SAGEConv(Conv):
    r"""The GraphSAGE operator of Hamilton et al., `"Inductive Representation Learning on Large
    Graphs" <https://arxiv.org/abs/1706.02216>`_ (NeurIPS 2017).

    .. math::
        \mathbf{x}'_i = \mathbf{W}_1 \mathbf{x}_i + \mathbf{W}_2 \cdot
        \mathrm{aggr}_{j \in \mathcal{N}(i)} \mathbf{x}_j

    (``root_weight=False`` drops the first term; ``normalize`` then L2-normalises every row;
    ``project`` first maps the source features through ``ReLU(W_3 x_j + b)``). The aggregation is
    one :func:`sparsegnn.ops.spmm` (``mean`` by default) through ``aggr_module``; a list of
    aggregators is concatenated along features, as PyG's ``MultiAggregation(mode="cat")``.
    Arguments, forward signature and ``state_dict`` keys (``lin_l.weight``, ``lin_l.bias``,
    ``lin_r.weight``, ``lin.*`` with ``project``) are PyG's. A weighted :class:`sparsegnn.Graph`
    (e.g. a GraphSAINT batch with its aggregator normalisation) weights the messages of a single
    aggregator (a list of them reads the structure only); an ``edge_index`` is unweighted, as in
    PyG.

    Args:
        in_channels (int or tuple): size of each input sample (-1: read from the first input), or
            ``(source, target)`` sizes for bipartite graphs.
        out_channels (int): size of each output sample.
        aggr (str or list of str): ``"mean"`` (default), ``"sum"`` / ``"add"``, ``"max"``,
            ``"min"``, or a list of them.
        normalize (bool): L2-normalise the output (default: ``False``).
        root_weight (bool): add the transformed root features (default: ``True``).
        project (bool): project the source features first (default: ``False``).
        bias (bool): learn an additive bias in ``lin_l`` (default: ``True``).
        **kwargs: PyG's ``MessagePassing`` arguments (``flow``, ``node_dim``,
            ``decomposed_layers``, ``aggr_kwargs``): see :class:`~sparsegnn.nn.conv.Conv`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          :math:`((|\mathcal{V}_s|, F_{s}), (|\mathcal{V}_t|, F_{t}))`, ``edge_index``
          :math:`(2, |\mathcal{E}|)` or a :class:`sparsegnn.Graph` / sparse ``adj_t``; with a
          rectangular graph and a single ``x``, the targets are ``x[:num_nodes]`` (targets
          first, the neighbour sampler's layout); ``size`` an optional ``(N_s, N_t)``; with
          ``project``, also a :class:`~sparsegnn.nn.conv.MappedSources` (the sources projected
          already by :meth:`map_sources`, the targets' rows apart).
        - **output:** node features :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int | tuple[int, int],
        out_channels: int,
        aggr: str | list[str] = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        project: bool = False,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        src_channels, dst_channels = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        check_channels(src_channels, out_channels)
        check_channels(dst_channels, out_channels)
        if project and src_channels == -1:
            raise ValueError("in_channels: SAGEConv does not support lazy initialization (-1) with project=True")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.normalize = normalize
        self.root_weight = root_weight
        self.project = project
        if not isinstance(aggr, str) and not (
            isinstance(aggr, (list, tuple)) and aggr and all(isinstance(a, str) for a in aggr)
        ):
            raise ValueError(
                f"aggr: SAGEConv here takes 'sum', 'mean', 'max', 'min' or a list of them, got {aggr!r}; "
                "learnable aggregations (LSTM, MLP, attention) are no SpMM: use torch_geometric.nn.SAGEConv "
                "(under sparsegnn.pyg.patch() its plain aggregations run on these kernels)"
            )
        if isinstance(aggr, str):
            self.aggr = check_reduce_name(aggr)
            self.aggr_module: torch.nn.Module = Aggregation(self.aggr)
            width = 1
        else:
            self.aggr = [check_reduce_name(a) for a in aggr]
            self.aggr_module = MultiAggregation(self.aggr)
            width = len(self.aggr)
        if project:
            self.lin = linear(src_channels, src_channels, True)
        self.lin_l = linear(-1 if src_channels == -1 else width * src_channels, out_channels, bias)
        if root_weight:
            self.lin_r = linear(dst_channels, out_channels, False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for name in ("lin", "lin_l", "lin_r"):
            if hasattr(self, name):
                reset_linear(getattr(self, name), torch_init)

    @property
    def takes_target_rows_apart(self) -> bool:
        """``(x_src, x_dst)`` inputs, and no per-source map but the aggregation unless ``project``
        (see :class:`~sparsegnn.nn.conv.Conv`)."""
        return not self.project

    @property
    def maps_sources(self) -> bool:
        """With ``project``: the sources' projection is a per-source map (see
        :class:`~sparsegnn.nn.conv.Conv`)."""
        return self.project

    def map_sources(self, x_src: Tensor) -> Tensor:
        """``ReLU(W_3 x_j + b)`` of the sources (``project``)."""
        return F.relu(self.lin(x_src))

    def graph(self, edge_index: Any, num_src: int, num_dst: int | None) -> Graph:
        """The adjacency as a :class:`Graph` (rows = targets)."""
        return as_graph(edge_index, num_src, None, num_dst, flow=self.flow)

    def forward(
        self,
        x: Tensor | tuple[Tensor, Tensor | None],
        edge_index: Any,
        size: tuple[int, int] | None = None,
    ) -> Tensor:
        mapped = isinstance(x, MappedSources)
        if mapped and not self.project:
            raise ValueError("x: MappedSources input needs project=True (the sources' map)")
        x_src, x_dst = (x, None) if isinstance(x, Tensor) else x
        num_src = self.num_nodes_of(x_src) if size is None else size[0]
        num_dst = (self.num_nodes_of(x_dst) if x_dst is not None else None) if size is None else size[1]
        graph = self.graph(edge_index, num_src, num_dst)
        if x_dst is None and isinstance(x, Tensor):
            x_dst = target_rows(x, graph, self.node_dim)
        if self.project and not mapped:
            x_src = self.map_sources(x_src)
        aggregated = self.aggregate_nodes(self.aggr_module, graph, x_src)
        if isinstance(self.aggr, list):  # several aggregators: concatenated along features
            aggregated = aggregated.flatten(-2)
        out = self.lin_l(aggregated)
        if self.root_weight and x_dst is not None:
            out = out + self.lin_r(x_dst)
        if self.normalize:
            out = F.normalize(out, p=2.0, dim=-1)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr={self.aggr})"
