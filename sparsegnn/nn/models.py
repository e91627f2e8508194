"""Ready-made models on the sparsegnn layers: :class:`GCN`, :class:`EGC` and :class:`MLP`.

All three take ``forward(x, edge_index)`` (the MLP ignores the graph), so training loops, demos
and the distillation code can swap them freely.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .eg_conv import EGConv
from .gcn_conv import GCNConv
from .linear import linear, reset_linear, torch_init


def feature_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout that also takes a sparse COO feature matrix (Kipf & Welling's sparse dropout: only
    the stored entries are dropped, which is the same distribution as dense dropout, since
    zeros stay zero). Bag-of-words inputs such as Planetoid's are ~1% dense, so this is an order
    of magnitude cheaper than densifying; every ``Linear`` of the layers accepts the result."""
    if not x.is_sparse:
        return F.dropout(x, p, training)
    if not training or p == 0.0:
        return x
    x = x.coalesce()
    return torch.sparse_coo_tensor(
        x.indices(),
        F.dropout(x.values(), p, True),
        x.shape,
        is_coalesced=True,
        check_invariants=False,
    )


def _layer_sizes(
    in_channels: int, hidden_channels: int, out_channels: int, num_layers: int, dropout: float
) -> list[int]:
    """Validated ``[in, hidden, ..., hidden, out]`` (``num_layers + 1`` sizes)."""
    if num_layers < 1:
        raise ValueError(f"num_layers: expected >= 1, got {num_layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
    return [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]


class GCN(torch.nn.Module):
    """Kipf & Welling's GCN: ``num_layers`` :class:`GCNConv` with ReLU and dropout between them
    (and dropout on the input, as in the reference implementation).

    Args:
        in_channels, hidden_channels, out_channels (int): layer sizes (``in_channels=-1``: read
            from the first input).
        num_layers (int): number of GCNConv layers (default: 2).
        dropout (float): dropout probability (default: 0.5).
        **conv_kwargs: passed to every :class:`GCNConv` (e.g. ``cached=True``).

    Shapes: ``x`` :math:`(N, F_{in})` (dense, or sparse COO for bag-of-words features),
    ``edge_index`` any adjacency GCNConv takes;
    output :math:`(N, F_{out})` logits.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
        **conv_kwargs: Any,
    ) -> None:
        super().__init__()
        sizes = _layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        self.convs = torch.nn.ModuleList(GCNConv(a, b, **conv_kwargs) for a, b in pairwise(sizes))
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


class EGC(torch.nn.Module):
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
        super().__init__()
        sizes = _layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        heads = [num_heads] * (num_layers - 1) + [1]
        self.convs = torch.nn.ModuleList(
            EGConv(a, b, aggregators, h, num_bases, cached, add_self_loops, bias)
            for a, b, h in zip(sizes[:-1], sizes[1:], heads)
        )
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: Tensor, edge_index: Any) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


class MLP(torch.nn.Module):
    """A plain multi-layer perceptron with ReLU and dropout; ``forward(x, edge_index=None)``
    ignores the graph (the graph-free student / base predictor of C&S and GLNN).

    Args:
        in_channels, hidden_channels, out_channels (int): sizes (``num_layers=1`` is linear;
            ``in_channels=-1``: read from the first input).
        num_layers (int): number of linear layers (default: 2).
        dropout (float): dropout probability (default: 0.5).

    Shapes: ``x`` :math:`(N, F_{in})`; output :math:`(N, F_{out})`.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        num_layers: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        sizes = _layer_sizes(in_channels, hidden_channels, out_channels, num_layers, dropout)
        self.lins = torch.nn.ModuleList(linear(a, b, True) for a, b in pairwise(sizes))
        self.dropout = dropout

    def reset_parameters(self) -> None:
        for lin in self.lins:
            reset_linear(lin, torch_init)

    def forward(self, x: Tensor, edge_index: Any = None) -> Tensor:
        for i, lin in enumerate(self.lins):
            x = feature_dropout(x, self.dropout, self.training)
            x = lin(x)
            if i < len(self.lins) - 1:
                x = F.relu(x)
        return x
