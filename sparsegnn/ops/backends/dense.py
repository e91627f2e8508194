"""The ``dense`` backend: dense-masked aggregation for small or dense graphs.

sum/mean multiply a dense adjacency ``[N, M]`` with ``x`` (one BLAS GEMM, so dense hardware does
the work); max/min gather neighbours into padded ``[rows, width, F]`` blocks with a mask of the
padding, rows bucketed by degree (power-of-two widths) and chunked under a memory budget. The win over sparse
kernels comes when ``N * M`` is small or the adjacency is dense; ``ops.policy`` decides when.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..dispatch import Backend, register_backend
from .reference import acc_dtype, row_index

# Elements per gathered [rows, max_degree, F] block of the masked max/min.
_BLOCK_BUDGET = 1 << 24
# Largest dense adjacency (cells) this backend materialises: 2^28 float32 cells = 1 GiB.
MAX_CELLS = 1 << 28


def check_size(num_rows: int, num_cols: int) -> None:
    """ValueError when the dense adjacency would exceed :data:`MAX_CELLS`."""
    if num_rows * num_cols > MAX_CELLS:
        raise ValueError(
            f"backend: 'dense' would materialise a {num_rows} x {num_cols} adjacency "
            f"(more than {MAX_CELLS} cells); use a sparse backend such as 'cpu' or 'numba'"
        )


def dense_adjacency(rowptr: Tensor, col: Tensor, value: Tensor | None, num_cols: int, dtype: torch.dtype) -> Tensor:
    """The dense ``[N, num_cols]`` adjacency (duplicate entries summed)."""
    num_rows, nnz = rowptr.numel() - 1, col.numel()
    check_size(num_rows, num_cols)
    weights = value.to(dtype) if value is not None else torch.ones(nnz, dtype=dtype, device=col.device)
    dense = torch.zeros(num_rows, num_cols, dtype=dtype, device=col.device)
    return dense.index_put_((row_index(rowptr, nnz), col.long()), weights, accumulate=True)


def padded_neighbours(rowptr: Tensor, rows: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """Entry positions ``[len(rows), width]`` of ``rows``, and the mask of the real ones."""
    offsets = torch.arange(width, device=rowptr.device)
    begin = rowptr[rows].unsqueeze(1)
    mask = offsets < (rowptr[rows + 1] - rowptr[rows]).unsqueeze(1)
    return torch.where(mask, begin + offsets, torch.zeros_like(begin)), mask


def degree_buckets(rowptr: Tensor, feat: int) -> list[tuple[Tensor, int]]:
    """Non-empty rows grouped by degree into power-of-two widths (padding at most 2x), split
    into chunks of at most ``_BLOCK_BUDGET`` gathered elements: ``[(rows, width), ...]``."""
    degree = rowptr.diff()
    chunks = []
    nonempty = degree > 0
    if not bool(nonempty.any()):
        return chunks
    width_class = torch.ceil(torch.log2(degree.clamp(min=1).double())).long()
    for k in torch.unique(width_class[nonempty]).tolist():
        rows = torch.nonzero(nonempty & (width_class == k)).flatten()
        width = 1 << k
        step = max(1, _BLOCK_BUDGET // (width * max(feat, 1)))
        chunks.extend((rows[i : i + step], width) for i in range(0, rows.numel(), step))
    return chunks


def spmm(
    rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str, need_arg: bool = True
) -> tuple[Tensor, Tensor]:
    """Computes the max/min arg whatever ``need_arg`` says (spmm_op drops it when unneeded)."""
    acc = acc_dtype(x.dtype)
    num_rows, nnz, feat = rowptr.numel() - 1, col.numel(), x.shape[1]
    if reduce in ("sum", "mean"):
        out = dense_adjacency(rowptr, col, value, x.shape[0], acc) @ x.to(acc)
        if reduce == "mean":
            out = out / rowptr.diff().clamp(min=1).unsqueeze(1).to(acc)
        return out.to(x.dtype), torch.empty(0, dtype=torch.int64, device=x.device)
    out = torch.zeros(num_rows, feat, dtype=acc, device=x.device)
    arg = torch.full((num_rows, feat), nnz, dtype=torch.int64, device=x.device)
    fill = float("-inf") if reduce == "max" else float("inf")
    for rows, width in degree_buckets(rowptr, feat):
        position, mask = padded_neighbours(rowptr, rows, width)
        block = x.index_select(0, col.long()[position].reshape(-1)).view(rows.numel(), width, feat).to(acc)
        if value is not None:
            block = block * value.to(acc)[position].unsqueeze(2)
        block = block.masked_fill(~mask.unsqueeze(2), fill)
        # torch's max/min return the first index among ties: the first entry position.
        best, which = block.max(dim=1) if reduce == "max" else block.min(dim=1)
        out[rows] = best
        arg[rows] = position.gather(1, which)
    return out.to(x.dtype), arg


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    check_size(a.shape[0], b.shape[0])
    acc = acc_dtype(a.dtype)
    scores = a.to(acc) @ b.to(acc).T
    return scores[row_index(rowptr, col.numel()), col.long()].to(a.dtype)


BACKEND = register_backend(
    Backend(name="dense", devices=frozenset({"cpu", "cuda"}), spmm=spmm, sddmm=sddmm)
)
