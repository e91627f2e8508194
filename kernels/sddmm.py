"""SDDMM in Triton: ``out[e] = dot(a[row(e)], b[col[e]])`` for every stored entry e.

Contract (``csrc/ops.cpp``): rowptr int64 [N+1], col int32|int64 [nnz], a [N, F], b [num_cols, F]
of one float dtype; out [nnz] in a's dtype, accumulated in float32 (float64 for float64).

Edge-parallel: a program takes ``BLOCK_E`` consecutive edges (so hubs cost no more than any
other edges) and walks F in ``BLOCK_F`` chunks, keeping a [BLOCK_E, BLOCK_F] partial product
reduced once at the end. The row of each edge comes from ``repeat_interleave`` over the degrees
(one int64 per edge, built on the device). Deterministic: a fixed reduction order, no atomics.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import utils

INTERPRETED = utils.interpreting()
_SUM, _MAX, _MIN = utils.combiners()

CONFIGS = [
    triton.Config({"BLOCK_E": 16, "BLOCK_F": 16}, num_warps=1, num_stages=1),
    triton.Config({"BLOCK_E": 32, "BLOCK_F": 64}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_E": 64, "BLOCK_F": 32}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_E": 16, "BLOCK_F": 128}, num_warps=4, num_stages=2),
]


@utils.autotune(CONFIGS, key=["F"])
@triton.jit
def _sddmm_kernel(
    row_ptr,  # int64 [nnz]
    col_ptr,  # int32|int64 [nnz]
    a_ptr,  # [N, F]
    b_ptr,  # [num_cols, F]
    out_ptr,  # [nnz]
    nnz,
    F,
    ACC: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    pid = tl.program_id(0)
    offs_e = pid.to(tl.int64) * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_e = offs_e < nnz
    r = tl.load(row_ptr + offs_e, mask=mask_e, other=0).to(tl.int64)
    c = tl.load(col_ptr + offs_e, mask=mask_e, other=0).to(tl.int64)
    acc = tl.full([BLOCK_E, BLOCK_F], 0, dtype=ACC)
    for f0 in range(0, F, BLOCK_F):
        offs_f = f0 + tl.arange(0, BLOCK_F)
        m2 = mask_e[:, None] & (offs_f < F)[None, :]
        av = tl.load(a_ptr + r[:, None] * F + offs_f[None, :], mask=m2, other=0.0).to(ACC)
        bv = tl.load(b_ptr + c[:, None] * F + offs_f[None, :], mask=m2, other=0.0).to(ACC)
        acc += av * bv
    res = tl.reduce(acc, 1, _SUM)
    tl.store(out_ptr + offs_e, res.to(out_ptr.dtype.element_ty), mask=mask_e)


def sddmm(
    rowptr: torch.Tensor, col: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """``out [nnz]``: per-edge dot products of ``a[row(e)]`` and ``b[col[e]]``."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"a, b: expected [N, F] and [num_cols, F], got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    rowptr, col, a, b = utils.ensure_contiguous(rowptr, col, a, b)
    n = rowptr.numel() - 1
    nnz = col.numel()
    F = a.shape[1]
    out = torch.empty(nnz, dtype=a.dtype, device=a.device)
    if nnz == 0:
        return out
    if F == 0:
        return out.zero_()
    deg = rowptr[1:] - rowptr[:-1]
    row = torch.repeat_interleave(torch.arange(n, device=a.device), deg, output_size=nnz)

    def grid(meta):
        return (triton.cdiv(nnz, meta["BLOCK_E"]),)

    _sddmm_kernel[grid](row, col, a, b, out, nnz, F, ACC=utils.tl_acc(a.dtype))
    utils.record_config("sddmm", _sddmm_kernel)
    return out
