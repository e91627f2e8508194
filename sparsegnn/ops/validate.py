"""Argument checks shared by the public ops: clear ValueError/TypeError before any kernel runs."""

from __future__ import annotations

import torch
from torch import Tensor

from ..graph import Graph
from .dispatch import FLOAT_DTYPES, REDUCES, _REGISTRY


def check_graph(graph: object, name: str = "graph") -> Graph:
    if not isinstance(graph, Graph):
        raise TypeError(f"{name}: expected a sparsegnn.Graph, got {type(graph).__name__}")
    return graph


def check_features(x: object, rows: int, device: torch.device, name: str) -> Tensor:
    """A floating feature tensor with ``rows`` rows on ``device``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float16, bfloat16, float32 or float64, got {x.dtype}")
    if x.dim() < 1:
        raise ValueError(f"{name}: expected at least 1 dimension, got a scalar")
    if x.shape[0] != rows:
        raise ValueError(f"{name}: expected {rows} rows (one per node), got shape {tuple(x.shape)}")
    if x.device != device:
        raise ValueError(f"{name}: is on {x.device} but the graph is on {device}")
    return x


def check_reduce(reduce: object) -> str:
    if reduce not in REDUCES:
        raise ValueError(f"reduce: expected one of {REDUCES}, got {reduce!r}")
    return reduce


def check_backend(backend: object) -> str:
    if not isinstance(backend, str) or (backend != "auto" and backend not in _REGISTRY):
        raise ValueError(f"backend: expected 'auto' or one of {sorted(_REGISTRY)}, got {backend!r}")
    return backend


def as_matrix(x: Tensor) -> Tensor:
    """``x`` viewed as a contiguous 2-D ``[rows, features]`` matrix (trailing dims flattened)."""
    feat = 1
    for size in x.shape[1:]:
        feat *= size
    return x.reshape(x.shape[0], feat).contiguous()
