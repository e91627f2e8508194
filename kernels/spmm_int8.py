"""INT8 CSR SpMM in Triton with int32 accumulation and per-row / per-column scales.

Contract (``csrc/ops.cpp``): ``acc[i, f] = sum_e value[e] * xq[col[e], f]`` in int32 (value int8
[nnz], or 1 when None), ``out[i, f] = acc[i, f] * row_scale[i] * col_scale[f]`` as float32 [N, F];
rowptr int64 [N+1], col int32|int64, xq int8 [num_cols, F], row_scale float32 [N], col_scale
float32 [F].

Row-wise like :mod:`.spmm` (row blocking, feature tiles, edge chunks of ``BLOCK_E`` accumulated in
an int32 [BLOCK_E, BLOCK_F] tile); the int32 sum is exact, so any order gives the same result.
Not split for long rows: the integer work per hub row is 4x cheaper in bytes than float32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import utils

INTERPRETED = utils.interpreting()
_SUM, _MAX, _MIN = utils.combiners()

CONFIGS = [
    triton.Config({"BLOCK_R": 2, "BLOCK_E": 8, "BLOCK_F": 16}, num_warps=1, num_stages=1),
    triton.Config({"BLOCK_R": 4, "BLOCK_E": 16, "BLOCK_F": 64}, num_warps=2, num_stages=2),
    triton.Config({"BLOCK_R": 1, "BLOCK_E": 32, "BLOCK_F": 128}, num_warps=4, num_stages=3),
]


@utils.autotune(CONFIGS, key=["F", "DEG_BUCKET"])
@triton.jit
def _spmm_int8_kernel(
    rowptr_ptr,  # int64 [N+1]
    col_ptr,  # int32|int64 [nnz]
    value_ptr,  # int8 [nnz] when HAS_VALUE
    xq_ptr,  # int8 [num_cols, F]
    rs_ptr,  # float32 [N]
    cs_ptr,  # float32 [F]
    out_ptr,  # float32 [N, F]
    N,
    F,
    DEG_BUCKET,
    HAS_VALUE: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_f = tl.program_id(1)
    offs_f = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    mask_f = offs_f < F
    cs = tl.load(cs_ptr + offs_f, mask=mask_f, other=0.0)
    for rr in range(BLOCK_R):
        row = pid_r * BLOCK_R + rr
        ok = row < N
        store_mask = mask_f & ((tl.full([BLOCK_F], 0, dtype=tl.int32) + row) < N)
        row_c = tl.minimum(row, N - 1).to(tl.int64)
        start = tl.load(rowptr_ptr + row_c)
        end = tl.load(rowptr_ptr + row_c + 1)
        end = tl.where(ok, end, start)
        acc = tl.full([BLOCK_E, BLOCK_F], 0, dtype=tl.int32)
        for e0 in range(start, end, BLOCK_E):
            offs_e = e0 + tl.arange(0, BLOCK_E)
            mask_e = offs_e < end
            c = tl.load(col_ptr + offs_e, mask=mask_e, other=0).to(tl.int64)
            m2 = mask_e[:, None] & mask_f[None, :]
            q = tl.load(xq_ptr + c[:, None] * F + offs_f[None, :], mask=m2, other=0).to(tl.int32)
            if HAS_VALUE:
                w = tl.load(value_ptr + offs_e, mask=mask_e, other=0).to(tl.int32)
                q = q * w[:, None]
            acc += q
        tot = tl.reduce(acc, 0, _SUM)
        rs = tl.load(rs_ptr + row_c)
        res = tot.to(tl.float32) * rs * cs
        tl.store(out_ptr + row_c * F + offs_f, res, mask=store_mask)


def spmm_int8(
    rowptr: torch.Tensor,
    col: torch.Tensor,
    value_q: torch.Tensor | None,
    xq: torch.Tensor,
    row_scale: torch.Tensor,
    col_scale: torch.Tensor,
) -> torch.Tensor:
    """float32 ``out [N, F] = (A_q @ xq) * row_scale[:, None] * col_scale[None, :]``."""
    if xq.dtype != torch.int8 or (value_q is not None and value_q.dtype != torch.int8):
        raise TypeError("xq, value_q: expected int8 tensors")
    rowptr, col, value_q, xq = utils.ensure_contiguous(rowptr, col, value_q, xq)
    row_scale = row_scale.to(torch.float32).contiguous()
    col_scale = col_scale.to(torch.float32).contiguous()
    n = rowptr.numel() - 1
    F = xq.shape[1]
    out = torch.empty((max(n, 0), F), dtype=torch.float32, device=xq.device)
    if n <= 0 or F == 0:
        return out
    nnz = col.numel()
    deg = rowptr[1:] - rowptr[:-1]
    bucket = utils.degree_bucket(nnz / n, int(deg.max().item()))

    def grid(meta):
        return (triton.cdiv(n, meta["BLOCK_R"]), triton.cdiv(F, meta["BLOCK_F"]))

    _spmm_int8_kernel[grid](
        rowptr, col, value_q if value_q is not None else xq, xq, row_scale, col_scale, out,
        n, F, bucket, HAS_VALUE=value_q is not None,
    )
    utils.record_config("spmm_int8", _spmm_int8_kernel)
    return out
