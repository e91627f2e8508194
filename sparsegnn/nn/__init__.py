"""``sparsegnn.nn``: layers and models that aggregate through :mod:`sparsegnn.ops`.

:class:`GCNConv`, :class:`EGConv` and :class:`SGConv` take PyG's arguments and load PyG's
``state_dict``; :class:`GCN`, :class:`EGC` and :class:`MLP` are the models used by training
code and demos; :func:`gcn_norm` and :func:`as_graph` turn any adjacency into a
:class:`sparsegnn.Graph`; :func:`feature_dropout` is dropout that also takes sparse features.
"""

from .eg_conv import EGConv
from .gcn_conv import GCNConv
from .models import EGC, GCN, MLP, feature_dropout
from .norm import as_graph, gcn_norm
from .sg_conv import SGConv

__all__ = [
    "EGC",
    "GCN",
    "MLP",
    "EGConv",
    "GCNConv",
    "SGConv",
    "as_graph",
    "feature_dropout",
    "gcn_norm",
]
