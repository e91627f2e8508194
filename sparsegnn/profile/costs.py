"""Flop and byte models of the profiled kernels: what GFLOP/s, GB/s and the roofline use.

Notation: ``N`` rows (targets), ``M`` columns (sources), ``nnz`` stored entries, ``F`` feature
width, ``s`` the element size of the features (4 for float32, 2 for bf16/fp16, 1 for int8),
``i`` the size of a column index (4 or 8), ``w`` = ``nnz * s`` when the graph is weighted
(0 otherwise). Row pointers are int64. The models count the *compulsory* traffic of a CSR
kernel without cache reuse: every nonzero gathers its whole source row of features, which is
the worst case and the right yardstick for a bandwidth-bound kernel (a kernel whose hot rows
stay in cache can exceed 100% of the bandwidth roof; that is reuse, not a measurement error).

- **spmm** (``out[i] = reduce_e A[i, j] x[j]``): flops ``2 nnz F``;
  bytes read ``8 (N + 1) + i nnz + w + s nnz F`` (rowptr, col, values, gathered features),
  written ``s N F`` (plus ``8 N F`` for the int64 arg of max/min).
- **segment** (``out[i] = reduce(src[rowptr[i]:rowptr[i+1]])``, ``src`` ``[nnz, F]``):
  flops ``nnz F``; bytes ``8 (N + 1) + s nnz F`` read, ``s N F`` (+ ``8 N F`` for max/min) written.
- **sddmm** (``out[e] = <a[row e], b[col e]>``): flops ``2 nnz F``; bytes
  ``8 (N + 1) + i nnz + s N F`` (each ``a`` row once) ``+ s nnz F`` (gathered ``b``) read,
  ``s nnz`` written.
- **int8** (int8 features, int32 accumulation, float32 output): ops ``2 nnz F`` (integer);
  bytes ``8 (N + 1) + i nnz + nnz`` (int8 weights when weighted) ``+ nnz F`` gathered
  ``+ 4 (N + F)`` scales read, ``4 N F`` written.
- **layer** (one GCN layer forward, ``A_hat (X W) + b`` with ``F -> F``): flops
  ``2 N F^2 + 2 nnz F``; bytes ``s (N F + F^2 + N F)`` for the GEMM (read X, W, write XW) plus
  the spmm model over the normalised (weighted) graph.
- **step** (one training step of a 2-layer GCN ``F -> F -> C``, forward + backward + Adam): modelled as
  3x the forward (backward costs two products per forward product) of two layers; an estimate
  for the roofline plot, not an exact count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..graph import Graph


@dataclass(frozen=True)
class Cost:
    """Work of one call: ``flops`` (or integer ops) and ``bytes`` moved (read + written)."""

    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, flops per byte."""
        return self.flops / self.bytes if self.bytes else 0.0


def _index_size(graph: Graph) -> int:
    return graph.col.element_size()


def _elem(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def spmm_cost(
    graph: Graph, feat: int, dtype: torch.dtype, reduce: str = "sum", weighted: bool | None = None
) -> Cost:
    n, nnz, s = graph.num_nodes, graph.nnz, _elem(dtype)
    weighted = graph.value is not None if weighted is None else weighted
    read = 8 * (n + 1) + _index_size(graph) * nnz + (s * nnz if weighted else 0) + s * nnz * feat
    write = s * n * feat + (8 * n * feat if reduce in ("max", "min") else 0)
    return Cost(2.0 * nnz * feat, float(read + write))


def segment_cost(graph: Graph, feat: int, dtype: torch.dtype, reduce: str = "sum") -> Cost:
    n, nnz, s = graph.num_nodes, graph.nnz, _elem(dtype)
    read = 8 * (n + 1) + s * nnz * feat
    write = s * n * feat + (8 * n * feat if reduce in ("max", "min") else 0)
    return Cost(float(nnz * feat), float(read + write))


def sddmm_cost(graph: Graph, feat: int, dtype: torch.dtype, reduce: str = "sum") -> Cost:
    n, nnz, s = graph.num_nodes, graph.nnz, _elem(dtype)
    read = 8 * (n + 1) + _index_size(graph) * nnz + s * n * feat + s * nnz * feat
    return Cost(2.0 * nnz * feat, float(read + s * nnz))


def int8_cost(
    graph: Graph, feat: int, dtype: torch.dtype = torch.int8, reduce: str = "sum"
) -> Cost:
    n, nnz = graph.num_nodes, graph.nnz
    read = (
        8 * (n + 1)
        + _index_size(graph) * nnz
        + (nnz if graph.value is not None else 0)
        + nnz * feat
        + 4 * (n + feat)
    )
    return Cost(2.0 * nnz * feat, float(read + 4 * n * feat))


def layer_cost(graph: Graph, feat: int, dtype: torch.dtype, reduce: str = "sum") -> Cost:
    n, s = graph.num_nodes, _elem(dtype)
    gemm = Cost(2.0 * n * feat * feat, float(s * (2 * n * feat + feat * feat)))
    agg = spmm_cost(graph, feat, dtype, "sum", weighted=True)
    return Cost(gemm.flops + agg.flops, gemm.bytes + agg.bytes)


def step_cost(graph: Graph, feat: int, dtype: torch.dtype, reduce: str = "sum") -> Cost:
    layer = layer_cost(graph, feat, dtype)
    return Cost(6.0 * layer.flops, 6.0 * layer.bytes)
