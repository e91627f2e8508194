"""The ``torch`` backend: plain torch (index_select + index_add / scatter_reduce).

It is the reference every other backend is tested against, and it runs on any device. It
materialises the ``[nnz, F]`` message tensor, so it is simple rather than fast.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..dispatch import Backend, register_backend


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float32 for 16-bit floats, the dtype itself otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def row_index(rowptr: Tensor, nnz: int) -> Tensor:
    """int64 ``[nnz]``: the row of every CSR entry."""
    rows = torch.arange(rowptr.numel() - 1, device=rowptr.device)
    return torch.repeat_interleave(rows, rowptr.diff(), output_size=nnz)


def reduce_messages(msg: Tensor, row: Tensor, rowptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """Reduce per-entry messages ``[nnz, F]`` (accumulation dtype) into rows ``[N, F]``.

    Returns ``(out, arg)``; for max/min ``arg`` holds the first entry position reaching the
    extreme (``nnz`` for empty rows, whose output is 0).
    """
    num_rows, nnz, feat = rowptr.numel() - 1, msg.shape[0], msg.shape[1]
    count = rowptr.diff()
    empty_arg = torch.empty(0, dtype=torch.int64, device=msg.device)
    if reduce in ("sum", "mean"):
        out = msg.new_zeros(num_rows, feat).index_add_(0, row, msg)
        if reduce == "mean":
            out = out / count.clamp(min=1).unsqueeze(1).to(out.dtype)
        return out, empty_arg
    amode = "amax" if reduce == "max" else "amin"
    fill = float("-inf") if reduce == "max" else float("inf")
    index = row.unsqueeze(1).expand(nnz, feat)
    out = msg.new_full((num_rows, feat), fill).scatter_reduce_(0, index, msg, amode, include_self=True)
    position = torch.arange(nnz, device=msg.device).unsqueeze(1).expand(nnz, feat)
    hit = torch.where(msg == out.index_select(0, row), position, torch.full_like(position, nnz))
    arg = torch.full((num_rows, feat), nnz, dtype=torch.int64, device=msg.device)
    arg = arg.scatter_reduce_(0, index, hit, "amin", include_self=True)
    out = out.masked_fill(arg == nnz, 0.0)
    return out, arg


def spmm(
    rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str, need_arg: bool = True
) -> tuple[Tensor, Tensor]:
    """Computes the max/min arg whatever ``need_arg`` says (spmm_op drops it when unneeded)."""
    acc = acc_dtype(x.dtype)
    msg = x.index_select(0, col.long()).to(acc)
    if value is not None:
        msg = msg * value.to(acc).unsqueeze(1)
    out, arg = reduce_messages(msg, row_index(rowptr, col.numel()), rowptr, reduce)
    return out.to(x.dtype), arg


def segment_reduce(src: Tensor, rowptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    out, arg = reduce_messages(src.to(acc_dtype(src.dtype)), row_index(rowptr, src.shape[0]), rowptr, reduce)
    return out.to(src.dtype), arg


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    acc = acc_dtype(a.dtype)
    row = row_index(rowptr, col.numel())
    left = a.index_select(0, row).to(acc)
    right = b.index_select(0, col.long()).to(acc)
    return (left * right).sum(dim=1).to(a.dtype)


def spmm_arg_backward(col: Tensor, value: Tensor | None, arg: Tensor, grad_out: Tensor, num_cols: int) -> Tensor:
    nnz, feat = col.numel(), grad_out.shape[1]
    if nnz == 0:
        return grad_out.new_zeros(num_cols, feat)
    acc = acc_dtype(grad_out.dtype)
    valid = arg < nnz
    grad = torch.where(valid, grad_out.to(acc), torch.zeros((), dtype=acc, device=grad_out.device))
    safe_arg = torch.where(valid, arg, torch.zeros_like(arg))
    if value is not None:
        grad = grad * value.to(acc)[safe_arg]
    source = col.long()[safe_arg]
    flat = source * feat + torch.arange(feat, device=col.device)
    out = torch.zeros(num_cols * feat, dtype=acc, device=grad_out.device)
    out.index_add_(0, flat.reshape(-1), grad.reshape(-1))
    return out.view(num_cols, feat).to(grad_out.dtype)


def spmm_int8(rowptr: Tensor, col: Tensor, value: Tensor | None, xq: Tensor, row_scale: Tensor, col_scale: Tensor) -> Tensor:
    msg = xq.index_select(0, col.long()).to(torch.int64)
    if value is not None:
        msg = msg * value.to(torch.int64).unsqueeze(1)
    acc = msg.new_zeros(rowptr.numel() - 1, xq.shape[1]).index_add_(0, row_index(rowptr, col.numel()), msg)
    return acc.to(torch.float32) * row_scale.unsqueeze(1) * col_scale.unsqueeze(0)


BACKEND = register_backend(
    Backend(
        name="torch",
        devices=frozenset({"cpu", "cuda"}),
        spmm=spmm,
        segment_reduce=segment_reduce,
        sddmm=sddmm,
        spmm_arg_backward=spmm_arg_backward,
        spmm_int8=spmm_int8,
    )
)
