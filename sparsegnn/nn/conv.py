"""What every conv of :mod:`sparsegnn.nn` shares with PyG's ``MessagePassing``: its constructor
arguments (``aggr``, ``aggr_kwargs``, ``flow``, ``node_dim``, ``decomposed_layers``), static-graph
batching (``x`` of shape ``[B, N, F]`` with one graph) and its hook methods.

The convs aggregate in one fused SpMM, never materialising per-edge messages, so:

- ``decomposed_layers`` (PyG's way to bound the ``[E, F]`` message memory by splitting features)
  is accepted and has nothing to decompose: the output is the same either way;
- PyG's ``register_{propagate,message,aggregate,message_and_aggregate,edge_update}_forward_*hook``
  are refused with a ``NotImplementedError`` that says so: there is no message step to hook. The
  aggregation is a module (``conv.aggr_module``): its own ``register_forward_pre_hook`` /
  ``register_forward_hook`` see (and may replace) its inputs and output.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..graph import Graph
from .norm import FLOWS

_HOOKS = ("propagate", "message", "aggregate", "message_and_aggregate", "edge_update")


class MappedSources(NamedTuple):
    """A layer's input whose sources went through the layer's own per-source map already
    (:meth:`Conv.map_sources`), its targets' rows apart: the layer-wise evaluation maps all
    ``N`` sources once a layer and gives each block of the graph's rows its targets' rows as a
    view of ``x``.

    Shapes: ``sources`` :math:`(M, F')` (``map_sources`` of the graph's ``M`` columns),
    ``targets`` :math:`(N, F_{in})` (the graph's ``N`` rows of ``x``)."""

    sources: Tensor
    targets: Tensor


class Conv(torch.nn.Module):
    """Base of the convs: validates and keeps PyG's ``MessagePassing`` arguments.

    Args:
        flow (str): ``"source_to_target"`` (default: ``edge_index[0]`` sends to
            ``edge_index[1]``) or ``"target_to_source"``.
        node_dim (int): the node dimension of ``x`` (default -2: ``[N, F]`` or ``[B, N, F]``).
        decomposed_layers (int): accepted, >= 1 (see the module docstring).
        aggr_kwargs (dict, optional): must be empty: the aggregations take no options.
    """

    #: whether the layer reads its targets' own rows of ``x`` (``x[:rows]`` with a rectangular
    #: graph: SAGE's root weight, EGC's combination weights) beyond the rows the graph's entries
    #: gather; one that does not (GCN, whose self loops are entries) may take all ``N`` rows of
    #: ``x`` with any block of the graph's rows (:mod:`sparsegnn.sampling.layerwise`)
    reads_target_rows = True
    #: whether such a layer takes its targets' rows apart (``x = (x_src, x_dst)``) and maps the
    #: sources by aggregating them only: it too may take all ``N`` rows with a block of the
    #: graph's rows, its targets' rows as a view (SAGE without ``project``)
    takes_target_rows_apart = False
    #: whether every source goes through a map of its own before it is aggregated (EGC's bases,
    #: SAGE's ``project``): such a layer gives that map as ``map_sources(x)`` and also takes a
    #: :class:`MappedSources` input, so all ``N`` sources are mapped once, not once a block
    maps_sources = False
    #: how many hops one call aggregates over: a layer of more than one (SGC's ``K``) cannot
    #: run on the layer-wise evaluation's one-hop blocks, so it runs on the whole graph there
    hops = 1

    def __init__(
        self,
        *,
        flow: str = "source_to_target",
        node_dim: int = -2,
        decomposed_layers: int = 1,
        aggr_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if flow not in FLOWS:
            raise ValueError(f"Expected 'flow' to be either 'source_to_target' or 'target_to_source' (got '{flow}')")
        if not isinstance(node_dim, int) or isinstance(node_dim, bool):
            raise ValueError(f"node_dim: expected an int, got {node_dim!r}")
        if not isinstance(decomposed_layers, int) or decomposed_layers < 1:
            raise ValueError(f"decomposed_layers: expected an int >= 1, got {decomposed_layers!r}")
        if aggr_kwargs:
            raise ValueError(f"aggr_kwargs: sparsegnn's aggregations take no options, got {sorted(aggr_kwargs)}")
        self.flow, self.node_dim, self.decomposed_layers = flow, node_dim, decomposed_layers

    def num_nodes_of(self, x: Tensor) -> int:
        """The node count of ``x`` (its size along ``node_dim``)."""
        return x.size(self.node_dim)

    def aggregate_nodes(self, module: torch.nn.Module, graph: Graph, x: Tensor, *extra: Any) -> Tensor:
        """``module(graph, x, *extra)`` for ``x`` whose nodes sit at ``node_dim``.

        Static-graph batching: every dimension but the nodes' is folded into one feature axis (the
        aggregation is elementwise over features), aggregated once and unfolded, so ``[B, N, F]``
        costs one SpMM over ``[N, B * F]``. The output has ``graph.num_nodes`` at ``node_dim``; a
        multi-aggregation's aggregator axis comes just before the feature axis.
        """
        dim = self.node_dim % x.dim()
        if x.dim() == 2 and dim == 0:
            return module(graph, x, *extra)
        moved = x.movedim(dim, 0)
        rest = moved.shape[1:]
        out = module(graph, moved.reshape(moved.size(0), -1), *extra)
        if out.dim() == 2:
            return out.reshape(out.shape[:1] + rest).movedim(0, dim)
        return out.reshape(out.shape[:2] + rest).movedim(1, -2).movedim(0, dim)


def _refused(name: str):
    """A ``Conv`` method ``name`` (one of PyG's message-passing hook registrations) that refuses."""

    def register(self: Conv, hook: Any) -> Any:
        raise NotImplementedError(
            f"{name}: {type(self).__name__} aggregates in one fused SpMM, with no separate message / "
            "aggregate step to hook; register a forward (pre-)hook on its aggr_module instead (an "
            "nn.Module called with (graph, x) that returns the aggregation)"
        )

    register.__name__ = register.__qualname__ = name
    register.__doc__ = "Refused: there is no message step to hook (see the module docstring)."
    return register


for _name in [f"register_{kind}_forward_{when}" for kind in _HOOKS for when in ("pre_hook", "hook")]:
    setattr(Conv, _name, _refused(_name))
