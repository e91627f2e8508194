"""Row-wise CSR SpMM (sum, mean, max, min with arg) in Triton, and the segment reduction it shares.

``out[i] = reduce_{e in rowptr[i]..rowptr[i+1]} value[e] * x[col[e]]`` (``value`` optional), the
contract of ``csrc/ops.cpp``: rowptr int64 [N+1], col int32|int64 [nnz], value [nnz] of x's
dtype or None, x [num_cols, F] float16|bfloat16|float32|float64; out [N, F] in x's dtype,
accumulated in float32 (float64 for float64). For max/min ``arg`` int64 [N, F] is the FIRST edge
position reaching the extreme, ``nnz`` for empty rows (whose output is 0); for sum/mean ``arg`` is
``torch.empty(0, dtype=torch.int64)``.

One kernel, ``_csr_reduce_kernel``, does all of it. It walks "work items", each an edge range
``[start, end)`` whose reduction it writes to one output row:

- Row blocking: a program takes ``BLOCK_R`` consecutive items (cheap rows share a program).
- Feature tiling: the second grid axis tiles the F features by ``BLOCK_F``.
- Edge chunks: an item's edges are read ``BLOCK_E`` at a time into a [BLOCK_E, BLOCK_F] tile,
  accumulated in registers, reduced along the edge axis once at the end (sum/mean), or folded
  into a running extreme per chunk (max/min; min runs as max of the negated values so one code
  path serves both).
- Long-row splitting: when a row has more than ``split_threshold`` edges, every row is cut into
  segments of ``segment_size`` edges (pass 1: one work item per segment, writing partial results
  and partial args to a workspace), then pass 2 runs the same kernel with ``GATHER=False`` over
  the workspace, reducing each row's segments in order. Segments of a row are reduced in edge
  order and ties keep the earlier segment, so the result and the arg are deterministic and equal
  to the one-pass result up to float summation order. No atomics anywhere.

``segment_reduce(src, rowptr, reduce)`` is the same kernel with ``GATHER=False`` and no values
(``arg`` then indexes rows of ``src``).

Autotune: configs keyed on F and on a degree bucket (log2 of mean and max degree, see
``utils.degree_bucket``); under the interpreter the first config is used. The launched config is
recorded as ``utils.last_config("spmm")`` / ``("segment_reduce")``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import utils

INTERPRETED = utils.interpreting()
_SUM, _MAX, _MIN = utils.combiners()

REDUCE_CODES = {"sum": 0, "mean": 1, "max": 2, "min": 3}

# Rows longer than this are split (override per call). 4096 edges is where one program per row
# starts to leave SMs idle on power-law graphs with a few hubs.
SPLIT_THRESHOLD = 4096
SEGMENT_SIZE = 512

CONFIGS = [
    # first config: used under the interpreter (small tiles exercise every masking path)
    triton.Config({"BLOCK_R": 2, "BLOCK_E": 8, "BLOCK_F": 16}, num_warps=1, num_stages=1),
    triton.Config({"BLOCK_R": 4, "BLOCK_E": 8, "BLOCK_F": 64}, num_warps=2, num_stages=2),
    triton.Config({"BLOCK_R": 1, "BLOCK_E": 16, "BLOCK_F": 128}, num_warps=4, num_stages=2),
    triton.Config({"BLOCK_R": 1, "BLOCK_E": 32, "BLOCK_F": 64}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_R": 1, "BLOCK_E": 64, "BLOCK_F": 32}, num_warps=8, num_stages=3),
]


@triton.jit
def _load_messages(
    e0, end, offs_e0, offs_f, mask_f, col_ptr, src_ptr, value_ptr, F,
    GATHER: tl.constexpr, HAS_VALUE: tl.constexpr, ACC: tl.constexpr,
):
    """The ``[BLOCK_E, BLOCK_F]`` block of (weighted) messages of entries ``e0 ..`` (below
    ``end``), in ``ACC``; also the source rows, entry positions and the block's mask."""
    offs_e = e0 + offs_e0
    mask_e = offs_e < end
    if GATHER:
        rows = tl.load(col_ptr + offs_e, mask=mask_e, other=0).to(tl.int64)
    else:
        rows = offs_e.to(tl.int64)
    m2 = mask_e[:, None] & mask_f[None, :]
    v = tl.load(src_ptr + rows[:, None] * F + offs_f[None, :], mask=m2, other=0.0).to(ACC)
    if HAS_VALUE:
        w = tl.load(value_ptr + offs_e, mask=mask_e, other=0.0).to(ACC)
        v = v * w[:, None]
    return v, rows, offs_e, m2


@utils.autotune(CONFIGS, key=["F", "DEG_BUCKET"])
@triton.jit
def _csr_reduce_kernel(
    start_ptr,  # int64 [items]: first edge of each work item
    end_ptr,  # int64 [items]: one past its last edge
    cnt_ptr,  # int64 [items]: mean divisor when CNT_FROM_PTR
    col_ptr,  # int32|int64 [nnz]: source row of each edge when GATHER
    value_ptr,  # [nnz] edge weights when HAS_VALUE
    src_ptr,  # [rows, F]: gathered through col (GATHER) or read at the edge position
    argin_ptr,  # int64 [rows, F]: partial args of the rows of src when ARG_IN
    out_ptr,  # [items, F]
    arg_ptr,  # int64 [items, F] when WRITE_ARG
    num_items,
    F,
    sentinel,  # nnz: the arg of an empty row
    DEG_BUCKET,  # autotune key only
    REDUCE: tl.constexpr,  # 0 sum, 1 mean, 2 max, 3 min
    GATHER: tl.constexpr,
    HAS_VALUE: tl.constexpr,
    ARG_IN: tl.constexpr,
    WRITE_ARG: tl.constexpr,
    CNT_FROM_PTR: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_F: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_f = tl.program_id(1)
    offs_f = pid_f * BLOCK_F + tl.arange(0, BLOCK_F)
    mask_f = offs_f < F
    offs_e0 = tl.arange(0, BLOCK_E)
    for rr in range(BLOCK_R):
        item = pid_r * BLOCK_R + rr
        item_ok = item < num_items
        store_mask = mask_f & ((tl.full([BLOCK_F], 0, dtype=tl.int32) + item) < num_items)
        item_c = tl.minimum(item, num_items - 1).to(tl.int64)
        start = tl.load(start_ptr + item_c)
        end = tl.load(end_ptr + item_c)
        end = tl.where(item_ok, end, start)
        if REDUCE <= 1:
            acc2 = tl.full([BLOCK_E, BLOCK_F], 0, dtype=ACC)
            for e0 in range(start, end, BLOCK_E):
                v, rows, offs_e, m2 = _load_messages(
                    e0, end, offs_e0, offs_f, mask_f, col_ptr, src_ptr, value_ptr, F,
                    GATHER, HAS_VALUE, ACC,
                )
                acc2 += v
            res = tl.reduce(acc2, 0, _SUM)
            if REDUCE == 1:
                if CNT_FROM_PTR:
                    cnt = tl.load(cnt_ptr + item_c)
                else:
                    cnt = end - start
                res = res / tl.maximum(cnt, 1).to(ACC)
            tl.store(
                out_ptr + item_c * F + offs_f,
                res.to(out_ptr.dtype.element_ty),
                mask=store_mask,
            )
        else:
            run = tl.full([BLOCK_F], float("-inf"), dtype=ACC)
            run_arg = tl.full([BLOCK_F], 0, dtype=tl.int64) + sentinel
            for e0 in range(start, end, BLOCK_E):
                v, rows, offs_e, m2 = _load_messages(
                    e0, end, offs_e0, offs_f, mask_f, col_ptr, src_ptr, value_ptr, F,
                    GATHER, HAS_VALUE, ACC,
                )
                if REDUCE == 3:
                    v = -v
                if ARG_IN:
                    cand = tl.load(
                        argin_ptr + rows[:, None] * F + offs_f[None, :], mask=m2, other=sentinel
                    )
                    m2 = m2 & (cand != sentinel)
                else:
                    cand = offs_e.to(tl.int64)[:, None] + tl.full(
                        [BLOCK_E, BLOCK_F], 0, dtype=tl.int64
                    )
                v = tl.where(m2, v, float("-inf"))
                cmax = tl.reduce(v, 0, _MAX)
                hit = m2 & (v == cmax[None, :])
                carg = tl.reduce(tl.where(hit, cand, sentinel), 0, _MIN)
                upd = (cmax > run) | ((run_arg == sentinel) & (carg != sentinel))
                run = tl.where(upd, cmax, run)
                run_arg = tl.where(upd, carg, run_arg)
            has = run_arg != sentinel
            res = tl.where(has, run, 0.0)
            if REDUCE == 3:
                res = -res
            tl.store(
                out_ptr + item_c * F + offs_f,
                res.to(out_ptr.dtype.element_ty),
                mask=store_mask,
            )
            if WRITE_ARG:
                tl.store(arg_ptr + item_c * F + offs_f, run_arg, mask=store_mask)


def _launch(
    starts, ends, cnt, col, value, src, argin, out, arg, num_items, F, sentinel, bucket,
    *, reduce_code, gather, write_arg, cnt_from_ptr, name,
):
    device = src.device
    d = utils.dummy(device)

    def grid(meta):
        return (triton.cdiv(num_items, meta["BLOCK_R"]), triton.cdiv(F, meta["BLOCK_F"]))

    _csr_reduce_kernel[grid](
        starts, ends, cnt if cnt is not None else d,
        col if col is not None else d,
        value if value is not None else src,
        src,
        argin if argin is not None else d,
        out,
        arg if arg is not None else d,
        num_items, F, sentinel, bucket,
        REDUCE=reduce_code, GATHER=gather, HAS_VALUE=value is not None,
        ARG_IN=argin is not None, WRITE_ARG=write_arg, CNT_FROM_PTR=cnt_from_ptr,
        ACC=utils.tl_acc(src.dtype),
    )
    utils.record_config(name, _csr_reduce_kernel, reduce=reduce_code, items=num_items)


def csr_reduce(
    rowptr: torch.Tensor,
    col: torch.Tensor | None,
    value: torch.Tensor | None,
    src: torch.Tensor,
    reduce: str,
    *,
    split_threshold: int | None = None,
    segment_size: int | None = None,
    name: str = "spmm",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reduce the rows of ``src`` (gathered through ``col`` when given) over the CSR ``rowptr``.

    Args:
        rowptr: int64 [N+1].
        col: int32|int64 [nnz] (SpMM) or None (segment reduce: edge e reads ``src[e]``).
        value: [nnz] of src's dtype, or None.
        src: [rows, F], contiguous.
        reduce: "sum" | "mean" | "max" | "min".
        split_threshold: rows with more edges than this trigger the two-pass split
            (default ``SPLIT_THRESHOLD``).
        segment_size: edges per segment in the split (default ``SEGMENT_SIZE``).

    Returns:
        ``(out [N, F] in src's dtype, arg int64 [N, F] for max/min else empty)``.
    """
    if reduce not in REDUCE_CODES:
        raise ValueError(f"reduce: expected one of {sorted(REDUCE_CODES)}, got {reduce!r}")
    rowptr, col, value, src = utils.ensure_contiguous(rowptr, col, value, src)
    code = REDUCE_CODES[reduce]
    extreme = code >= 2
    n = rowptr.numel() - 1
    F = src.shape[1]
    nnz = int(rowptr[-1].item()) if n >= 0 and rowptr.numel() > 0 else 0
    device = src.device
    out = torch.empty((max(n, 0), F), dtype=src.dtype, device=device)
    arg = (
        torch.full((max(n, 0), F), nnz, dtype=torch.int64, device=device)
        if extreme
        else torch.empty(0, dtype=torch.int64, device=device)
    )
    if n <= 0 or F == 0:
        return out, arg
    deg = rowptr[1:] - rowptr[:-1]
    max_deg = int(deg.max().item())
    bucket = utils.degree_bucket(nnz / n, max_deg)
    thr = SPLIT_THRESHOLD if split_threshold is None else int(split_threshold)
    seg = SEGMENT_SIZE if segment_size is None else max(1, int(segment_size))
    gather = col is not None
    if max_deg <= thr:
        _launch(
            rowptr[:-1], rowptr[1:], None, col, value, src, None, out, arg if extreme else None,
            n, F, nnz, bucket, reduce_code=code, gather=gather, write_arg=extreme,
            cnt_from_ptr=False, name=name,
        )
        utils._LAST_CONFIG[name]["split"] = False
        return out, arg

    # Pass 1: every row cut into segments of `seg` edges (an empty row keeps one empty segment).
    nseg = torch.clamp((deg + seg - 1) // seg, min=1)
    seg_ptr = torch.zeros(n + 1, dtype=torch.int64, device=device)
    torch.cumsum(nseg, 0, out=seg_ptr[1:])
    S = int(seg_ptr[-1].item())
    seg_row = torch.repeat_interleave(torch.arange(n, device=device), nseg, output_size=S)
    k = torch.arange(S, device=device) - seg_ptr[seg_row]
    seg_start = (rowptr[seg_row] + k * seg).contiguous()
    seg_end = torch.minimum(seg_start + seg, rowptr[seg_row + 1]).contiguous()
    acc_t = utils.acc_dtype(src.dtype)
    part = torch.empty((S, F), dtype=acc_t, device=device)
    part_arg = torch.empty((S, F), dtype=torch.int64, device=device) if extreme else None
    pbucket = utils.degree_bucket(nnz / S, seg)
    _launch(
        seg_start, seg_end, None, col, value, src, None, part, part_arg, S, F, nnz, pbucket,
        reduce_code=0 if code == 1 else code, gather=gather, write_arg=extreme,
        cnt_from_ptr=False, name=name + "_split_pass1",
    )
    # Pass 2: reduce each row's segments, in order, from the workspace.
    _launch(
        seg_ptr[:-1], seg_ptr[1:], deg.contiguous(), None, None, part, part_arg, out,
        arg if extreme else None, n, F, nnz, utils.degree_bucket(S / n, int(nseg.max().item())),
        reduce_code=code, gather=False, write_arg=extreme, cnt_from_ptr=code == 1,
        name=name,
    )
    utils._LAST_CONFIG[name]["split"] = True
    utils._LAST_CONFIG[name]["segments"] = S
    return out, arg


def spmm(
    rowptr: torch.Tensor,
    col: torch.Tensor,
    value: torch.Tensor | None,
    x: torch.Tensor,
    reduce: str = "sum",
    **kw,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CSR SpMM: ``(out [N, F], arg)``, see the module docstring for the contract."""
    if x.dim() != 2:
        raise ValueError(f"x: expected a 2-D tensor [num_cols, F], got shape {tuple(x.shape)}")
    return csr_reduce(rowptr, col, value, x, reduce, name="spmm", **kw)
