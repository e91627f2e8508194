"""Backward of max/min SpMM w.r.t. x, in Triton, deterministic (no atomics).

Contract (``csrc/ops.cpp``): ``grad_x[col[arg[i,f]], f] += grad_out[i,f] * value[arg[i,f]]``
(value optional, entries with ``arg == nnz`` skipped); col int32|int64 [nnz], arg int64 [N, F],
grad_out [N, F]; grad_x [num_cols, F] in grad_out's dtype, accumulated in float32.

A scatter by ``col[arg]`` would need atomics (and be nondeterministic in float). Instead this is a
gather over the transpose: for every column c and feature f,

    grad_x[c, f] = sum over edges e with col[e] == c, in edge order, of
                   [arg[row(e), f] == e] * value[e] * grad_out[row(e), f]

The launcher builds (with torch, on the device) the edges grouped by column (stable argsort of
col and a column pointer), and ``row_of[e]``: the row i of every edge that some ``arg[i, f]``
selected (-1 for the others). ``row_of`` is filled by an ``index_put_`` whose duplicate writes
all carry the same value (an edge belongs to one row), so it is deterministic too. One program
per (column, feature tile) then sums in a fixed order.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import utils

INTERPRETED = utils.interpreting()
_SUM, _MAX, _MIN = utils.combiners()

CONFIGS = [
    triton.Config({"BLOCK_E": 8, "BLOCK_F": 16}, num_warps=1, num_stages=1),
    triton.Config({"BLOCK_E": 16, "BLOCK_F": 64}, num_warps=2, num_stages=2),
    triton.Config({"BLOCK_E": 32, "BLOCK_F": 128}, num_warps=4, num_stages=2),
]


@utils.autotune(CONFIGS, key=["F"])
@triton.jit
def _arg_backward_kernel(
    colptr_ptr,  # int64 [num_cols + 1]: edges of column c are perm[colptr[c]:colptr[c+1]]
    perm_ptr,  # int64 [nnz]: edge ids grouped by column, in edge order within a column
    rowof_ptr,  # int64 [nnz]: row of an edge selected by some arg, else -1
    arg_ptr,  # int64 [N, F]
    value_ptr,  # [nnz] when HAS_VALUE
    gout_ptr,  # [N, F]
    gx_ptr,  # [num_cols, F]
    F,
    HAS_VALUE: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    c = tl.program_id(0).to(tl.int64)
    pid_f = tl.program_id(1)
    offs_f = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    mask_f = offs_f < F
    start = tl.load(colptr_ptr + c)
    end = tl.load(colptr_ptr + c + 1)
    acc = tl.full([BLOCK_E, BLOCK_F], 0, dtype=ACC)
    for p0 in range(start, end, BLOCK_E):
        offs_p = p0 + tl.arange(0, BLOCK_E)
        mask_p = offs_p < end
        e = tl.load(perm_ptr + offs_p, mask=mask_p, other=0)
        i = tl.load(rowof_ptr + e, mask=mask_p, other=-1)
        ok = mask_p & (i >= 0)
        m2 = ok[:, None] & mask_f[None, :]
        a = tl.load(arg_ptr + i[:, None] * F + offs_f[None, :], mask=m2, other=-1)
        hit = m2 & (a == e[:, None])
        g = tl.load(gout_ptr + i[:, None] * F + offs_f[None, :], mask=hit, other=0.0).to(ACC)
        if HAS_VALUE:
            w = tl.load(value_ptr + e, mask=ok, other=0.0).to(ACC)
            g = g * w[:, None]
        acc += g
    res = tl.reduce(acc, 0, _SUM)
    tl.store(gx_ptr + c * F + offs_f, res.to(gx_ptr.dtype.element_ty), mask=mask_f)


def spmm_arg_backward(
    col: torch.Tensor,
    value: torch.Tensor | None,
    arg: torch.Tensor,
    grad_out: torch.Tensor,
    num_cols: int,
) -> torch.Tensor:
    """``grad_x [num_cols, F]`` for max/min SpMM, routed through ``arg`` (see module docstring)."""
    col, value, arg, grad_out = utils.ensure_contiguous(col, value, arg, grad_out)
    nnz = col.numel()
    device = grad_out.device
    n, F = grad_out.shape
    gx = torch.empty((num_cols, F), dtype=grad_out.dtype, device=device)
    if num_cols == 0 or F == 0:
        return gx
    if nnz == 0 or n == 0:
        return gx.zero_()
    col64 = col.to(torch.int64)
    perm = torch.argsort(col64, stable=True)
    colptr = torch.zeros(num_cols + 1, dtype=torch.int64, device=device)
    torch.cumsum(torch.bincount(col64, minlength=num_cols), 0, out=colptr[1:])
    row_of = torch.full((nnz + 1,), -1, dtype=torch.int64, device=device)
    rows = torch.arange(n, device=device).unsqueeze(1).expand(n, F)
    row_of.index_put_((arg.reshape(-1),), rows.reshape(-1))
    row_of = row_of[:nnz].contiguous()

    def grid(meta):
        return (num_cols, triton.cdiv(F, meta["BLOCK_F"]))

    _arg_backward_kernel[grid](
        colptr, perm, row_of, arg, value if value is not None else grad_out, grad_out, gx, F,
        HAS_VALUE=value is not None, ACC=utils.tl_acc(grad_out.dtype),
    )
    utils.record_config("spmm_arg_backward", _arg_backward_kernel)
    return gx
