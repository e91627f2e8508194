"""``sparsegnn.graph``: the CSR container and the tools that work on whole graphs.

- :class:`Graph` (``container.py``): the CSR adjacency every op takes, its conversions and the
  derived data it caches (transpose, degrees, GCN normalisation).
- :func:`partition` (``partition.py``): METIS parts (:class:`Partition`).
- :func:`subgraph`, :func:`k_hop` (``subgraph.py``): node-induced subgraphs, k-hop balls.
- :func:`rcm_order`, :func:`metis_order` (``order.py``): node orders for :meth:`Graph.permute`.
- ``kernels.py``: the container's compiled loops; ``intrinsics.py``: ``prefetch`` and ``popcount``
  for numba kernels; ``hugepages.py``: ``back_with_huge_pages`` for arrays read all over.
"""

from .container import Graph
from .order import metis_order, rcm_order
from .partition import Partition, partition
from .subgraph import Subgraph, k_hop, subgraph

__all__ = [
    "Graph",
    "Partition",
    "Subgraph",
    "k_hop",
    "metis_order",
    "partition",
    "rcm_order",
    "subgraph",
]
