"""The CUDA kernels (csrc/cuda) against a plain-torch reference and against the CPU kernels.

Every op, reduce, dtype (float32/float64 tight, float16/bfloat16 loose), int32/int64 col, the
edge cases (zero nodes, zero edges, one node, empty rows, self loops, duplicate edges, a hub of
10^6 neighbours), every launch path (128-bit and scalar loads, sub-warp groups, split long rows)
and run-to-run bitwise determinism. Skipped without CUDA (see conftest.py).

The reference (tests/reference.py) computes in float64 on the CPU from the same (rounded)
inputs; tolerances are its one table, bounded by the magnitudes of the summed terms.
"""

from __future__ import annotations

import pytest
import reference
import torch
from conftest import env

from sparsegnn.ops.backends.reference import spmm_int8 as spmm_int8_reference

try:  # registers torch.ops.sparsegnn_C.*; collection must survive where it is not built
    import sparsegnn._C as _C

    _BUILT_WITH_CUDA = bool(_C.has_cuda())
except ImportError:  # pragma: no cover
    _BUILT_WITH_CUDA = False

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        torch.cuda.is_available() and not _BUILT_WITH_CUDA,
        reason="sparsegnn._C was built without its CUDA kernels (no nvcc or a CPU torch at build time)",
    ),
]

REDUCES = ["sum", "mean", "max", "min"]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
OPS = torch.ops.sparsegnn_C


# --------------------------------------------------------------------------------------------
# graphs and references


def random_csr(n, m, max_deg, seed=0, empty_every=5, index_dtype=torch.int64):
    """A random CSR with some empty rows, duplicate entries and (when square) self loops."""
    g = torch.Generator().manual_seed(seed)
    deg = torch.randint(0, max_deg + 1, (n,), generator=g)
    if empty_every:
        deg[::empty_every] = 0
    rowptr = torch.zeros(n + 1, dtype=torch.int64)
    rowptr[1:] = torch.cumsum(deg, 0)
    nnz = int(rowptr[-1])
    col = torch.randint(0, max(m, 1), (nnz,), generator=g) if m > 0 else torch.zeros(0, dtype=torch.int64)
    return rowptr, col.to(index_dtype)


def csr_from_lists(rowptr, col):
    return torch.tensor(rowptr, dtype=torch.int64), torch.tensor(col, dtype=torch.int64)


def rows_of(rowptr):
    n = rowptr.numel() - 1
    return torch.repeat_interleave(torch.arange(n), rowptr[1:] - rowptr[:-1])


def features(rows, F, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, F, generator=g, dtype=torch.float64).to(dtype)


def weights(nnz, dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(nnz, generator=g, dtype=torch.float64) + 0.5).to(dtype)


def check_out(got, ref, dtype, scale=None):
    assert got.dtype == dtype
    reference.assert_close(got, ref, dtype, scale)


def run_spmm(rowptr, col, value, x, reduce):
    dev = "cuda"
    v = value.to(dev) if value is not None else None
    return OPS.spmm(rowptr.to(dev), col.to(dev), v, x.to(dev), reduce)


def assert_spmm_case(rowptr, col, value, x, reduce, check_cpu=True):
    out, arg = run_spmm(rowptr, col, value, x, reduce)
    torch.cuda.synchronize()
    ref_out, ref_arg = reference.spmm(rowptr, col, value, x, reduce)
    bound = reference.spmm_bound(rowptr, col, value, x, reduce)
    n, F = rowptr.numel() - 1, x.size(1)
    assert out.shape == (n, F) and out.is_cuda
    check_out(out, ref_out, x.dtype, bound)
    if reduce in ("max", "min"):
        assert arg.shape == (n, F) and arg.dtype == torch.int64
        if value is None or x.dtype != torch.float32:
            # products are exact here, so the first extreme position is well defined in float64
            assert torch.equal(arg.cpu(), ref_arg)
    else:
        assert arg.numel() == 0 and arg.dtype == torch.int64
    if check_cpu:
        cpu_out, cpu_arg = OPS.spmm(rowptr, col, value, x, reduce)
        reference.assert_close(out, cpu_out, x.dtype, bound)
        if reduce in ("max", "min"):
            assert torch.equal(arg.cpu(), cpu_arg)
    return out, arg


# --------------------------------------------------------------------------------------------
# SpMM


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("F", [1, 3, 8, 16, 33, 64, 128, 260, 512])
def test_spmm_random(reduce, dtype, index_dtype, weighted, F):
    rowptr, col = random_csr(300, 250, 12, seed=F, index_dtype=index_dtype)
    x = features(250, F, dtype)
    value = weights(col.numel(), dtype) if weighted else None
    assert_spmm_case(rowptr, col, value, x, reduce)


EDGE_CASES = {
    "zero_nodes": ([0], [], 0),
    "zero_edges": ([0, 0, 0, 0], [], 3),
    "one_node": ([0, 1], [0], 1),
    "one_node_no_edge": ([0, 0], [], 1),
    "empty_rows": ([0, 0, 2, 2, 3, 3], [1, 4, 0], 5),
    "self_loops": ([0, 1, 2, 4, 4], [0, 1, 0, 2], 4),
    "duplicates": ([0, 1, 4, 4], [2, 0, 0, 0], 3),
    "rectangular": ([0, 2, 3], [0, 6, 3], 7),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("F", [1, 4, 37])
def test_spmm_edge_cases(case, reduce, dtype, F):
    rp, cl, m = EDGE_CASES[case]
    rowptr, col = csr_from_lists(rp, cl)
    x = features(m, F, dtype)
    for value in (None, weights(col.numel(), dtype)):
        for idx in (torch.int64, torch.int32):
            out, arg = assert_spmm_case(rowptr, col.to(idx), value, x, reduce)
            if reduce in ("max", "min") and out.numel():
                empty = (rowptr[1:] == rowptr[:-1]).cuda()
                assert (arg[empty] == col.numel()).all()
                assert (out[empty] == 0).all()


def test_spmm_zero_features():
    rowptr, col = random_csr(10, 10, 3)
    for reduce in REDUCES:
        out, arg = run_spmm(rowptr, col, None, torch.zeros(10, 0), reduce)
        assert out.shape == (10, 0)
        assert arg.shape == ((10, 0) if reduce in ("max", "min") else (0,))


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_spmm_hub_million(reduce, dtype):
    """One row with 10^6 neighbours (split into pieces and merged) next to ordinary rows."""
    g = torch.Generator().manual_seed(3)
    hub = 1_000_000
    m = 5000
    deg = torch.tensor([hub, 3, 0, 7])
    rowptr = torch.zeros(5, dtype=torch.int64)
    rowptr[1:] = torch.cumsum(deg, 0)
    col = torch.randint(0, m, (int(rowptr[-1]),), generator=g)
    x = features(m, 16, dtype)
    value = weights(col.numel(), dtype)
    # 10^6 terms summed in another order than the references: the magnitude bound allows for it
    assert_spmm_case(rowptr, col, value, x, reduce)
    assert_spmm_case(rowptr, col.int(), None, x, reduce)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("split", [1, 2, 3, 16])
@pytest.mark.parametrize("F", [5, 64])
def test_spmm_split_path(reduce, split, F):
    """Tiny piece sizes force the split + merge path on ordinary rows; arg must not change."""
    rowptr, col = random_csr(200, 150, 40, seed=split)
    x = features(150, F, torch.float32)
    value = weights(col.numel(), torch.float32)
    base_out, base_arg = run_spmm(rowptr, col, value, x, reduce)
    with env(SPARSEGNN_CUDA_SPLIT=split):
        out, arg = assert_spmm_case(rowptr, col, value, x, reduce)
    reference.assert_close(out, base_out, torch.float32, reference.spmm_bound(rowptr, col, value, x, reduce))
    if reduce in ("max", "min"):
        assert torch.equal(arg, base_arg)


@pytest.mark.parametrize("knobs", [
    dict(SPARSEGNN_CUDA_VEC=0),
    dict(SPARSEGNN_CUDA_GROUP=1),
    dict(SPARSEGNN_CUDA_GROUP=2, SPARSEGNN_CUDA_BLOCK=32),
    dict(SPARSEGNN_CUDA_GROUP=32, SPARSEGNN_CUDA_BLOCK=64),
    dict(SPARSEGNN_CUDA_SPLIT=0),
], ids=lambda d: ",".join(f"{k[15:]}={v}" for k, v in d.items()))
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_spmm_launch_overrides(knobs, dtype):
    rowptr, col = random_csr(120, 90, 20, seed=7)
    x = features(90, 72, dtype)
    for reduce in REDUCES:
        with env(**knobs):
            assert_spmm_case(rowptr, col, None, x, reduce, check_cpu=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_spmm_unaligned_x_falls_back_to_scalar(dtype):
    """x whose data pointer is not 16-byte aligned (a contiguous view at an odd offset)."""
    rowptr, col = random_csr(64, 50, 9, seed=2)
    F = 32
    base = features(50 * F + 1, 1, dtype).view(-1).cuda()
    x = base[1:].view(50, F)
    assert x.is_contiguous() and x.data_ptr() % 16 != 0
    for reduce in REDUCES:
        out, _ = OPS.spmm(rowptr.cuda(), col.cuda(), None, x, reduce)
        ref, _ = reference.spmm(rowptr, col, None, x, reduce)
        check_out(out, ref, dtype)


def test_spmm_non_contiguous_x():
    rowptr, col = random_csr(40, 30, 6)
    x = features(64, 30, torch.float32).t()  # [30, 64], not contiguous
    out, _ = run_spmm(rowptr, col, None, x, "sum")
    ref, _ = reference.spmm(rowptr, col, None, x.contiguous(), "sum")
    check_out(out, ref, torch.float32)


@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_deterministic(reduce):
    rowptr, col = random_csr(2000, 1500, 60, seed=11)
    # plus one long row so that the split path runs
    rowptr = torch.cat([rowptr, rowptr[-1:] + 50_000])
    col = torch.cat([col, torch.randint(0, 1500, (50_000,))])
    x = features(1500, 96, torch.float32).cuda()
    value = weights(col.numel(), torch.float32).cuda()
    a = OPS.spmm(rowptr.cuda(), col.cuda(), value, x, reduce)
    b = OPS.spmm(rowptr.cuda(), col.cuda(), value, x, reduce)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_spmm_current_stream_and_device():
    rowptr, col = random_csr(100, 80, 10)
    x = features(80, 24, torch.float32).cuda()
    ref, _ = reference.spmm(rowptr, col, None, x, "sum")
    s = torch.cuda.Stream()
    rp, cl = rowptr.cuda(), col.cuda()
    torch.cuda.current_stream().synchronize()
    with torch.cuda.stream(s):
        out, _ = OPS.spmm(rp, cl, None, x, "sum")
    s.synchronize()
    check_out(out, ref, torch.float32)
    if torch.cuda.device_count() > 1:
        out1, _ = OPS.spmm(rowptr.to("cuda:1"), col.to("cuda:1"), None, x.to("cuda:1"), "sum")
        assert out1.device == torch.device("cuda:1")
        check_out(out1, ref, torch.float32)


def test_spmm_rejects_bad_input():
    rowptr, col = random_csr(10, 10, 3)
    x = features(10, 4, torch.float32).cuda()
    with pytest.raises(RuntimeError, match="reduce"):
        OPS.spmm(rowptr.cuda(), col.cuda(), None, x, "prod")
    with pytest.raises(RuntimeError, match="CUDA|device"):
        OPS.spmm(rowptr, col.cuda(), None, x, "sum")
    with pytest.raises(RuntimeError, match="value"):
        OPS.spmm(rowptr.cuda(), col.cuda(), torch.ones(col.numel() + 1, device="cuda"), x, "sum")


# --------------------------------------------------------------------------------------------
# segment_reduce


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("F", [1, 6, 64, 300])
def test_segment_reduce(reduce, dtype, F):
    rowptr, _ = random_csr(150, 1, 9, seed=F)
    e = int(rowptr[-1])
    src = features(e, F, dtype)
    out, arg = OPS.segment_reduce(src.cuda(), rowptr.cuda(), reduce)
    ref_out, ref_arg = reference.reduce_rows(rowptr, src, reduce)
    bound = reference.reduce_rows(rowptr, src.abs(), reduce)[0].abs()
    check_out(out, ref_out, dtype, bound)
    cpu_out, cpu_arg = OPS.segment_reduce(src, rowptr, reduce)
    reference.assert_close(out, cpu_out, dtype, bound)
    if reduce in ("max", "min"):
        assert torch.equal(arg.cpu(), ref_arg)  # sentinel = src.size(0) for empty segments
        assert torch.equal(arg.cpu(), cpu_arg)
    with env(SPARSEGNN_CUDA_SPLIT=4):
        out2, arg2 = OPS.segment_reduce(src.cuda(), rowptr.cuda(), reduce)
    reference.assert_close(out2, ref_out, dtype, bound)
    if reduce in ("max", "min"):
        assert torch.equal(arg2, arg)


def test_segment_reduce_edge_cases():
    for rp in ([0], [0, 0, 0], [0, 1]):
        rowptr = torch.tensor(rp)
        src = features(int(rowptr[-1]), 5, torch.float32)
        for reduce in REDUCES:
            out, arg = OPS.segment_reduce(src.cuda(), rowptr.cuda(), reduce)
            ref, ref_arg = reference.reduce_rows(rowptr, src, reduce)
            check_out(out, ref, torch.float32)
            if ref_arg is not None:
                assert torch.equal(arg.cpu(), ref_arg)


# --------------------------------------------------------------------------------------------
# SDDMM


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("F", [1, 5, 16, 64, 100, 256, 1000])
def test_sddmm(dtype, index_dtype, F):
    rowptr, col = random_csr(200, 170, 10, seed=F, index_dtype=index_dtype)
    a, b = features(200, F, dtype, seed=1), features(170, F, dtype, seed=2)
    out = OPS.sddmm(rowptr.cuda(), col.cuda(), a.cuda(), b.cuda())
    assert out.shape == (col.numel(),) and out.dtype == dtype
    bound = reference.sddmm_bound(rowptr, col, a, b)  # an F-term dot product
    reference.assert_close(out, reference.sddmm(rowptr, col, a, b), dtype, bound)
    reference.assert_close(out, OPS.sddmm(rowptr, col, a, b), dtype, bound)
    again = OPS.sddmm(rowptr.cuda(), col.cuda(), a.cuda(), b.cuda())
    assert torch.equal(out, again)


def test_sddmm_sparse_rows_and_edge_cases():
    # many empty rows between entries: the row search falls back to binary search
    n = 100_000
    rowptr = torch.zeros(n + 1, dtype=torch.int64)
    rows = torch.tensor([0, 5, 5, 70_000, 99_999])
    for r in rows.tolist():
        rowptr[r + 1:] += 1
    col = torch.tensor([1, 2, 3, 4, 0])
    a, b = features(n, 8, torch.float32), features(5, 8, torch.float32)
    for knobs in (dict(), dict(SPARSEGNN_CUDA_EDGES_PER_GROUP=1), dict(SPARSEGNN_CUDA_VEC=0, SPARSEGNN_CUDA_GROUP=1)):
        with env(**knobs):
            out = OPS.sddmm(rowptr.cuda(), col.cuda(), a.cuda(), b.cuda())
        reference.assert_close(out, reference.sddmm(rowptr, col, a, b), torch.float32,
                               reference.sddmm_bound(rowptr, col, a, b))
    for case, (rp, cl, m) in EDGE_CASES.items():
        rowptr, col = csr_from_lists(rp, cl)
        a, b = features(rowptr.numel() - 1, 3, torch.float32), features(m, 3, torch.float32)
        out = OPS.sddmm(rowptr.cuda(), col.cuda(), a.cuda(), b.cuda())
        reference.assert_close(out, reference.sddmm(rowptr, col, a, b), torch.float32,
                               reference.sddmm_bound(rowptr, col, a, b))


# --------------------------------------------------------------------------------------------
# spmm_arg_backward


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("F", [1, 7, 64, 200])
def test_spmm_arg_backward(reduce, dtype, index_dtype, weighted, F):
    rowptr, col = random_csr(180, 60, 15, seed=F, index_dtype=index_dtype)  # many rows share columns
    x = features(60, F, dtype)
    value = weights(col.numel(), dtype) if weighted else None
    _, arg = OPS.spmm(rowptr, col, value, x, reduce)  # CPU forward: the arg under test is the same
    grad = features(180, F, dtype, seed=5)
    v = value.cuda() if value is not None else None
    gx = OPS.spmm_arg_backward(col.cuda(), v, arg.cuda(), grad.cuda(), 60)
    assert gx.shape == (60, F) and gx.dtype == dtype
    bound = reference.arg_backward(col, None if value is None else value.abs(), arg, grad.abs(), 60)
    check_out(gx, reference.arg_backward(col, value, arg, grad, 60), dtype, bound)
    cpu = OPS.spmm_arg_backward(col, value, arg, grad, 60)
    reference.assert_close(gx, cpu, dtype, bound)
    again = OPS.spmm_arg_backward(col.cuda(), v, arg.cuda(), grad.cuda(), 60)
    assert torch.equal(gx, again)


def test_spmm_arg_backward_edge_cases():
    for case, (rp, cl, m) in EDGE_CASES.items():
        rowptr, col = csr_from_lists(rp, cl)
        x = features(m, 4, torch.float32)
        _, arg = OPS.spmm(rowptr, col, None, x, "max")
        grad = features(rowptr.numel() - 1, 4, torch.float32, seed=3)
        gx = OPS.spmm_arg_backward(col.cuda(), None, arg.cuda(), grad.cuda(), m)
        check_out(gx, reference.arg_backward(col, None, arg, grad, m), torch.float32,
                  reference.arg_backward(col, None, arg, grad.abs(), m))
    # num_cols larger than any column, and F = 0
    gx = OPS.spmm_arg_backward(torch.tensor([0], device="cuda"), None, torch.zeros(1, 0, dtype=torch.long, device="cuda"),
                               torch.zeros(1, 0, device="cuda"), 3)
    assert gx.shape == (3, 0)


# --------------------------------------------------------------------------------------------
# INT8 SpMM


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("F", [1, 3, 4, 12, 16, 48, 64, 100, 512])
def test_spmm_int8(index_dtype, weighted, F):
    g = torch.Generator().manual_seed(F)
    rowptr, col = random_csr(150, 120, 14, seed=F, index_dtype=index_dtype)
    xq = torch.randint(-128, 128, (120, F), generator=g, dtype=torch.int8)
    value = torch.randint(-128, 128, (col.numel(),), generator=g, dtype=torch.int8) if weighted else None
    rs, cs = torch.rand(150, generator=g) + 0.1, torch.rand(F, generator=g) + 0.1
    v = value.cuda() if value is not None else None
    out = OPS.spmm_int8(rowptr.cuda(), col.cuda(), v, xq.cuda(), rs.cuda(), cs.cuda())
    assert out.dtype == torch.float32 and out.shape == (150, F)
    # exact integer sums, then two float32 scalings
    torch.testing.assert_close(out.cpu(), spmm_int8_reference(rowptr, col, value, xq, rs, cs), rtol=1e-6, atol=1e-4)
    cpu = OPS.spmm_int8(rowptr, col, value, xq, rs, cs)
    torch.testing.assert_close(out.cpu(), cpu, rtol=1e-6, atol=1e-6)
    for knobs in (dict(SPARSEGNN_CUDA_VEC=0), dict(SPARSEGNN_CUDA_GROUP=1)):
        with env(**knobs):
            o2 = OPS.spmm_int8(rowptr.cuda(), col.cuda(), v, xq.cuda(), rs.cuda(), cs.cuda())
        assert torch.equal(o2, out)  # int32 accumulation: exact whatever the path


def test_spmm_int8_edge_cases_and_unaligned():
    for case, (rp, cl, m) in EDGE_CASES.items():
        rowptr, col = csr_from_lists(rp, cl)
        n = rowptr.numel() - 1
        xq = torch.randint(-5, 5, (m, 16), dtype=torch.int8)
        rs, cs = torch.ones(n), torch.ones(16)
        out = OPS.spmm_int8(rowptr.cuda(), col.cuda(), None, xq.cuda(), rs.cuda(), cs.cuda())
        assert torch.equal(out.cpu(), spmm_int8_reference(rowptr, col, None, xq, rs, cs))  # unit scales: exact
    rowptr, col = random_csr(50, 40, 8)
    base = torch.randint(-128, 128, (40 * 32 + 3,), dtype=torch.int8).cuda()
    xq = base[3:].view(40, 32)  # misaligned for 16- and 4-byte loads
    rs, cs = torch.ones(50, device="cuda"), torch.ones(32, device="cuda")
    out = OPS.spmm_int8(rowptr.cuda(), col.cuda(), None, xq, rs, cs)
    assert torch.equal(out.cpu(), spmm_int8_reference(rowptr, col, None, xq.cpu(), rs.cpu(), cs.cpu()))


# --------------------------------------------------------------------------------------------
# Public API (sparsegnn.ops, backend="cuda")


@pytest.mark.parametrize("reduce", REDUCES)
def test_public_api_cuda_backend(reduce):
    sg = pytest.importorskip("sparsegnn")
    ops = pytest.importorskip("sparsegnn.ops")
    if not hasattr(sg, "Graph") or not hasattr(ops, "spmm"):
        pytest.skip("sparsegnn.Graph / sparsegnn.ops.spmm not present")
    if "cuda" not in ops.available_backends("cuda", "spmm"):
        pytest.skip("the cuda backend is not registered for spmm on this machine")
    g = torch.Generator().manual_seed(0)
    edge_index = torch.randint(0, 500, (2, 4000), generator=g)
    graph = sg.Graph.from_edge_index(edge_index, 500)
    x = features(500, 64, torch.float32)
    out = ops.spmm(graph.to("cuda"), x.cuda(), reduce, backend="cuda")
    ref, _ = reference.spmm(graph.rowptr, graph.col, graph.value, x, reduce)
    check_out(out, ref, torch.float32)
    # gradient through the public autograd (max/min route to the arg via spmm_arg_backward)
    xg = x.cuda().requires_grad_()
    ops.spmm(graph.to("cuda"), xg, reduce, backend="cuda").sum().backward()
    xc = x.clone().requires_grad_()
    ops.spmm(graph, xc, reduce, backend="torch").sum().backward()
    reference.assert_close(xg.grad, xc.grad, torch.float32)
