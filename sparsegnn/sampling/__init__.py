"""``sparsegnn.sampling``: mini-batch training methods that sample subgraphs, each a
:class:`sparsegnn.train.Method` for the one training loop.

- :class:`ClusterGCN` (``cluster.py``): METIS parts, ``batch_size`` parts per batch;
  :func:`cached_partition` (``partition_cache.py``) keeps the parts on disk.
- :class:`GraphSAINTNodeSampler`, :class:`GraphSAINTEdgeSampler`,
  :class:`GraphSAINTRandomWalkSampler` (``saint.py``): training-graph subgraphs with the paper's
  aggregator and loss normalisation.
- :class:`ShaDowKHop` (``shadow.py``): a subgraph per target, disjoint union, root readout.
- :class:`NeighborSampling` (``neighbor.py``): GraphSAGE fan-outs, loss on the seeds.
- :func:`make_method` (``methods.py``): a method by its ``sparsegnn train --method`` name.
- :func:`layerwise_forward` (``layerwise.py``): full-graph evaluation layer by layer over
  blocks of rows, which the samplers run when a full-graph forward would not fit.

The compiled sampling loops are in ``kernels.py``; what the samplers share in ``common.py``.
"""

from .cluster import ClusterGCN, diag_enhanced
from .common import SampledMethod
from .layerwise import layerwise_forward
from .methods import METHODS, PAPER_DEFAULTS, make_method, paper_defaults, recipe_overrides
from .neighbor import NeighborSampling
from .partition_cache import cached_partition, graph_hash
from .saint import GraphSAINT, GraphSAINTEdgeSampler, GraphSAINTNodeSampler, GraphSAINTRandomWalkSampler
from .shadow import ShaDowKHop

__all__ = [
    "METHODS",
    "PAPER_DEFAULTS",
    "ClusterGCN",
    "GraphSAINT",
    "GraphSAINTEdgeSampler",
    "GraphSAINTNodeSampler",
    "GraphSAINTRandomWalkSampler",
    "NeighborSampling",
    "SampledMethod",
    "ShaDowKHop",
    "cached_partition",
    "diag_enhanced",
    "graph_hash",
    "layerwise_forward",
    "make_method",
    "paper_defaults",
    "recipe_overrides",
]
