"""Ready-made models on the sparsegnn layers: :class:`GCN`, :class:`SAGE`, :class:`EGC`,
:class:`SGC` and :class:`MLP`, all on one per-layer protocol (:class:`LayerStack`).

The protocol is what the toolbox builds on: ``layer(i, x, graph)`` runs layer ``i`` alone
(GNNAutoScale pulls and pushes histories between layers), ``forward(x, graph,
return_hidden=True)`` also returns every layer's output (representation distillation reads
them), and ``num_layers`` says how many there are. Every model takes ``forward(x, graph)``; the
MLP ignores the graph, so training loops, demos and the distillation code can swap them freely.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..graph import Graph
from .eg_conv import EGConv
from .gcn_conv import GCNConv
from .linear import linear, reset_linear, torch_init
from .norm import gcn_norm
from .sage_conv import SAGEConv
from .sg_conv import SGConv


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout that also takes a sparse COO feature matrix (Kipf & Welling's sparse dropout: only
    the stored entries are dropped, which is the same distribution as dense dropout, since
    zeros stay zero). Bag-of-words inputs such as Planetoid's are ~1% dense, so this is an order
    of magnitude cheaper than densifying; every ``Linear`` of the layers accepts the result.
    Dense inputs go through :func:`sparsegnn.ops.dropout`."""
    if not training or p == 0.0:
        return x
    if not x.is_sparse:
        return ops.dropout(x, p)
    x = x.coalesce()
    return torch.sparse_coo_tensor(
        x.indices(),
        ops.dropout(x.values(), p),
        x.shape,
        is_coalesced=True,
        check_invariants=False,
    )


def check_dropout(dropout: float) -> None:
    """ValueError unless ``dropout`` is a probability in ``[0, 1)``."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")


def layer_sizes(
    in_channels: int, hidden_channels: int, out_channels: int, num_layers: int, dropout: float
) -> list[int]:
    """Validated ``[in, hidden, ..., hidden, out]`` (``num_layers + 1`` sizes)."""
    if num_layers < 1:
        raise ValueError(f"num_layers: expected >= 1, got {num_layers}")
    check_dropout(dropout)
    return [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]


class LayerStack(torch.nn.Module):
    """The per-layer model protocol: ``num_layers`` layers, each ``dropout -> layer -> ReLU``
    (no ReLU after the last; dropout also on the input, as in Kipf & Welling's code).

    Subclasses hold their layers in the ``ModuleList`` named by ``layers_attr`` (``convs``, or
    ``lins`` for the MLP: PyG's and earlier checkpoints' ``state_dict`` keys) and say how one
    layer is applied in :meth:`apply_layer`.
    """

    layers_attr = "convs"
    takes_edge_weight = False

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.dropout = dropout

    @property
    def layers(self) -> torch.nn.ModuleList:
        return getattr(self, self.layers_attr)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def reset_parameters(self) -> None:
        for layer in self.layers:
            layer.reset_parameters()

    def full_adjacency(self, graph: Graph) -> Graph:
        """The adjacency the layers aggregate over when given the whole square ``graph``: here
        ``graph`` itself (SAGE's mean, an MLP); GCN and EGC normalise it. Blocks of its rows
        aggregate as the full forward does, where a layer normalising a block itself would use
        the block's degrees (and could not normalise a rectangular block at all): the layer-wise
        evaluation and GNNAutoScale cut this graph, not ``graph``."""
        return graph

    def apply_layer(self, i: int, x: Tensor, graph: Any, edge_weight: Tensor | None) -> Tensor:
        """Layer ``i`` alone, without dropout or activation."""
        return self.layers[i](x, graph)

    def layer(self, i: int, x: Tensor, graph: Any = None, edge_weight: Tensor | None = None) -> Tensor:
        """Layer ``i`` with its dropout and activation: ``[rows of graph's columns, F_i] ->
        [graph's rows, F_{i+1}]`` (a rectangular batch graph maps its columns to its rows)."""
        if edge_weight is not None and not self.takes_edge_weight:
            raise ValueError(f"edge_weight: {type(self).__name__} does not take edge weights")
        x = feature_dropout(x, self.dropout, self.training)
        x = self.apply_layer(i, x, graph, edge_weight)
        if i == self.num_layers - 1:
            return x
        # without autograd the layer's fresh output is rectified in place (one [N, F] pass and
        # allocation fewer at inference); with it, out of place, as autograd needs
        return F.relu(x, inplace=not torch.is_grad_enabled())

    def forward(
        self,
        x: Tensor,
        graph: Any = None,
        edge_weight: Tensor | None = None,
        *,
        return_hidden: bool = False,
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Logits ``[N, F_out]``; with ``return_hidden`` also the list of every layer's output
        (after its activation; the last entry is the logits).

        ``graph`` may also be a list of one graph per layer (a neighbour sampler's hop-trimmed
        blocks: layer ``i`` maps its graph's columns to its rows, so the logits have the last
        graph's rows)."""
        graphs = graph if isinstance(graph, list) else [graph] * self.num_layers
        if len(graphs) != self.num_layers:
            raise ValueError(f"graph: expected one graph per layer ({self.num_layers}), got {len(graphs)}")
        hidden = []  # kept only when asked: at inference each layer's output is freed by the next
        for i in range(self.num_layers):
            x = self.layer(i, x, graphs[i], edge_weight)
            if return_hidden:
                hidden.append(x)
        return (x, hidden) if return_hidden else x

    def param_groups(self, weight_decay: float, first_layer_only: bool = False) -> list[dict]:
        """Optimizer parameter groups: ``weight_decay`` on every layer, or on the first layer
        only (Kipf & Welling's GCN setting)."""
        if not first_layer_only:
            return [{"params": list(self.parameters()), "weight_decay": weight_decay}]
        first = list(self.layers[0].parameters())
        first_ids = {id(p) for p in first}
        rest = [p for p in self.parameters() if id(p) not in first_ids]
        return [{"params": first, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


class ConvStack(LayerStack):
    """``num_layers`` convs of one class, ``in -> hidden -> ... -> out``, every conv taking
    ``conv_kwargs``."""

    conv_class: type[torch.nn.Module]

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        **conv_kwargs: Any,
    ) -> None:
        super().__init__(dropout)
        sizes = layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        self.convs = torch.nn.ModuleList(self.conv_class(a, b, **conv_kwargs) for a, b in pairwise(sizes))
        self.reset_parameters()  # a second draw, kept: the published seeds' figures depend on it


class GCN(ConvStack):
    """Kipf & Welling's GCN: ``num_layers`` :class:`GCNConv` with ReLU and dropout between them
    (and dropout on the input, as in the reference implementation).

    Args:
        in_channels, hidden_channels, out_channels (int): layer sizes (``in_channels=-1``: read
            from the first input).
        num_layers (int): number of GCNConv layers (default: 2).
        dropout (float): dropout probability (default: 0.5).
        **conv_kwargs: passed to every :class:`GCNConv` (e.g. ``cached=True``).

    Shapes: ``x`` :math:`(N, F_{in})` (dense, or sparse COO for bag-of-words features),
    ``graph`` any adjacency GCNConv takes; output :math:`(N, F_{out})` logits.
    """

    conv_class = GCNConv
    takes_edge_weight = True

    def full_adjacency(self, graph: Graph) -> Graph:
        """``D^-1/2 (A + I) D^-1/2`` of ``graph`` with its own (full-graph) degrees, as the first
        conv normalises (``graph`` as it is when its ``norm`` is set, or the conv does not
        normalise)."""
        conv = self.convs[0]
        if not conv.normalize:
            return graph
        return gcn_norm(graph, None, graph.num_nodes, conv.improved, conv.add_self_loops, conv.flow)

    def apply_layer(self, i: int, x: Tensor, graph: Any, edge_weight: Tensor | None) -> Tensor:
        return self.convs[i](x, graph, edge_weight)


class SAGE(ConvStack):
    """Hamilton et al.'s GraphSAGE: ``num_layers`` :class:`SAGEConv` (mean aggregation by
    default) with ReLU and dropout between them.

    Args:
        in_channels, hidden_channels, out_channels (int): layer sizes (``in_channels=-1``: read
            from the first input).
        num_layers (int): number of SAGEConv layers (default: 2).
        dropout (float): dropout probability (default: 0.5).
        **conv_kwargs: passed to every :class:`SAGEConv` (e.g. ``aggr="max"``).

    Shapes: ``x`` :math:`(N, F_{in})`; output :math:`(N, F_{out})` logits.
    """

    conv_class = SAGEConv


class EGC(LayerStack):
    """Tailor et al.'s EGC model: ``num_layers`` :class:`EGConv` with ReLU and dropout between
    them, like :class:`GCN`. Hidden layers use ``num_heads`` heads; the output layer uses one
    head (its width is the class count, which ``num_heads`` rarely divides), with the same
    aggregators and bases.

    Args:
        in_channels, hidden_channels, out_channels (int): sizes (``hidden_channels`` divisible by
            ``num_heads``; ``in_channels=-1``: read from the first input).
        num_layers (int): number of EGConv layers (default: 2).
        dropout (float): dropout probability (default: 0.5).
        aggregators, num_heads, num_bases, cached, add_self_loops, bias: as :class:`EGConv`
            (EGC-S: ``["symnorm"]``, H=8, B=4; EGC-M: e.g. ``["symnorm", "max", "mean"]``, H=4).

    Shapes: ``x`` :math:`(N, F_{in})` (dense or sparse COO); output :math:`(N, F_{out})` logits.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        aggregators: list[str] | None = None,
        num_heads: int = 8,
        num_bases: int = 4,
        cached: bool = False,
        add_self_loops: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__(dropout)
        sizes = layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        heads = [num_heads] * (num_layers - 1) + [1]
        self.convs = torch.nn.ModuleList(
            EGConv(a, b, aggregators, h, num_bases, cached, add_self_loops, bias)
            for a, b, h in zip(sizes[:-1], sizes[1:], heads)
        )
        self.reset_parameters()  # a second draw, kept: the published seeds' figures depend on it

    def full_adjacency(self, graph: Graph) -> Graph:
        """``D^-1/2 (A + I) D^-1/2`` of ``graph`` with its own (full-graph) degrees, tagged: EGConv
        takes a tagged graph as its symnorm weights and its entries as the structure of the other
        aggregators, which is what it builds from ``graph`` (``graph`` as it is when its ``norm``
        is set)."""
        conv = self.convs[0]
        return gcn_norm(graph, None, graph.num_nodes, False, conv.add_self_loops, conv.flow)


class SGC(LayerStack):
    """Wu et al.'s SGC as a model: one :class:`SGConv` with ``K`` hops, no dropout (the paper's
    setting); with ``cached=True`` (the default) the propagation runs once and training is a
    logistic regression.

    Args:
        in_channels, out_channels (int): sizes.
        K (int): number of hops (default: 2).
        cached (bool): cache the propagated features (default: ``True``; transductive).

    Shapes: ``x`` :math:`(N, F_{in})`; output :math:`(N, F_{out})` logits.
    """

    takes_edge_weight = True

    def __init__(self, in_channels: int, out_channels: int, K: int = 2, cached: bool = True) -> None:
        super().__init__(0.0)
        self.convs = torch.nn.ModuleList([SGConv(in_channels, out_channels, K=K, cached=cached)])

    def apply_layer(self, i: int, x: Tensor, graph: Any, edge_weight: Tensor | None) -> Tensor:
        return self.convs[i](x, graph, edge_weight)


class MLP(LayerStack):
    """A plain multi-layer perceptron with ReLU and dropout; the graph is ignored (the
    graph-free student / base predictor of C&S and GLNN).

    Args:
        in_channels, hidden_channels, out_channels (int): sizes (``num_layers=1`` is linear;
            ``in_channels=-1``: read from the first input).
        num_layers (int): number of linear layers (default: 2).
        dropout (float): dropout probability (default: 0.5).

    Shapes: ``x`` :math:`(N, F_{in})`; output :math:`(N, F_{out})`.
    """

    layers_attr = "lins"

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(dropout)
        sizes = layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        self.lins = torch.nn.ModuleList(linear(a, b, True) for a, b in pairwise(sizes))

    def reset_parameters(self) -> None:
        for lin in self.lins:
            reset_linear(lin, torch_init)

    def apply_layer(self, i: int, x: Tensor, graph: Any, edge_weight: Tensor | None) -> Tensor:
        return self.lins[i](x)
