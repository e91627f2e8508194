"""``sparsegnn.graph.intrinsics``: the software prefetch compiles for every array the kernels
prefetch from and changes no result; popcount counts bits; the pipelined kernels built on them
equal plain loops."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from sparsegnn.graph.intrinsics import DISTANCE, popcount, prefetch, prefetch_span


@njit
def _sum_prefetching(values, ahead):
    total = 0.0
    for i in range(values.shape[0]):
        prefetch(values, i + ahead)  # past the end too: a prefetch never faults
        total += values[i]
    return total


@njit
def _sum_spans(values, rowptr):
    total = 0.0
    for r in range(rowptr.shape[0] - 1):
        prefetch_span(values, rowptr[r], rowptr[r + 1])
        for e in range(rowptr[r], rowptr[r + 1]):
            total += values[e]
    return total


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint64, np.float32, np.float64])
def test_prefetch_changes_no_result(dtype):
    values = np.arange(1000).astype(dtype)
    for ahead in (0, DISTANCE, 10**6):
        assert _sum_prefetching(values, ahead) == float(values.sum())
    rowptr = np.array([0, 0, 3, 3, 200, 1000], np.int64)  # empty, short and long spans
    assert _sum_spans(values, rowptr) == float(values.sum())


def test_prefetch_rejects_what_it_cannot_address():
    @njit
    def two_dimensional(values):
        prefetch(values, 0)

    @njit
    def float_index(values):
        prefetch(values, 0.5)

    with pytest.raises(TypingError):
        two_dimensional(np.zeros((2, 2)))
    with pytest.raises(TypingError):
        float_index(np.zeros(4))


@njit
def _popcounts(words):
    out = np.empty(words.shape[0], np.int64)
    for i in range(words.shape[0]):
        out[i] = popcount(words[i])
    return out


def test_popcount_counts_the_set_bits():
    words = np.array([0, 1, 2**63, 2**64 - 1, 0xF0F0, 12345678987654321], np.uint64)
    assert _popcounts(words).tolist() == [bin(int(w)).count("1") for w in words]

    @njit
    def signed(word):
        return popcount(word)

    with pytest.raises(TypingError):
        signed(5)


@njit
def _walks_one_at_a_time(rowptr, col, roots, walk_length, seed):
    """The walks as a plain loop, walk by walk within a step (the draws in the same order)."""
    np.random.seed(seed)
    walks = np.empty((roots.shape[0], walk_length + 1), np.int64)
    walks[:, 0] = roots
    for step in range(1, walk_length + 1):
        for w in range(roots.shape[0]):
            u = walks[w, step - 1]
            lo, deg = rowptr[u], rowptr[u + 1] - rowptr[u]
            walks[w, step] = col[lo + np.random.randint(0, deg)] if deg > 0 else u
    return walks


@pytest.mark.parametrize("num_roots", [1, DISTANCE, 2 * DISTANCE + 3, 500])
def test_pipelined_random_walks_equal_a_plain_loop(num_roots):
    from sparsegnn.data import sbm
    from sparsegnn.sampling import kernels

    graph = sbm(300, 3, 4.0, num_features=2, seed=1).graph
    rowptr, col = graph.rowptr.numpy(), graph.col.numpy()
    assert (np.diff(rowptr) == 0).any()  # nodes without an entry stay put
    roots = np.random.default_rng(num_roots).integers(0, 300, num_roots)
    for seed in (0, 7):
        want = _walks_one_at_a_time(rowptr, col, roots, 5, seed)
        assert np.array_equal(kernels.random_walks(rowptr, col, roots, 5, seed), want)
