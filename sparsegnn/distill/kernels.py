"""The similarity kernels LSP (per edge) and GSP (per pair of sampled nodes) compare, each
written once as a function of the dot product and the two squared norms, so LSP evaluates it on
the ``[E]`` scores of one :func:`sparsegnn.ops.sddmm` (never an ``E x F`` tensor) and GSP on an
``[m, m]`` Gram matrix.

| kernel | :math:`k(z_i, z_j)` |
| --- | --- |
| linear | :math:`z_i^\\top z_j` |
| poly | :math:`(z_i^\\top z_j + c)^d`, ``c = 0``, ``d = 2`` |
| rbf | :math:`\\exp(-\\lVert z_i - z_j \\rVert^2 / (2 \\sigma^2))`, ``sigma = 1`` |
| cosine | :math:`z_i^\\top z_j / (\\lVert z_i \\rVert \\lVert z_j \\rVert)` |
"""

from __future__ import annotations

from torch import Tensor

from ..ops import sddmm

KERNELS = ("linear", "poly", "rbf", "cosine")
POLY_DEGREE, POLY_SHIFT, RBF_SIGMA, EPS = 2, 0.0, 1.0, 1e-12


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    return kernel


def from_dot(kernel: str, dot: Tensor, sq_row: Tensor, sq_col: Tensor) -> Tensor:
    """``k`` from ``dot = <z_i, z_j>`` and the squared norms ``|z_i|^2``, ``|z_j|^2`` (all of one
    shape, or broadcasting)."""
    if kernel == "linear":
        return dot
    if kernel == "poly":
        return (dot + POLY_SHIFT) ** POLY_DEGREE
    if kernel == "rbf":
        return (-(sq_row + sq_col - 2 * dot).clamp(min=0) / (2 * RBF_SIGMA**2)).exp()
    return dot / (sq_row * sq_col).clamp(min=EPS).sqrt()


def edge_kernel(kernel: str, graph, z: Tensor) -> Tensor:
    """``[nnz]``: ``k(z[row(e)], z[col(e)])`` for every entry ``e`` of ``graph`` (its CSR order).
    ``z``: float ``[graph.num_cols, F]``; the rows are ``z[:graph.num_nodes]``."""
    sq = (z * z).sum(1)
    dot = sddmm(graph, z[: graph.num_nodes].contiguous(), z.contiguous())
    row, col = graph.row_index(), graph.col.long()
    return from_dot(kernel, dot, sq[row], sq[col])


def pairwise_kernel(kernel: str, z: Tensor) -> Tensor:
    """``[m, m]``: ``k(z_i, z_j)`` for every pair of rows of ``z`` (float ``[m, F]``)."""
    sq = (z * z).sum(1)
    return from_dot(kernel, z @ z.t(), sq[:, None], sq[None, :])
