"""The ``numba`` backend: parallel row loops compiled by numba, for CPUs without the extension.

One thread owns each output row (``prange`` over rows), so there are no atomics and results do
not depend on the thread count. 16-bit inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import torch
from torch import Tensor

from ..dispatch import Backend, register_backend
from .reference import acc_dtype

_REDUCE_CODE = {"sum": 0, "mean": 1, "max": 2, "min": 3}


def _kernels():
    """The jitted kernels module, imported (numba with it) at the first call."""
    from . import numba_kernels

    return numba_kernels


@functools.cache
def _unavailable() -> str | None:
    """Looked up once a process: ``find_spec`` stats the import path (about 0.2 ms), and every
    ``backend="auto"`` call asks each backend whether it can run."""
    return None if importlib.util.find_spec("numba") is not None else "numba is not installed"


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
    _kernels().spmm_kernel(_np(rowptr), _np(col), weights, weighted, _np(xa), _np(out), _np(arg), _REDUCE_CODE[reduce])
    return out.to(x.dtype), arg if has_arg else arg.view(0)


def segment_reduce(src: Tensor, rowptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    return spmm(rowptr, torch.arange(src.shape[0]), None, src, reduce)


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    acc = acc_dtype(a.dtype)
    out = torch.empty(col.numel(), dtype=acc)
    _kernels().sddmm_kernel(_np(rowptr), _np(col), _np(a.to(acc).contiguous()), _np(b.to(acc).contiguous()), _np(out))
    return out.to(a.dtype)


def spmm_arg_backward(col: Tensor, value: Tensor | None, arg: Tensor, grad_out: Tensor, num_cols: int) -> Tensor:
    acc = acc_dtype(grad_out.dtype)
    out = torch.zeros(num_cols, grad_out.shape[1], dtype=acc)
    weights, weighted = _weights(value, acc)
    _kernels().arg_backward_kernel(_np(col), weights, weighted, _np(arg), _np(grad_out.to(acc).contiguous()), _np(out))
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
