"""``sparsegnn.nn``: layers and models that aggregate through :mod:`sparsegnn.ops`.

:class:`GCNConv`, :class:`SAGEConv`, :class:`EGConv` and :class:`SGConv` take PyG's arguments and
load PyG's ``state_dict``; each aggregates through a module (:class:`Aggregation`,
:class:`MultiAggregation`) that quantisation can swap. :class:`GCN`, :class:`SAGE`, :class:`EGC`,
:class:`SGC` and :class:`MLP` share the per-layer protocol :class:`LayerStack`. :func:`gcn_norm`
and :func:`as_graph` turn any adjacency into a :class:`sparsegnn.Graph`; :func:`feature_dropout`
is dropout that also takes sparse features. :func:`pack_linears` readies a trained model for CPU
serving (:class:`PackedLinear`: oneDNN's GEMM with the weight packed once).
"""

from .aggregation import Aggregation, MultiAggregation
from .eg_conv import EGConv
from .gcn_conv import GCNConv
from .models import EGC, GCN, MLP, SAGE, SGC, LayerStack, feature_dropout
from .norm import as_graph, gcn_norm
from .packed import PackedLinear, pack_linears
from .sage_conv import SAGEConv
from .sg_conv import SGConv

__all__ = [
    "EGC",
    "GCN",
    "MLP",
    "SAGE",
    "SGC",
    "Aggregation",
    "EGConv",
    "GCNConv",
    "LayerStack",
    "MultiAggregation",
    "PackedLinear",
    "SAGEConv",
    "SGConv",
    "as_graph",
    "feature_dropout",
    "gcn_norm",
    "pack_linears",
]
