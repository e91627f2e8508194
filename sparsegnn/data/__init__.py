"""Datasets for sparsegnn: the raw Planetoid reader, synthetic generators and the
:class:`GraphData` object they all return.

Real data is found under :func:`find_data_root` (``$SPARSEGNN_DATA`` or a ``shared/datasets``
folder beside the checkout); the default data for demos and benchmarks is synthetic, made on
the fly from a spec string by :func:`make_synthetic`.
"""

from .dataset import GraphData, find_data_root
from .planetoid import Planetoid
from .specs import load_dataset, random_split
from .synthetic import make_synthetic, power_law, rmat, sbm

__all__ = [
    "GraphData",
    "Planetoid",
    "find_data_root",
    "load_dataset",
    "make_synthetic",
    "power_law",
    "random_split",
    "rmat",
    "sbm",
]
