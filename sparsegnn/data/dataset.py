"""The data object returned by every loader and generator in :mod:`sparsegnn.data`, and
where real datasets are found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..graph import Graph


class GraphData:
    """One graph with optional node features, labels and split masks.

    Attributes:
        edge_index: int64 ``[2, E]``; ``edge_index[0]`` is the source and ``edge_index[1]`` the
            target of each edge (PyG convention). Assigning a new value drops the cached graph.
        num_nodes: number of nodes ``N``; every index in ``edge_index`` is in ``[0, N)``.
        x: float32 ``[N, F]`` node features, or None.
        y: int64 ``[N]`` node labels, or None.
        train_mask, val_mask, test_mask: bool ``[N]`` split masks, or None.
        name: a short name for display (``"cora"``, ``"rmat"``), or None.
        graph: the :class:`sparsegnn.Graph` (CSR, row = target) built from ``edge_index`` on
            first access and cached.
        num_edges: ``E``.
        num_features: ``F`` (0 without features).
        num_classes: the number of label classes: as given, else ``y.max() + 1`` (0 without
            labels).
    """

    def __init__(
        self,
        edge_index: Tensor,
        num_nodes: int,
        x: Tensor | None = None,
        y: Tensor | None = None,
        train_mask: Tensor | None = None,
        val_mask: Tensor | None = None,
        test_mask: Tensor | None = None,
        num_classes: int | None = None,
        name: str | None = None,
    ) -> None:
        if num_nodes < 0:
            raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
        self.num_nodes = int(num_nodes)
        self.edge_index = edge_index
        for attr, value in (("x", x), ("y", y), ("train_mask", train_mask),
                            ("val_mask", val_mask), ("test_mask", test_mask)):
            if value is not None and value.size(0) != self.num_nodes:
                raise ValueError(
                    f"{attr} must have num_nodes={self.num_nodes} rows, got shape "
                    f"{list(value.shape)}"
                )
        self.x = x
        self.y = y
        self.train_mask = train_mask
        self.val_mask = val_mask
        self.test_mask = test_mask
        self._num_classes = num_classes
        self.name = name

    @property
    def edge_index(self) -> Tensor:
        """int64 ``[2, E]`` (source, target) pairs."""
        return self._edge_index

    @edge_index.setter
    def edge_index(self, edge_index: Tensor) -> None:
        if not isinstance(edge_index, Tensor) or edge_index.dtype != torch.int64:
            raise TypeError("edge_index must be an int64 tensor")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
        if edge_index.numel() and (
            int(edge_index.min()) < 0 or int(edge_index.max()) >= self.num_nodes
        ):
            raise ValueError(f"edge_index has entries outside [0, num_nodes={self.num_nodes})")
        self._edge_index = edge_index
        self._graph: Graph | None = None

    @property
    def graph(self) -> Graph:
        """The CSR :class:`sparsegnn.Graph` of ``edge_index`` (row = target), built once."""
        if self._graph is None:
            from ..graph import Graph

            self._graph = Graph.from_edge_index(self._edge_index, num_nodes=self.num_nodes)
        return self._graph

    @property
    def num_edges(self) -> int:
        return self._edge_index.size(1)

    @property
    def num_features(self) -> int:
        return 0 if self.x is None else self.x.size(1)

    @property
    def num_classes(self) -> int:
        if self._num_classes is not None:
            return self._num_classes
        if self.y is None or self.y.numel() == 0:
            return 0
        return int(self.y.max()) + 1

    def __repr__(self) -> str:
        parts = [f"name={self.name!r}"] if self.name is not None else []
        parts.append(f"num_nodes={self.num_nodes}")
        parts.append(f"edge_index={list(self._edge_index.shape)}")
        for attr in ("x", "y", "train_mask", "val_mask", "test_mask"):
            value = getattr(self, attr)
            if value is not None:
                parts.append(f"{attr}={list(value.shape)}")
        if self.y is not None:
            parts.append(f"num_classes={self.num_classes}")
        return f"{type(self).__name__}({', '.join(parts)})"


def index_to_mask(index: np.ndarray, num_nodes: int) -> Tensor:
    """bool ``[num_nodes]``, True at the int64 ``index`` entries."""
    mask = torch.zeros(num_nodes, dtype=torch.bool)
    mask[torch.from_numpy(np.asarray(index, dtype=np.int64))] = True
    return mask


def find_data_root() -> Path | None:
    """Where real datasets live: ``$SPARSEGNN_DATA`` when set, else the first
    ``shared/datasets`` folder found walking up from this package (for a checkout at
    ``/work/main`` that is ``/work/shared/datasets``), else None."""
    env = os.environ.get("SPARSEGNN_DATA")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None
