"""The inputs of one benchmark case (graph, F, dtype, reduce), built once and shared by every
implementation timed on it; derived tensors (COO rows, CSR tensors, messages) are made lazily,
outside the timed region."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..graph import Graph


@dataclass(frozen=True)
class Case:
    """What one row group of the table measures."""

    kernel: str
    graph: str  # the spec as given
    feat: int
    dtype: str  # "fp32", "bf16", ... ("int8" for the int8 kernel)
    reduce: str
    device: str
    threads: int


@dataclass
class Inputs:
    """Tensors of one case. ``x`` is ``[num_cols, F]`` features in ``dtype`` on ``device``."""

    graph: Graph
    feat: int
    dtype: torch.dtype
    reduce: str
    seed: int = 0
    num_classes: int = 16
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        return self.graph.device

    def _random(self, rows: int, cols: int, salt: int) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed * 7919 + salt)
        return torch.randn(rows, cols, generator=gen).to(dtype=self.dtype, device=self.device)

    def _memoized(self, key: str, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    @property
    def x(self) -> Tensor:
        return self._memoized("x", lambda: self._random(self.graph.num_cols, self.feat, 1))

    @property
    def a(self) -> Tensor:
        """``[num_nodes, F]`` target-side features (SDDMM)."""
        return self._memoized("a", lambda: self._random(self.graph.num_nodes, self.feat, 2))

    @property
    def b(self) -> Tensor:
        """``[num_cols, F]`` source-side features (SDDMM)."""
        return self.x

    @property
    def src(self) -> Tensor:
        """``[nnz, F]`` per-entry messages (segment reduce)."""
        return self._memoized("src", lambda: self._random(self.graph.nnz, self.feat, 3))

    @property
    def row(self) -> Tensor:
        return self.graph.row_index()

    @property
    def col(self) -> Tensor:
        return self._memoized("col", lambda: self.graph.col.long())

    @property
    def value(self) -> Tensor | None:
        if self.graph.value is None:
            return None
        return self._memoized("value", lambda: self.graph.value.to(self.dtype))

    def csr(self, dtype: torch.dtype) -> Tensor:
        """The adjacency as a torch sparse CSR tensor of ``dtype`` (ones where unweighted)."""
        return self._memoized(f"csr-{dtype}", lambda: self.graph.to_torch_sparse().to(dtype))

    @property
    def norm(self) -> Graph:
        """The symmetric GCN normalisation ``D^-1/2 (A + I) D^-1/2`` (layer, step)."""
        return self._memoized("norm", self.graph.gcn_norm)

    @property
    def norm_csr(self) -> Tensor:
        return self._memoized("norm_csr", lambda: self.norm.to_torch_sparse().to(self.dtype))

    @property
    def labels(self) -> Tensor:
        gen = torch.Generator().manual_seed(self.seed + 11)
        make = lambda: torch.randint(
            0, self.num_classes, (self.graph.num_nodes,), generator=gen
        ).to(self.device)
        return self._memoized("labels", make)

    @functools.cached_property
    def quantized(self) -> tuple[Tensor, Tensor]:
        """``(xq int8 [num_cols, F], scale)`` of ``x`` (per-tensor, symmetric)."""
        from ..ops.int8 import quantize_per_tensor

        return quantize_per_tensor(self.x.float())
