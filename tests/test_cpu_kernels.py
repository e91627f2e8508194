"""The C++ CPU kernels (torch.ops.sparsegnn_C.*, CPU dispatch key) against plain-torch references.

Covers every op of csrc/ops.cpp: spmm (sum/mean/max/min, weighted or not, int32/int64 col, every
float dtype), segment_reduce, sddmm, spmm_arg_backward and spmm_int8; edge cases (zero nodes,
zero edges, one node, empty rows, self loops, duplicate edges, a hub of 10^5 neighbours); bitwise
identity across thread counts; AVX-512 vs portable and VNNI vs portable paths; the Python INT8 API
(sparsegnn.ops.int8).
"""

from __future__ import annotations


import pytest
import torch

_C = pytest.importorskip("sparsegnn._C", reason="the C++ extension sparsegnn._C is not built")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import sparsegnn.ops  # noqa: E402
from conftest import env, rand, threads  # noqa: E402
import reference  # noqa: E402
from sparsegnn.ops.backends.reference import spmm_int8 as spmm_int8_reference  # noqa: E402

OPS = torch.ops.sparsegnn_C
REDUCES = ("sum", "mean", "max", "min")


# ----------------------------------------------------------------------------- helpers
def make_graph(n, m, degrees, seed=0, col_dtype=torch.int64, self_loops=False, duplicates=False):
    """CSR with the given per-row degrees, random sorted columns in [0, m)."""
    g = torch.Generator().manual_seed(seed)
    deg = torch.as_tensor(degrees, dtype=torch.long)
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    nnz = int(rowptr[-1])
    col = torch.randint(0, max(m, 1), (nnz,), generator=g) if m > 0 else torch.zeros(0, dtype=torch.long)
    row = torch.repeat_interleave(torch.arange(n), deg)
    if self_loops and nnz:
        mask = torch.rand(nnz, generator=g) < 0.2
        col[mask] = torch.clamp(row[mask], max=m - 1)
    if duplicates and nnz > 1:
        same = torch.rand(nnz - 1, generator=g) < 0.3
        same &= row[1:] == row[:-1]
        col[1:][same] = col[:-1][same]
    # sort columns within rows
    key = row * max(m, 1) + col
    col = col[torch.argsort(key, stable=True)]
    return rowptr, col.to(col_dtype), row


def random_degrees(n, max_deg, seed, empty_frac=0.2):
    g = torch.Generator().manual_seed(seed + 1)
    deg = torch.randint(0, max_deg + 1, (n,), generator=g)
    deg[torch.rand(n, generator=g) < empty_frac] = 0
    return deg


def check_spmm(rowptr, col, value, x, reduce):
    out, arg = OPS.spmm(rowptr, col, value, x, reduce)
    ref, ref_arg = reference.spmm(rowptr, col, value, x, reduce)
    assert out.dtype == x.dtype and out.shape == (rowptr.numel() - 1, x.shape[1])
    # summation order differs from the reference: the error is bounded by the sum of magnitudes
    reference.assert_close(out, ref, x.dtype, reference.spmm_bound(rowptr, col, value, x, reduce))
    if reduce in ("max", "min"):
        assert arg.dtype == torch.long and arg.shape == out.shape
        if x.dtype in (torch.float32, torch.float64) and (value is None or x.dtype == torch.float64):
            assert torch.equal(arg, ref_arg)
        else:  # products rounded differently may tie differently: check the arg reaches the value
            _check_arg_consistent(rowptr, col, value, x, out, arg)
    else:
        assert arg.numel() == 0 and arg.dtype == torch.long


def _check_arg_consistent(rowptr, col, value, x, out, arg):
    nnz = col.numel()
    empty = rowptr.diff() == 0
    assert bool((arg[empty] == nnz).all())
    ok = arg < nnz
    if not bool(ok.any()):
        return
    e = arg[ok]
    f = torch.nonzero(ok)[:, 1]
    v = x.float()[col.long()[e], f]
    if value is not None:
        v = v * value.float()[e]
    reference.assert_close(out[ok], v.to(x.dtype), x.dtype)


# ----------------------------------------------------------------------------- spmm
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("col_dtype", [torch.int32, torch.int64])
def test_spmm_matches_reference(dtype, reduce, weighted, col_dtype):
    n, m = 60, 45
    rowptr, col, _ = make_graph(n, m, random_degrees(n, 12, 3), seed=3, col_dtype=col_dtype,
                                self_loops=True, duplicates=True)
    x = rand((m, 17), dtype, 1)
    value = rand((col.numel(),), dtype, 2) if weighted else None
    check_spmm(rowptr, col, value, x, reduce)


@pytest.mark.parametrize("feat", [1, 3, 16, 17, 64, 130])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_feature_widths(feat, reduce):
    n = 40
    rowptr, col, _ = make_graph(n, n, random_degrees(n, 9, feat), seed=feat)
    for dtype in (torch.float64, torch.float32):
        x = rand((n, feat), dtype, 5)
        check_spmm(rowptr, col, None, x, reduce)
        check_spmm(rowptr, col, rand((col.numel(),), dtype, 6), x, reduce)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_degenerate_graphs(reduce):
    # zero nodes
    out, arg = OPS.spmm(torch.zeros(1, dtype=torch.long), torch.zeros(0, dtype=torch.long), None,
                        torch.zeros(0, 8), reduce)
    assert out.shape == (0, 8)
    # zero edges: every row empty -> 0, arg = nnz = 0
    rowptr = torch.zeros(6, dtype=torch.long)
    x = rand((4, 5), torch.float32)
    out, arg = OPS.spmm(rowptr, torch.zeros(0, dtype=torch.int32), None, x, reduce)
    assert torch.equal(out, torch.zeros(5, 5))
    if reduce in ("max", "min"):
        assert torch.equal(arg, torch.zeros(5, 5, dtype=torch.long))
    # one node with a self loop; F = 0
    check_spmm(torch.tensor([0, 1]), torch.tensor([0]), None, rand((1, 3), torch.float64), reduce)
    out, _ = OPS.spmm(torch.tensor([0, 1]), torch.tensor([0]), None, torch.zeros(1, 0), reduce)
    assert out.shape == (1, 0)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_hub(reduce):
    """A row of 10^5 neighbours (split into fixed pieces) next to ordinary rows."""
    n = 300
    deg = random_degrees(n, 6, 11)
    deg[7] = 100_000
    rowptr, col, _ = make_graph(n, n, deg, seed=11, col_dtype=torch.int32)
    x = rand((n, 17), torch.float64, 3)
    value = rand((col.numel(),), torch.float64, 4)
    check_spmm(rowptr, col, value, x, reduce)
    check_spmm(rowptr, col, None, x.float(), reduce)


def test_large_outputs_reuse_cached_huge_page_blocks():
    """Outputs of >= 32 MiB come from huge-page blocks that are kept for reuse once freed: a reused
    block is fully overwritten (no stale values), max/min args included, and the cache empties."""
    _C.cpu_release_cached_outputs()
    n, feat = 1 << 16, 128  # [n, feat] float32 = 32 MiB
    rowptr, col, _ = make_graph(n, n, random_degrees(n, 3, seed=5, empty_frac=0.3), seed=5)
    x1, x2 = rand((n, feat), torch.float32, 1), rand((n, feat), torch.float32, 2)
    out, _ = OPS.spmm(rowptr, col, None, x1, "sum")
    ptr = out.data_ptr()
    assert _C.cpu_cached_output_bytes() == 0
    del out
    assert _C.cpu_cached_output_bytes() == 32 << 20
    out, _ = OPS.spmm(rowptr, col, None, x2, "sum")
    assert out.data_ptr() == ptr and _C.cpu_cached_output_bytes() == 0
    reference.assert_close(out, reference.spmm(rowptr, col, None, x2, "sum")[0], torch.float32,
                           reference.spmm_bound(rowptr, col, None, x2, "sum"))
    del out
    check_spmm(rowptr, col, None, x1, "max")  # out and its int64 arg, on reused or fresh blocks
    held = _C.cpu_cached_output_bytes()
    assert held > 0
    assert sparsegnn.ops.release_cached_outputs() == held
    assert _C.cpu_cached_output_bytes() == 0


def test_spmm_nan_and_ties():
    rowptr = torch.tensor([0, 3, 5])
    col = torch.tensor([0, 1, 2, 1, 1])
    x = torch.tensor([[1.0, float("nan")], [2.0, float("nan")], [2.0, float("nan")]])
    out, arg = OPS.spmm(rowptr, col, None, x, "max")
    assert out[0, 0] == 2.0 and arg[0, 0] == 1  # first position reaching the max
    assert out[1, 0] == 2.0 and arg[1, 0] == 3
    assert out[0, 1] == 0 and arg[0, 1] == 5  # all NaN: 0 and arg = nnz


@pytest.mark.parametrize("portable", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_spmm_without_arg_gives_the_same_output(reduce, dtype, portable):
    """need_arg=False (forward-only max/min) skips the arg: the same bits as with it, on hub pieces,
    empty rows, all-NaN lanes and +-inf values, AVX-512 and portable paths alike."""
    n = 150
    deg = random_degrees(n, 14, 8, empty_frac=0.2)
    deg[5] = 7000  # a hub: pieces merged without args
    rowptr, col, _ = make_graph(n, n, deg, seed=8, col_dtype=torch.int32, duplicates=True)
    x = rand((n, 37), dtype, 3)
    x[::7, 0] = float("nan")
    x[:, 1] = float("nan")
    x[:, 2] = float("-inf") if reduce == "max" else float("inf")  # never beats the identity: 0
    x[::3, 4] = float("-inf") if reduce == "max" else float("inf")
    x[::5, 3] = float("inf") if reduce == "max" else float("-inf")
    x[:, 5] = 0.0
    x[::2, 5] = -0.0  # ties of signed zeros: the first one reached stays, bit for bit
    value = rand((col.numel(),), dtype, 4)
    bits = {torch.float32: torch.int32, torch.float64: torch.int64, torch.bfloat16: torch.int16}[dtype]
    with env(SPARSEGNN_ISA="portable" if portable else "auto"):
        for v in (None, value):
            out, arg = OPS.spmm(rowptr, col, v, x, reduce)
            out_noarg, no_arg = OPS.spmm(rowptr, col, v, x, reduce, need_arg=False)
            assert no_arg.numel() == 0 and no_arg.dtype == torch.long
            assert torch.equal(out.view(bits), out_noarg.view(bits))
            assert bool((out_noarg[:, 1] == 0).all())  # an all-NaN lane gives 0, as with the arg
            if v is None:
                assert bool((out_noarg[:, 2] == 0).all())  # never beats the identity: 0 too


def test_spmm_need_arg_is_ignored_by_sum_and_mean():
    rowptr, col, _ = make_graph(30, 30, random_degrees(30, 5, 2), seed=2)
    x = rand((30, 8), torch.float32, 1)
    for reduce in ("sum", "mean"):
        a, b = OPS.spmm(rowptr, col, None, x, reduce), OPS.spmm(rowptr, col, None, x, reduce, need_arg=False)
        assert torch.equal(a[0], b[0]) and a[1].numel() == b[1].numel() == 0


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_spmm_avx512_vs_portable(reduce, dtype):
    n = 120
    deg = random_degrees(n, 20, 5)
    deg[3] = 5000
    rowptr, col, _ = make_graph(n, n, deg, seed=5, col_dtype=torch.int32)
    x = rand((n, 37), dtype, 1)
    value = rand((col.numel(),), dtype, 2)
    a = OPS.spmm(rowptr, col, None, x, reduce)
    aw = OPS.spmm(rowptr, col, value, x, reduce)
    with env(SPARSEGNN_ISA="portable"):
        b = OPS.spmm(rowptr, col, None, x, reduce)
        bw = OPS.spmm(rowptr, col, value, x, reduce)
    # Unweighted: same additions in the same order, so the same bits; weighted may differ by FMA.
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    reference.assert_close(aw[0], bw[0], dtype, reference.spmm_bound(rowptr, col, value, x, reduce))


# ----------------------------------------------------------------------------- determinism
def _all_ops(rowptr, col, value, x, b, nc):
    outs = []
    for reduce in REDUCES:
        outs += list(OPS.spmm(rowptr, col, value, x, reduce))
        outs += list(OPS.spmm(rowptr, col, None, x, reduce))
    src = x.index_select(0, col.long())[: col.numel()]
    for reduce in REDUCES:
        outs += list(OPS.segment_reduce(src.contiguous(), rowptr, reduce))
    outs.append(OPS.sddmm(rowptr, col, b, x))
    _, arg = OPS.spmm(rowptr, col, value, x, "max")
    g = rand((rowptr.numel() - 1, x.shape[1]), x.dtype, 9)
    outs.append(OPS.spmm_arg_backward(col, value, arg, g, nc))
    xq = torch.randint(-128, 128, (nc, x.shape[1]), generator=torch.Generator().manual_seed(1), dtype=torch.int8)
    vq = torch.randint(-128, 128, (col.numel(),), generator=torch.Generator().manual_seed(2), dtype=torch.int8)
    g2 = torch.Generator().manual_seed(3)
    rs, cs = torch.rand(rowptr.numel() - 1, generator=g2), torch.rand(x.shape[1], generator=g2)
    outs.append(OPS.spmm_int8(rowptr, col, vq, xq, rs, cs))
    return outs


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bitwise_identical_across_thread_counts(dtype):
    n = 2000
    deg = random_degrees(n, 10, 21)
    deg[5] = 30_000  # hub: fixed pieces, merged in order
    deg[1500] = 5000
    rowptr, col, _ = make_graph(n, n, deg, seed=21, col_dtype=torch.int32)
    x = rand((n, 33), dtype, 1)
    b = rand((n, 33), dtype, 3)
    value = rand((col.numel(),), dtype, 2)
    with threads(1):
        one = _all_ops(rowptr, col, value, x, b, n)
    with threads(2):
        two = _all_ops(rowptr, col, value, x, b, n)
        again = _all_ops(rowptr, col, value, x, b, n)
    for p, q, r in zip(one, two, again):
        assert torch.equal(p, q) and torch.equal(q, r)


# ----------------------------------------------------------------------------- segment_reduce
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce(dtype, reduce):
    n = 50
    deg = random_degrees(n, 10, 7)
    deg[4] = 4500
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    e = int(rowptr[-1])
    src = rand((e, 19), dtype, 2)
    out, arg = OPS.segment_reduce(src, rowptr, reduce)
    ref, ref_arg = reference.reduce_rows(rowptr, src, reduce)
    reference.assert_close(out, ref, dtype, reference.reduce_rows(rowptr, src.abs(), reduce)[0].abs())
    if reduce in ("max", "min"):
        assert torch.equal(arg, ref_arg)
    out, _ = OPS.segment_reduce(torch.zeros(0, 4), torch.zeros(3, dtype=torch.long), reduce)
    assert torch.equal(out, torch.zeros(2, 4))


# ----------------------------------------------------------------------------- sddmm
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("feat", [1, 3, 16, 17, 64, 130])
def test_sddmm(dtype, feat):
    n, m = 30, 25
    deg = random_degrees(n, 8, feat)
    rowptr, col, row = make_graph(n, m, deg, seed=feat, col_dtype=torch.int32 if feat % 2 else torch.int64)
    a, b = rand((n, feat), dtype, 1), rand((m, feat), dtype, 2)
    out = OPS.sddmm(rowptr, col, a, b)
    ref, bound = reference.sddmm(rowptr, col, a, b), reference.sddmm_bound(rowptr, col, a, b)
    assert out.dtype == dtype and out.shape == (col.numel(),)
    reference.assert_close(out, ref, dtype, bound)
    with env(SPARSEGNN_ISA="portable"):
        reference.assert_close(OPS.sddmm(rowptr, col, a, b), ref, dtype, bound)


def test_sddmm_degenerate():
    out = OPS.sddmm(torch.zeros(4, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(3, 5),
                    torch.zeros(2, 5))
    assert out.shape == (0,)


# ----------------------------------------------------------------------------- arg backward
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("weighted", [False, True])
def test_spmm_arg_backward(dtype, weighted):
    n, m, feat = 70, 50, 21
    rowptr, col, _ = make_graph(n, m, random_degrees(n, 9, 4), seed=4, col_dtype=torch.int32, duplicates=True)
    x = rand((m, feat), dtype, 1)
    value = rand((col.numel(),), dtype, 2) if weighted else None
    _, arg = OPS.spmm(rowptr, col, value, x, "max")
    g = rand((n, feat), dtype, 3)
    gx = OPS.spmm_arg_backward(col, value, arg, g, m)
    ref = reference.arg_backward(col, value, arg, g, m)
    bound = reference.arg_backward(col, None if value is None else value.abs(), arg, g.abs(), m)
    reference.assert_close(gx, ref, dtype, bound)


def test_arg_backward_gradient_of_max():
    """max SpMM backward through arg equals the autograd of the reference."""
    n, m, feat = 40, 30, 6
    rowptr, col, row = make_graph(n, m, random_degrees(n, 6, 8), seed=8)
    x = rand((m, feat), torch.float64, 1).requires_grad_()
    value = rand((col.numel(),), torch.float64, 2)
    msg = x.index_select(0, col) * value.unsqueeze(1)
    ref = torch.zeros(n, feat, dtype=torch.float64).scatter_reduce(
        0, row.unsqueeze(1).expand(-1, feat), msg, "amax", include_self=False)
    g = rand((n, feat), torch.float64, 3)
    ref.backward(g)
    _, arg = OPS.spmm(rowptr, col, value, x.detach(), "max")
    gx = OPS.spmm_arg_backward(col, value, arg, g, m)
    torch.testing.assert_close(gx, x.grad)


# ----------------------------------------------------------------------------- int8


@pytest.mark.parametrize("feat", [1, 3, 16, 17, 64, 65, 130, 200])
@pytest.mark.parametrize("weighted", [False, True])
def test_spmm_int8_exact_and_paths_equal(feat, weighted):
    n, m = 80, 60
    deg = random_degrees(n, 15, feat)
    deg[2] = 6000  # hub (split into pieces)
    rowptr, col, _ = make_graph(n, m, deg, seed=feat, col_dtype=torch.int32 if weighted else torch.int64)
    g = torch.Generator().manual_seed(feat)
    xq = torch.randint(-128, 128, (m, feat), generator=g, dtype=torch.int8)
    vq = torch.randint(-128, 128, (col.numel(),), generator=g, dtype=torch.int8) if weighted else None
    rs, cs = torch.rand(n, generator=g), torch.rand(feat, generator=g)
    out = OPS.spmm_int8(rowptr, col, vq, xq, rs, cs)
    with env(SPARSEGNN_DISABLE_VNNI=1):
        fallback = OPS.spmm_int8(rowptr, col, vq, xq, rs, cs)
    assert out.dtype == torch.float32 and out.shape == (n, feat)
    assert torch.equal(out, fallback)
    assert torch.equal(out, spmm_int8_reference(rowptr, col, vq, xq, rs, cs))


def test_int8_python_api():
    import sparsegnn
    from sparsegnn.ops import int8 as q

    n = 50
    rowptr, col, row = make_graph(n, n, random_degrees(n, 8, 1), seed=1)
    value = torch.rand(col.numel()) + 0.1
    graph = sparsegnn.Graph(rowptr, col, value)
    x = rand((n, 24), torch.float32, 4)
    for quant in (q.quantize_per_tensor, q.quantize_per_channel):
        xq, scale = quant(x)
        assert xq.dtype == torch.int8 and scale.dtype == torch.float32
        assert scale.shape == ((1,) if quant is q.quantize_per_tensor else (24,))
        torch.testing.assert_close(xq.float() * scale, x, atol=float(scale.max()) / 2 + 1e-6, rtol=0)
        out = q.spmm_int8(graph, xq, scale)
        vq, rs = q.quantize_edge_weights(rowptr, value)
        cs = scale.expand(24).contiguous() if scale.numel() == 1 else scale
        assert torch.equal(out, spmm_int8_reference(rowptr, col, vq, xq, rs, cs))
        exact = torch.zeros(n, 24, dtype=torch.float64).index_add_(0, row, x.double()[col] * value.double()[:, None])
        snr = 10 * torch.log10(exact.pow(2).sum() / (out.double() - exact).pow(2).sum())
        assert snr > 25  # dB: int8 keeps the signal
        oq = q.requantize(out, out.abs().max() / 127)
        assert oq.dtype == torch.int8
    unweighted = sparsegnn.Graph(rowptr, col)
    xq, scale = q.quantize_per_tensor(x)
    ones = torch.ones(n)
    assert torch.equal(q.spmm_int8(unweighted, xq, scale),
                       spmm_int8_reference(rowptr, col, None, xq, ones, scale.expand(24).contiguous()))
    with pytest.raises(TypeError):
        q.spmm_int8(unweighted, x, scale)
    with pytest.raises(ValueError):
        q.spmm_int8(unweighted, xq, torch.ones(5))
    with pytest.raises(ValueError):
        q.spmm_int8(unweighted, xq, scale, edge_scale_mode="col")
    with pytest.raises(TypeError):
        q.spmm_int8("graph", xq, scale)
    with pytest.raises(ValueError):
        q.quantize_per_tensor(x, bits=9)
    with pytest.raises(ValueError):
        q.spmm_int8(unweighted, xq[:3], scale)


# ----------------------------------------------------------------------------- safety net
def test_input_checks_raise():
    x = torch.randn(4, 3)
    with pytest.raises(RuntimeError, match="out of range"):
        OPS.spmm(torch.tensor([0, 2]), torch.tensor([0, 9]), None, x, "sum")
    with pytest.raises(RuntimeError, match="out of range"):
        OPS.spmm(torch.tensor([0, 2]), torch.tensor([0, -1], dtype=torch.int32), None, x, "max")
    with pytest.raises(RuntimeError, match="rowptr"):
        OPS.spmm(torch.tensor([0, 3]), torch.tensor([0, 1]), None, x, "sum")
    with pytest.raises(RuntimeError, match="non-decreasing"):
        OPS.spmm(torch.tensor([0, 2, 1, 2]), torch.tensor([0, 1]), None, x, "sum")
    with pytest.raises(RuntimeError, match="reduce"):
        OPS.spmm(torch.tensor([0, 1]), torch.tensor([0]), None, x, "median")
    with pytest.raises(RuntimeError, match="contiguous"):
        OPS.spmm(torch.tensor([0, 1]), torch.tensor([0]), None, x.t(), "sum")
    with pytest.raises(RuntimeError, match="dtype"):
        OPS.spmm(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1, dtype=torch.float64), x, "sum")
    with pytest.raises(RuntimeError, match="out of range"):
        OPS.sddmm(torch.tensor([0, 1]), torch.tensor([7]), torch.randn(1, 3), x)
    with pytest.raises(RuntimeError, match="out of range"):
        OPS.spmm_arg_backward(torch.tensor([0]), None, torch.tensor([[5]]), torch.ones(1, 1), 2)
    with pytest.raises(RuntimeError, match="out of range"):
        OPS.spmm_int8(torch.tensor([0, 1]), torch.tensor([3]), None, torch.zeros(2, 4, dtype=torch.int8),
                      torch.ones(1), torch.ones(4))


# ----------------------------------------------------------------------------- hypothesis
@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(0, 30),
    m=st.integers(1, 30),
    feat=st.integers(1, 40),
    max_deg=st.integers(0, 12),
    seed=st.integers(0, 10_000),
    reduce=st.sampled_from(REDUCES),
    weighted=st.booleans(),
    col32=st.booleans(),
)
def test_hypothesis_random_graphs(n, m, feat, max_deg, seed, reduce, weighted, col32):
    rowptr, col, row = make_graph(n, m, random_degrees(n, max_deg, seed), seed=seed,
                                  col_dtype=torch.int32 if col32 else torch.int64)
    x = rand((m, feat), torch.float64, seed)
    value = rand((col.numel(),), torch.float64, seed + 1) if weighted else None
    check_spmm(rowptr, col, value, x, reduce)
    a = rand((n, feat), torch.float64, seed + 2)
    reference.assert_close(OPS.sddmm(rowptr, col, a, x), reference.sddmm(rowptr, col, a, x), torch.float64,
                           reference.sddmm_bound(rowptr, col, a, x))
    g = torch.Generator().manual_seed(seed)
    xq = torch.randint(-128, 128, (m, feat), generator=g, dtype=torch.int8)
    vq = torch.randint(-128, 128, (col.numel(),), generator=g, dtype=torch.int8) if weighted else None
    rs, cs = torch.rand(n, generator=g), torch.rand(feat, generator=g)
    assert torch.equal(OPS.spmm_int8(rowptr, col, vq, xq, rs, cs), spmm_int8_reference(rowptr, col, vq, xq, rs, cs))
