"""What the samplers share: argument checks, the per-epoch random generators, the rows of ``x``
for a batch, and :class:`SampledMethod`, the base of every sampler's
:class:`~sparsegnn.train.Method` (data, training nodes, full-graph evaluation).

Determinism: every random draw of a sampler comes from :func:`rng` with the base seed and a
stream (pre-sampling, epoch ``e``, evaluation), so a sampler's batches depend only on its
arguments, its seed and the epoch, never on global RNG state or on how many batches were
consumed before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..train import Method

#: streams of :func:`rng` (an epoch ``e`` uses ``(EPOCH, e)``)
PRESAMPLE, EPOCH, EVAL = 0, 1, 2


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, or a ValueError naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def check_fanouts(name: str, values: Sequence[int]) -> list[int]:
    """Fan-outs as a non-empty list of ints, each ``>= 1`` or ``-1`` (all neighbours)."""
    values = list(values)
    if not values or any(
        not isinstance(v, (int, np.integer)) or isinstance(v, bool) or (v < 1 and v != -1) for v in values
    ):
        raise ValueError(f"{name}: expected fan-outs, ints >= 1 or -1 (all neighbours), got {values!r}")
    return [int(v) for v in values]


def training_nodes(train_mask: Tensor, num_nodes: int) -> Tensor:
    """int64 ascending ids of the training nodes of a bool ``[N]`` mask."""
    if not isinstance(train_mask, Tensor) or train_mask.dtype != torch.bool or train_mask.shape != (num_nodes,):
        raise ValueError(f"train_mask: expected a bool tensor of shape ({num_nodes},)")
    ids = train_mask.nonzero().flatten()
    if ids.numel() == 0:
        raise ValueError("train_mask: no training node")
    return ids


def rng(seed: int, *stream: int) -> np.random.Generator:
    """numpy's PCG64 seeded by ``(seed, *stream)``: independent streams of one base seed."""
    return np.random.default_rng([seed, *stream])


def kernel_seed(generator: np.random.Generator) -> int:
    """A seed for a compiled kernel's generator, drawn from ``generator``."""
    return int(generator.integers(2**31 - 1))


def take_rows(x: Tensor, ids: Tensor) -> Tensor:
    """``x[ids]`` for a dense or sparse COO ``[N, F]`` matrix: ``[len(ids), F]``."""
    return x.index_select(0, ids)


def csr_numpy(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """``(rowptr, col)`` of ``graph`` as int64 numpy arrays (for the kernels), cached."""
    return graph.memo(
        "sampling_csr_numpy",
        lambda: (graph.rowptr.cpu().numpy(), graph.col.long().cpu().numpy()),
    )


def batch_permutation(ids: Tensor, batch_size: int, generator: np.random.Generator) -> list[Tensor]:
    """``ids`` shuffled by ``generator`` and cut into chunks of ``batch_size`` (the last one
    shorter)."""
    order = torch.from_numpy(generator.permutation(ids.numel()))
    return list(ids[order].split(batch_size))


class SampledMethod(Method):
    """The base of the samplers: the full data, the training nodes, and full-graph evaluation.

    Args:
        x: ``[N, F]`` features (dense or sparse COO).
        graph: the square :class:`Graph` of all ``N`` nodes (row = target).
        y: int64 ``[N]`` labels.
        train_mask: bool ``[N]``; at least one training node.
        seed: the base seed of every draw (see the module docstring).

    :meth:`predict` runs the model on the whole graph as it is (a GCN normalises it with the
    full-graph degrees); samplers with their own normalisation pass it in ``eval_graph``.
    """

    def __init__(self, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, seed: int = 0) -> None:
        if not isinstance(graph, Graph) or not graph.is_square:
            raise ValueError("graph: expected a square sparsegnn.Graph")
        if x.size(0) != graph.num_nodes or y.shape != (graph.num_nodes,):
            raise ValueError(f"x, y: expected {graph.num_nodes} rows, got {x.size(0)} and {tuple(y.shape)}")
        self.x, self.graph, self.y = x, graph, y
        self.train_ids = training_nodes(train_mask, graph.num_nodes)
        self.seed = check_int("seed", seed, 0)
        self.eval_graph: Graph = graph

    def predict(self, model: torch.nn.Module) -> Tensor:
        return model(self.x, self.eval_graph)
