"""The ``numba`` backend: parallel row loops compiled by numba, for CPUs without the extension.

One thread owns each output row (``prange`` over rows), so there are no atomics and results do
not depend on the thread count. 16-bit inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..dispatch import Backend, register_backend
from .reference import acc_dtype

try:
    import numba
    from numba import njit, prange

    _IMPORT_ERROR = None
except ImportError as error:  # pragma: no cover - numba is a base dependency
    numba, _IMPORT_ERROR = None, str(error)

_REDUCE_CODE = {"sum": 0, "mean": 1, "max": 2, "min": 3}

if numba is not None:

    @njit(parallel=True, cache=True, nogil=True)
    def _spmm_kernel(rowptr, col, value, weighted, x, out, arg, code):  # pragma: no cover - jitted
        num_rows, feat, nnz = rowptr.shape[0] - 1, x.shape[1], col.shape[0]
        for i in prange(num_rows):
            start, stop = rowptr[i], rowptr[i + 1]
            if code <= 1:
                for e in range(start, stop):
                    c = col[e]
                    w = value[e] if weighted else 1.0
                    for f in range(feat):
                        out[i, f] += w * x[c, f]
                if code == 1 and stop > start:
                    for f in range(feat):
                        out[i, f] /= stop - start
                continue
            for f in range(feat):
                out[i, f] = -np.inf if code == 2 else np.inf
                arg[i, f] = -1
            for e in range(start, stop):
                c = col[e]
                w = value[e] if weighted else 1.0
                for f in range(feat):
                    v = w * x[c, f]
                    if (code == 2 and v > out[i, f]) or (code == 3 and v < out[i, f]):
                        out[i, f] = v
                        arg[i, f] = e
            for f in range(feat):
                if arg[i, f] < 0:
                    out[i, f] = 0.0
                    arg[i, f] = nnz

    @njit(parallel=True, cache=True, nogil=True)
    def _sddmm_kernel(rowptr, col, a, b, out):  # pragma: no cover - jitted
        for i in prange(rowptr.shape[0] - 1):
            for e in range(rowptr[i], rowptr[i + 1]):
                c = col[e]
                total = 0.0
                for f in range(a.shape[1]):
                    total += a[i, f] * b[c, f]
                out[e] = total

    @njit(parallel=True, cache=True, nogil=True)
    def _arg_backward_kernel(col, value, weighted, arg, grad, out):  # pragma: no cover - jitted
        nnz = col.shape[0]
        for f in prange(grad.shape[1]):
            for i in range(grad.shape[0]):
                e = arg[i, f]
                if e < nnz:
                    w = value[e] if weighted else 1.0
                    out[col[e], f] += grad[i, f] * w


def _unavailable() -> str | None:
    return None if numba is not None else f"numba is not importable: {_IMPORT_ERROR}"


def _np(tensor: Tensor) -> np.ndarray:
    return tensor.detach().numpy()


def _weights(value: Tensor | None, dtype: torch.dtype) -> tuple[np.ndarray, bool]:
    if value is None:
        return np.ones(1, dtype=torch.empty(0, dtype=dtype).numpy().dtype), False
    return _np(value.to(dtype).contiguous()), True


def spmm(
    rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str, need_arg: bool = True
) -> tuple[Tensor, Tensor]:
    """Computes the max/min arg whatever ``need_arg`` says (spmm_op drops it when unneeded)."""
    acc = acc_dtype(x.dtype)
    xa = x.to(acc).contiguous()
    num_rows, feat = rowptr.numel() - 1, x.shape[1]
    out = torch.zeros(num_rows, feat, dtype=acc)
    has_arg = reduce in ("max", "min")
    arg = torch.empty((num_rows, feat) if has_arg else (0, 0), dtype=torch.int64)
    weights, weighted = _weights(value, acc)
    _spmm_kernel(_np(rowptr), _np(col), weights, weighted, _np(xa), _np(out), _np(arg), _REDUCE_CODE[reduce])
    return out.to(x.dtype), arg if has_arg else arg.view(0)


def segment_reduce(src: Tensor, rowptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    return spmm(rowptr, torch.arange(src.shape[0]), None, src, reduce)


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    acc = acc_dtype(a.dtype)
    out = torch.empty(col.numel(), dtype=acc)
    _sddmm_kernel(_np(rowptr), _np(col), _np(a.to(acc).contiguous()), _np(b.to(acc).contiguous()), _np(out))
    return out.to(a.dtype)


def spmm_arg_backward(col: Tensor, value: Tensor | None, arg: Tensor, grad_out: Tensor, num_cols: int) -> Tensor:
    acc = acc_dtype(grad_out.dtype)
    out = torch.zeros(num_cols, grad_out.shape[1], dtype=acc)
    weights, weighted = _weights(value, acc)
    _arg_backward_kernel(_np(col), weights, weighted, _np(arg), _np(grad_out.to(acc).contiguous()), _np(out))
    return out.to(grad_out.dtype)


BACKEND = register_backend(
    Backend(
        name="numba",
        devices=frozenset({"cpu"}),
        spmm=spmm,
        segment_reduce=segment_reduce,
        sddmm=sddmm,
        spmm_arg_backward=spmm_arg_backward,
        unavailable=_unavailable,
    )
)
