"""The graph container's compiled loops (numba, single-threaded, CPU): what a sort or a chain of
torch ops would do with O(nnz) temporaries, done in one or two passes over the CSR."""

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


@njit(cache=True)
def rows_ascending(rowptr, col):  # pragma: no cover - jitted
    """Whether every row's columns are ascending (ties allowed)."""
    for i in range(rowptr.shape[0] - 1):
        for e in range(rowptr[i] + 1, rowptr[i + 1]):
            if col[e - 1] > col[e]:
                return False
    return True


def symmetric_ascending(rowptr: np.ndarray, col: np.ndarray) -> bool:
    """Whether a square CSR has ascending rows and equals its transpose as a pattern (every
    entry ``u -> v`` as often as ``v -> u``; values not compared). One transpose: ``nnz``
    temporaries."""
    if not rows_ascending(rowptr, col):
        return False
    colptr, row, _ = csr_transpose(rowptr, col, rowptr.shape[0] - 1)
    return bool(np.array_equal(colptr, rowptr) and np.array_equal(row, col))


@njit(cache=True)
def gcn_normalise(rowptr, col, value, fill):  # pragma: no cover - jitted
    """GCN's ``D^-1/2 (A + I) D^-1/2`` of a square CSR (int64 ``rowptr``, int32 / int64 ``col``
    ascending in each row, float ``value [nnz]``), as :meth:`sparsegnn.Graph.gcn_norm` defines it:
    PyG's ``add_remaining_self_loops`` (a node's own loop keeps its weight, a missing one gets
    ``fill``), degrees the weighted row sums with the loop added last, in ``value``'s precision.

    Returns ``(ok, rowptr, col, value)``: exactly one loop per row, columns ascending and in
    ``col``'s dtype. ``ok`` is False (and the arrays empty) when a row's columns are not ascending
    or a row holds its loop twice; the caller then takes the general path."""
    n = rowptr.shape[0] - 1
    one = value.dtype.type(1.0)
    loop = np.full(n, value.dtype.type(fill), dtype=value.dtype)
    has_loop = np.zeros(n, np.bool_)
    degree = np.zeros(n, dtype=value.dtype)
    for i in range(n):
        for e in range(rowptr[i], rowptr[i + 1]):
            c = col[e]
            if e > rowptr[i] and c < col[e - 1]:
                return False, np.zeros(1, np.int64), np.zeros(0, col.dtype), np.zeros(0, value.dtype)
            if c == i:
                if has_loop[i]:
                    return False, np.zeros(1, np.int64), np.zeros(0, col.dtype), np.zeros(0, value.dtype)
                loop[i] = value[e]
                has_loop[i] = True
            else:
                degree[i] += value[e]
        degree[i] += loop[i]
    dinv = np.zeros(n, dtype=value.dtype)
    for i in range(n):
        if degree[i] != 0:
            dinv[i] = one / np.sqrt(degree[i])
    out_ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_ptr[i + 1] = out_ptr[i] + rowptr[i + 1] - rowptr[i] + (0 if has_loop[i] else 1)
    out_col = np.empty(out_ptr[n], col.dtype)
    out_value = np.empty(out_ptr[n], dtype=value.dtype)
    for i in range(n):
        at = out_ptr[i]
        placed = has_loop[i]
        for e in range(rowptr[i], rowptr[i + 1]):
            c = col[e]
            if not placed and c > i:
                out_col[at] = i
                out_value[at] = dinv[i] * loop[i] * dinv[i]
                at += 1
                placed = True
            w = loop[i] if c == i else value[e]
            out_col[at] = c
            out_value[at] = dinv[i] * w * dinv[c]
            at += 1
        if not placed:
            out_col[at] = i
            out_value[at] = dinv[i] * loop[i] * dinv[i]
    return True, out_ptr, out_col, out_value


@njit(cache=True)
def sort_columns(cols, pos, lo, hi, with_pos):  # pragma: no cover - jitted
    """Stable ascending sort of ``cols[lo:hi]`` in place, ``pos`` alike when ``with_pos``:
    insertion sort for short rows (no allocation), a merge sort above 32 entries."""
    if hi - lo > 32:
        order = np.argsort(cols[lo:hi], kind="mergesort")
        cols[lo:hi] = cols[lo:hi][order]
        if with_pos:
            pos[lo:hi] = pos[lo:hi][order]
        return
    for a in range(lo + 1, hi):
        c = cols[a]
        p = pos[a] if with_pos else 0
        b = a - 1
        while b >= lo and cols[b] > c:
            cols[b + 1] = cols[b]
            if with_pos:
                pos[b + 1] = pos[b]
            b -= 1
        cols[b + 1] = c
        if with_pos:
            pos[b + 1] = p


@njit(cache=True)
def sort_rows(rowptr, col):  # pragma: no cover - jitted
    """Sort every row's columns ascending, in place (stable); returns int64 ``[nnz]``: entry
    ``k`` now holds what was at position ``pos[k]`` (move the values with ``value[pos]``)."""
    pos = np.arange(col.shape[0])
    for i in range(rowptr.shape[0] - 1):
        sort_columns(col, pos, rowptr[i], rowptr[i + 1], True)
    return pos


@njit(cache=True)
def csr_permute(rowptr, col, perm, inverse, with_pos):  # pragma: no cover - jitted
    """A square CSR renumbered: row ``i`` of the result is row ``perm[i]``, column ``c`` becomes
    ``inverse[c]``, each row's columns sorted stably (duplicates keep their order), as
    ``from_coo`` of the relabelled entries orders them. Returns ``(rowptr [N + 1], col [nnz] in
    col's dtype, pos)``: ``pos [nnz]`` (int64) the source position of every entry when
    ``with_pos``, else empty."""
    n = perm.shape[0]
    out_ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_ptr[i + 1] = out_ptr[i] + rowptr[perm[i] + 1] - rowptr[perm[i]]
    out_col = np.empty(out_ptr[n], col.dtype)
    pos = np.empty(out_ptr[n] if with_pos else 0, np.int64)
    for i in range(n):
        u = perm[i]
        at = out_ptr[i]
        for e in range(rowptr[u], rowptr[u + 1]):
            out_col[at] = inverse[col[e]]
            if with_pos:
                pos[at] = e
            at += 1
        sort_columns(out_col, pos, out_ptr[i], at, with_pos)
    return out_ptr, out_col, pos
