"""SGConv (Simplifying Graph Convolutional Networks) on sparsegnn kernels."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .aggregation import Aggregation
from .conv import Conv
from .linear import check_channels, linear, reset_linear, torch_init
from .norm import gcn_norm


class SGConv(Conv):
    r"""The simple graph convolution of Wu et al., `"Simplifying Graph Convolutional Networks"
    <https://arxiv.org/abs/1902.07153>`_ (ICML 2019).

    .. math::
        \mathbf{X}' = \left(\hat{\mathbf{D}}^{-1/2} \hat{\mathbf{A}}
        \hat{\mathbf{D}}^{-1/2}\right)^K \mathbf{X} \mathbf{\Theta} + \mathbf{b}

    with :math:`\hat{\mathbf{A}} = \mathbf{A} + \mathbf{I}`: ``K`` weighted SpMMs and one linear
    layer. With ``cached=True`` the propagated features :math:`\hat{\mathbf{A}}^K\mathbf{X}` are
    computed once (transductive use) and training is a logistic regression. ``state_dict`` keys
    (``lin.weight``, ``lin.bias``) are PyG's.

    Args:
        in_channels (int): size of each input sample, or -1 to read it from the first input.
        out_channels (int): size of each output sample.
        K (int): number of hops :math:`K` (default: 1).
        cached (bool): cache :math:`\hat{\mathbf{A}}^K\mathbf{X}`; cleared by
            :meth:`reset_parameters` (default: ``False``).
        add_self_loops (bool): add self loops (default: ``True``).
        bias (bool): learn an additive bias (default: ``True``).
        aggr (str): the reduction (default: ``"add"``).
        **kwargs: PyG's ``MessagePassing`` arguments (``flow``, ``node_dim``,
            ``decomposed_layers``, ``aggr_kwargs``): see :class:`~sparsegnn.nn.conv.Conv`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, ``edge_index``
          :math:`(2, |\mathcal{E}|)` (or a Graph / sparse ``adj_t``), edge weights
          :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        K: int = 1,
        cached: bool = False,
        add_self_loops: bool = True,
        bias: bool = True,
        aggr: str = "add",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_channels(in_channels, out_channels)
        if K < 0:
            raise ValueError(f"K: expected K >= 0, got {K}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.K = K
        self.cached = cached
        self.add_self_loops = add_self_loops
        self._cached_x: Tensor | None = None
        self.lin = linear(in_channels, out_channels, bias)
        self.aggr_module = Aggregation(aggr)
        self.reset_parameters()

    @property
    def hops(self) -> int:
        """``K``: the hops of one call (see :class:`~sparsegnn.nn.conv.Conv`)."""
        return self.K

    def reset_parameters(self) -> None:
        reset_linear(self.lin, torch_init)
        self._cached_x = None

    def propagated(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        """:math:`\\hat{\\mathbf{A}}^K\\mathbf{X}`, from the cache when ``cached``."""
        if self._cached_x is not None:
            return self._cached_x
        graph = gcn_norm(edge_index, edge_weight, self.num_nodes_of(x), False, self.add_self_loops, self.flow)
        for _ in range(self.K):
            x = self.aggregate_nodes(self.aggr_module, graph, x)
        if self.cached:
            self._cached_x = x.detach()
        return x

    def forward(self, x: Tensor, edge_index: Any, edge_weight: Tensor | None = None) -> Tensor:
        return self.lin(self.propagated(x, edge_index, edge_weight))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, K={self.K})"
