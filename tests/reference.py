"""The suite's one reference and one tolerance table (CPU, Triton and GPU tests share them).

The reference is the package's ``torch`` backend (``sparsegnn/ops/backends/reference.py``:
index_select, then index_add / scatter_reduce) run in float64 on the CPU; ``test_ops.py`` checks
it against an independent row-by-row loop. For max/min the arg is the first entry position
reaching the extreme (``nnz`` for an empty row, whose output is 0).

Tolerance: an output in ``dtype`` is within ``TOL[dtype] * (1 + scale)`` of the float64
reference, where ``scale`` bounds the rounding: ``|expected|`` for a single rounding, and the sum
of the magnitudes of the terms (``|A| @ |x|``, ``sum |a_i b_i|``) for a sum, whose terms may
cancel. ``TOL`` is a few units in the last place of each dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sparsegnn.ops.backends import reference as _ref

TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}


acc_dtype = _ref.acc_dtype  # the kernels' accumulation dtype: float32 for 16-bit floats


def _cpu(t: Tensor | None, acc: torch.dtype) -> Tensor | None:
    return None if t is None else t.detach().cpu().to(acc)


def spmm(
    rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str, acc: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor | None]:
    """``(out [N, F], arg [N, F] or None)`` of ``reduce_e value_e * x[col_e]`` per row, computed
    in ``acc`` (float64; ``acc_dtype(x.dtype)`` reproduces a kernel's products and ties)."""
    out, arg = _ref.spmm(rowptr.cpu(), col.cpu(), _cpu(value, acc), _cpu(x, acc), reduce)
    return out, (arg if reduce in ("max", "min") else None)


def spmm_bound(rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str) -> Tensor:
    """float64 ``[N, F]``: the scale of :func:`assert_close` for an SpMM: ``|A| @ |x|`` for
    sum / mean, ``|out|`` for max / min."""
    if reduce in ("max", "min"):
        return spmm(rowptr, col, value, x, reduce)[0].abs()
    return spmm(rowptr, col, None if value is None else value.abs(), x.abs(), reduce)[0]


def reduce_rows(
    rowptr: Tensor, msg: Tensor, reduce: str, acc: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor | None]:
    """Segment reduction of ``msg [nnz, F]`` over the rows of ``rowptr``, in ``acc``."""
    return spmm(rowptr, torch.arange(msg.shape[0]), None, msg, reduce, acc)


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor, acc: torch.dtype = torch.float64) -> Tensor:
    """``[nnz]``: ``a[row_e] . b[col_e]`` per entry, in ``acc``."""
    return _ref.sddmm(rowptr.cpu(), col.cpu(), _cpu(a, acc), _cpu(b, acc))


def sddmm_bound(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """float64 ``[nnz]``: ``sum_f |a[row_e, f] b[col_e, f]|``, the scale of an SDDMM."""
    return sddmm(rowptr, col, a.abs(), b.abs())


def arg_backward(
    col: Tensor, value: Tensor | None, arg: Tensor, grad_out: Tensor, num_cols: int, acc: torch.dtype = torch.float64
) -> Tensor:
    """``[num_cols, F]``: the max/min SpMM gradient of x, routed through ``arg``, in ``acc``."""
    return _ref.spmm_arg_backward(col.cpu(), _cpu(value, acc), arg.cpu(), _cpu(grad_out, acc), num_cols)


def assert_close(actual: Tensor, expected: Tensor, dtype: torch.dtype, scale: Tensor | None = None) -> None:
    """``|actual - expected| <= TOL[dtype] * (1 + scale)`` elementwise (``scale`` defaults to
    ``|expected|``), with the worst element named on failure."""
    actual, expected = actual.detach().cpu().double(), expected.detach().cpu().double()
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    bound = TOL[dtype] * (1 + (expected.abs() if scale is None else scale.detach().cpu().double()))
    err = (actual - expected).abs()
    bad = ~(err <= bound)  # NaN counts as bad
    if bool(bad.any()):
        worst = int(torch.argmax(torch.where(bad, err / bound, torch.zeros_like(err))))
        raise AssertionError(
            f"{int(bad.sum())} of {err.numel()} elements off (dtype {dtype}): worst at flat index {worst}, "
            f"actual {actual.flatten()[worst].item()}, expected {expected.flatten()[worst].item()}, "
            f"bound {bound.flatten()[worst].item()}"
        )
