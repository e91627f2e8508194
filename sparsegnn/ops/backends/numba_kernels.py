"""The numba-jitted row loops behind the ``numba`` backend (``numba_cpu.py`` imports this module on
first use: importing numba costs about half a second)."""

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def spmm_kernel(rowptr, col, value, weighted, x, out, arg, code):  # pragma: no cover - jitted
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
def sddmm_kernel(rowptr, col, a, b, out):  # pragma: no cover - jitted
    for i in prange(rowptr.shape[0] - 1):
        for e in range(rowptr[i], rowptr[i + 1]):
            c = col[e]
            total = 0.0
            for f in range(a.shape[1]):
                total += a[i, f] * b[c, f]
            out[e] = total

@njit(parallel=True, cache=True, nogil=True)
def arg_backward_kernel(col, value, weighted, arg, grad, out):  # pragma: no cover - jitted
    nnz = col.shape[0]
    for f in prange(grad.shape[1]):
        for i in range(grad.shape[0]):
            e = arg[i, f]
            if e < nnz:
                w = value[e] if weighted else 1.0
                out[col[e], f] += grad[i, f] * w
