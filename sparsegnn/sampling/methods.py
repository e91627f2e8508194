"""The sampled methods by their ``sparsegnn train --method`` names, with the defaults the
papers (or PyG's examples, where the paper gives none for this setting) use.

| method | class | defaults | source |
| --- | --- | --- | --- |
| cluster | ClusterGCN | 1500 parts, 20 per batch | Chiang et al., Reddit |
| saint-node | GraphSAINTNodeSampler | 8000 nodes, coverage 100 | Zeng et al., Flickr; PyG's coverage |
| saint-edge | GraphSAINTEdgeSampler | 4000 edges, coverage 100 | Zeng et al., Flickr; PyG's coverage |
| saint-rw | GraphSAINTRandomWalkSampler | 6000 roots, walk length 2, coverage 100 | PyG's Flickr example |
| shadow | ShaDowKHop | depth 2, 5 neighbours, 64 targets | PyG's ShaDow example |
| shadow-ppr | ShaDowKHop, scope ppr | top 200 by PPR, 64 targets | Zeng et al. (k = 200) |
| neighbor | NeighborSampling | fan-outs [25, 10], 512 seeds | Hamilton et al. |
| gas | sparsegnn.gas.GAS | 40 parts, 10 per batch, float32 histories | PyGAS's Cora settings |

On Cora, CiteSeer and PubMed, gas takes PyGAS's settings of that dataset instead
(:data:`sparsegnn.gas.PYGAS`: CiteSeer 24 parts, 8 per batch, no gradient clipping), and its
training recipe PyGAS's (:func:`recipe_overrides`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..graph import Graph
from ..train import Method
from .cluster import ClusterGCN
from .neighbor import NeighborSampling
from .saint import GraphSAINTEdgeSampler, GraphSAINTNodeSampler, GraphSAINTRandomWalkSampler
from .shadow import ShaDowKHop

METHODS = ("full", "cluster", "saint-node", "saint-edge", "saint-rw", "shadow", "shadow-ppr", "neighbor", "gas")

_CLASSES: dict[str, type[Method]] = {
    "cluster": ClusterGCN,
    "saint-node": GraphSAINTNodeSampler,
    "saint-edge": GraphSAINTEdgeSampler,
    "saint-rw": GraphSAINTRandomWalkSampler,
    "shadow": ShaDowKHop,
    "shadow-ppr": ShaDowKHop,
    "neighbor": NeighborSampling,
}

PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "cluster": {"num_parts": 1500, "batch_size": 20},
    "saint-node": {"batch_size": 8000, "sample_coverage": 100},
    "saint-edge": {"batch_size": 4000, "sample_coverage": 100},
    "saint-rw": {"batch_size": 6000, "walk_length": 2, "sample_coverage": 100},
    "shadow": {"depth": 2, "num_neighbors": 5, "batch_size": 64},
    "shadow-ppr": {"scope": "ppr", "top_k": 200, "batch_size": 64},
    "neighbor": {"num_neighbors": [25, 10], "batch_size": 512},
    "gas": {"num_parts": 40, "batch_size": 10, "history_dtype": "float32"},
}


def _method_class(name: str) -> type[Method]:
    if name == "gas":
        from ..gas import GAS  # sparsegnn.gas builds on this package: imported when asked for

        return GAS
    return _CLASSES[name]


def paper_defaults(name: str, dataset: str | None = None) -> dict[str, Any]:
    """The settings method ``name`` takes unless told otherwise: :data:`PAPER_DEFAULTS`, and for
    gas on a dataset PyGAS configures (``cora``, ``citeseer``, ``pubmed``) PyGAS's settings of it."""
    if name not in PAPER_DEFAULTS:
        raise ValueError(f"method: expected one of {tuple(PAPER_DEFAULTS)}, got {name!r}")
    if name == "gas" and dataset is not None:
        from ..gas import PYGAS

        return {**PAPER_DEFAULTS[name], **PYGAS.get(dataset.lower(), {})}
    return dict(PAPER_DEFAULTS[name])


def recipe_overrides(name: str) -> dict[str, Any]:
    """The :class:`~sparsegnn.train.Recipe` fields method ``name`` trains with unless told
    otherwise: gas PyGAS's (:data:`sparsegnn.gas.PYGAS_RECIPE`), the others none."""
    if name != "gas":
        return {}
    from ..gas import PYGAS_RECIPE

    return dict(PYGAS_RECIPE)


def make_method(name: str, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, seed: int = 0,
                dataset: str | None = None, **options: Any) -> Method:
    """The sampled method ``name`` (a :data:`METHODS` entry other than ``"full"``) with its
    :func:`paper_defaults` for ``dataset`` updated by ``options`` (``None`` values ignored; an
    option the method does not take is a ValueError)."""
    settings = {**paper_defaults(name, dataset), **{k: v for k, v in options.items() if v is not None}}
    try:
        return _method_class(name)(x, graph, y, train_mask, seed=seed, **settings)
    except TypeError as error:
        raise ValueError(f"method {name}: {error}") from None
