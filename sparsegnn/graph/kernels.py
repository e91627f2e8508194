"""The graph container's compiled loops (numba, single-threaded, CPU): what a sort would do in
O(nnz log nnz), done by counting in O(nnz + N)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def csr_transpose(rowptr, col, num_cols):  # pragma: no cover - jitted
    """The CSC of a CSR (int64 ``rowptr [N + 1]``, int32 / int64 ``col [nnz]``) as a CSR of the
    transpose, by a counting sort: ``(colptr [num_cols + 1], row [nnz], perm [nnz])``, int64 but
    ``row`` in ``col``'s dtype; ``perm[k]`` is the position in the CSR of transposed entry ``k``.
    Stable: within a column, entries keep their CSR order (rows ascending), exactly as a stable
    sort of ``col`` orders them."""
    nnz = col.shape[0]
    colptr = np.zeros(num_cols + 1, np.int64)
    for e in range(nnz):
        colptr[col[e] + 1] += 1
    for c in range(num_cols):
        colptr[c + 1] += colptr[c]
    fill = colptr[:-1].copy()
    row = np.empty(nnz, col.dtype)
    perm = np.empty(nnz, np.int64)
    for i in range(rowptr.shape[0] - 1):
        for e in range(rowptr[i], rowptr[i + 1]):
            k = fill[col[e]]
            fill[col[e]] = k + 1
            row[k] = i
            perm[k] = e
    return colptr, row, perm
