"""Segment reduction in Triton: ``out[i] = reduce_{e in rowptr[i]..rowptr[i+1]} src[e]``.

Contract (``csrc/ops.cpp``): src [E, F] float, rowptr int64 [N+1]; out [N, F] in src's dtype
(float32 accumulation for 16-bit inputs); reduce sum|mean|max|min; for max/min ``arg`` int64
[N, F] indexes rows of ``src`` (the first reaching the extreme), ``E`` (= rowptr[-1]) for empty
segments whose output is 0; for sum/mean ``arg`` is an empty int64 tensor.

It is the row-wise SpMM kernel of :mod:`.spmm` with ``GATHER=False`` (edge e reads ``src[e]``),
with the same row blocking, feature tiling and deterministic long-segment split.
"""

from __future__ import annotations

import torch

from . import spmm as _spmm


def segment_reduce(
    src: torch.Tensor, rowptr: torch.Tensor, reduce: str = "sum", **kw
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out [N, F], arg)``: reduce the rows of ``src`` [E, F] in the segments of ``rowptr``."""
    if src.dim() != 2:
        raise ValueError(f"src: expected a 2-D tensor [E, F], got shape {tuple(src.shape)}")
    return _spmm.csr_reduce(rowptr, None, None, src, reduce, name="segment_reduce", **kw)
