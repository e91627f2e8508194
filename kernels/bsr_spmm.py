"""Block-sparse (BSR) SpMM on tensor cores in Triton: ``out = A @ x`` with A in dense tiles.

A is given as ``block_rowptr`` int64 [R+1], ``block_col`` int32|int64 [T] and ``tiles``
[T, B, B] (see :class:`sparsegnn.blocksparse.BlockSparse`), B in {16, 32, 64}; x [num_cols, F];
out [num_rows, F] in x's dtype. One program per (block-row, feature tile of ``BLOCK_F``) walks the
block-row's tiles and accumulates ``tl.dot(tile [B, B], x[B cols, BLOCK_F])`` into a float32
[B, BLOCK_F] accumulator (float64 for float64 inputs): the "dense with a mask" idea applied per
tile, using mma/wgmma. Reduce is sum (mean = sum / degree is done by the caller). Deterministic.

Precision: float16/bfloat16 multiply on tensor cores with float32 accumulation. float32 uses
``input_precision="tf32x3"`` by default (three TF32 products, about float32 accuracy, still on
tensor cores); ``precision="tf32"`` is faster and loses ~3 decimal digits, ``"ieee"`` runs on the
FMA units. float64 always uses ``"ieee"``.

Where the block-sparse kernel should beat the row-wise kernel (FLOP/byte argument; NOT measured,
no GPU was available when this was written). Per stored entry, with s bytes per element, F
features, tile side B and fill ratio phi (real entries / tile area):

    row-wise CSR:  reads  ~ kappa * F * s  (+ 8-12 B of index/value)   does 2F flops on CUDA cores
    block-sparse:  reads  s * (1 + F / B) / phi                         does 2F / phi flops on TCs

where kappa <= 1 is the fraction of gathered x rows that miss in L2 (1 on a scattered graph, well
below 1 on a reordered, clustered one). Both kernels are memory-bound while
phi > 2 * BW / (s * P_tc) (H100: BW 3.35 TB/s, P_tc ~990 TFLOP/s fp16 -> phi > 0.3%; tf32x3
~165 TFLOP/s effective -> phi > 1%), so the comparison is on bytes:

    speed-up ~ (CSR bytes) / (BSR bytes) = kappa * phi * F * B / (B + F)

Break-even fill: phi* = (B + F) / (kappa * F * B). With kappa = 1: B=32, F=128 -> phi* = 3.9%;
B=16, F=64 -> 7.8%; B=64, F=256 -> 2.0%. For a 2x win double it, and divide kappa by the L2 hit
rate the row-wise kernel enjoys on a clustered graph (kappa ~ 1/3 -> B=32, F=128 needs phi >= 23%
for 2x). Rule of thumb used by ``sparsegnn.ops.backends.triton.bsr_recommended``: prefer
``triton_bsr`` when phi >= 1.5 * (B + F) / (F * B) * 3 (kappa = 1/3, 1.5x margin for tile-walk
overhead), i.e. about 18% at B=32, F=128; the issue's target case (a clustered graph with tile fill
>= 25%) lies above it. These are predictions to be checked by bench/spmm_gpu.py.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import utils

INTERPRETED = utils.interpreting()
_SUM, _MAX, _MIN = utils.combiners()

PRECISIONS = ("tf32x3", "tf32", "ieee")

CONFIGS = [
    triton.Config({"BLOCK_F": 32}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_F": 64}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_F": 128}, num_warps=8, num_stages=3),
]


def _spills(cfg, args) -> bool:
    # AOT report: B=64 x BLOCK_F=128 with 3xTF32 needs >255 registers on sm_80 (spills).
    return args.get("B") == 64 and args.get("PREC") == "tf32x3" and cfg.kwargs["BLOCK_F"] == 128


@utils.autotune(CONFIGS, key=["F", "B", "PREC"], exclude=_spills)
@triton.jit
def _bsr_spmm_kernel(
    brow_ptr,  # int64 [R + 1]
    bcol_ptr,  # int32|int64 [T]
    tiles_ptr,  # [T, B, B]
    x_ptr,  # [num_cols, F]
    out_ptr,  # [num_rows, F]
    num_rows,
    num_cols,
    F,
    B: tl.constexpr,
    PREC: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_F: tl.constexpr,
    UPCAST: tl.constexpr = False,  # interpreter only: its dot multiplies bf16 bit patterns
):
    br = tl.program_id(0).to(tl.int64)
    pid_f = tl.program_id(1)
    offs_b = tl.arange(0, B)
    offs_f = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    mask_f = offs_f < F
    t0 = tl.load(brow_ptr + br)
    t1 = tl.load(brow_ptr + br + 1)
    acc = tl.full([B, BLOCK_F], 0, dtype=ACC)
    for t in range(t0, t1):
        bc = tl.load(bcol_ptr + t).to(tl.int64)
        a = tl.load(tiles_ptr + t * (B * B) + offs_b[:, None] * B + offs_b[None, :])
        xr = bc * B + offs_b
        mx = (xr < num_cols)[:, None] & mask_f[None, :]
        xt = tl.load(x_ptr + xr[:, None] * F + offs_f[None, :], mask=mx, other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            xt = xt.to(tl.float32)
        acc = tl.dot(a, xt, acc, input_precision=PREC, out_dtype=ACC)
    rows = br * B + offs_b
    m = (rows < num_rows)[:, None] & mask_f[None, :]
    out = acc.to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + rows[:, None] * F + offs_f[None, :], out, mask=m)


def bsr_spmm(
    block_rowptr: torch.Tensor,
    block_col: torch.Tensor,
    tiles: torch.Tensor,
    x: torch.Tensor,
    num_rows: int,
    precision: str | None = None,
) -> torch.Tensor:
    """``out [num_rows, F] = A @ x`` with A in BSR form (tiles must have x's dtype)."""
    if tiles.dim() != 3 or tiles.shape[1] != tiles.shape[2]:
        raise ValueError(f"tiles: expected [T, B, B], got {tuple(tiles.shape)}")
    B = int(tiles.shape[1])
    if B not in (16, 32, 64):
        raise ValueError(f"tiles: block must be 16, 32 or 64, got {B}")
    if tiles.dtype != x.dtype:
        raise TypeError(f"tiles, x: dtypes differ ({tiles.dtype} vs {x.dtype})")
    if x.dtype == torch.float64:
        prec = "ieee"
    elif x.dtype == torch.float32:
        prec = precision or "tf32x3"
    else:
        prec = "ieee"  # 16-bit inputs go to tensor cores regardless of this flag
    if prec not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    block_rowptr, block_col, tiles, x = utils.ensure_contiguous(block_rowptr, block_col, tiles, x)
    num_cols, F = x.shape
    out = torch.empty((num_rows, F), dtype=x.dtype, device=x.device)
    R = block_rowptr.numel() - 1
    if num_rows == 0 or F == 0:
        return out
    if tiles.shape[0] == 0:
        return out.zero_()

    def grid(meta):
        return (R, triton.cdiv(F, meta["BLOCK_F"]))

    _bsr_spmm_kernel[grid](
        block_rowptr, block_col, tiles, x, out, num_rows, num_cols, F,
        B=B, PREC=prec, ACC=utils.tl_acc(x.dtype),
        # triton 3.9's interpreter multiplies the raw uint16 bits of bfloat16 in tl.dot; widen
        # to float32 there (exact: bf16 x bf16 products fit float32). Compiled: bf16 mma.
        UPCAST=utils.interpreting() and x.dtype == torch.bfloat16,
    )
    utils.record_config("bsr_spmm", _bsr_spmm_kernel, B=B, precision=prec)
    return out
