"""Every backend of every op against the reference, on edge cases and random graphs;
gradients in float64; argument errors; torch.compile and torch.library.opcheck."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CPU_BACKENDS, EDGE_CASES, weighted
from reference import assert_close
from sparsegnn import Graph, ops
from sparsegnn.ops.library import sddmm_op, segment_reduce_op, spmm_int8_op, spmm_op

REDUCES = ("sum", "mean", "max", "min")
ALL_BACKENDS = ["torch", *CPU_BACKENDS]


def loop_spmm(graph: Graph, x: torch.Tensor, reduce: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A row-by-row loop, independent of every backend (float64): the check of the suite's
    reference (the ``torch`` backend, tests/reference.py)."""
    x = x.double()
    value = graph.value.double() if graph.value is not None else torch.ones(graph.nnz, dtype=torch.float64)
    out = torch.zeros(graph.num_nodes, x.shape[1], dtype=torch.float64)
    arg = torch.full((graph.num_nodes, x.shape[1]), graph.nnz, dtype=torch.int64)
    for i in range(graph.num_nodes):
        start, stop = int(graph.rowptr[i]), int(graph.rowptr[i + 1])
        if start == stop:
            continue
        msg = x[graph.col[start:stop].long()] * value[start:stop, None]
        if reduce == "sum":
            out[i] = msg.sum(0)
        elif reduce == "mean":
            out[i] = msg.mean(0)
        else:
            best, which = msg.max(0) if reduce == "max" else msg.min(0)
            out[i], arg[i] = best, which + start
    return out, arg


def features(rows: int, feat: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, feat, generator=gen, dtype=torch.float64).to(dtype)


def abs_bound(graph: Graph, x: torch.Tensor, reduce: str) -> torch.Tensor:
    """``|A| @ |x|`` (mean: divided by the row count): a bound on a sum's rounding error."""
    value = graph.value.abs() if graph.value is not None else None
    return ops.spmm(graph.with_value(value), x.abs(), "mean" if reduce == "mean" else "sum", backend="torch")


# ----------------------------------------------------------------------------------- forward
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("is_weighted", [False, True])
def test_torch_reference_equals_row_loop(edge_case, reduce, is_weighted):
    name, graph = edge_case
    graph = weighted(graph, dtype=torch.float64) if is_weighted else graph
    x = features(graph.num_cols, 3, torch.float64)
    if name == "hub":
        x = x[:, :1].contiguous()
    expected, expected_arg = loop_spmm(graph, x, reduce)
    if reduce in ("max", "min"):
        out, arg = ops.spmm(graph, x, reduce, backend="torch", return_arg=True)
        assert torch.equal(arg, expected_arg)
    else:
        out = ops.spmm(graph, x, reduce, backend="torch")
    assert_close(out, expected, torch.float64)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("is_weighted", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spmm_backends_equal_reference(edge_case, backend, reduce, is_weighted, dtype):
    _, graph = edge_case
    graph = weighted(graph, dtype=dtype) if is_weighted else graph
    for feat in (1, 17):
        x = features(graph.num_cols, feat, dtype)
        expected = ops.spmm(graph, x, reduce, backend="torch", return_arg=reduce in ("max", "min"))
        actual = ops.spmm(graph, x, reduce, backend=backend, return_arg=reduce in ("max", "min"))
        if reduce in ("max", "min"):
            assert_close(actual[0], expected[0], dtype)
            assert torch.equal(actual[1], expected[1])
        else:
            assert_close(actual, expected, dtype, abs_bound(graph, x, reduce))
            assert actual.dtype == dtype


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_half_precision_accumulates_in_float32(backend, dtype, reduce):
    graph = weighted(EDGE_CASES["random"])
    x = features(graph.num_cols, 8, torch.float32)
    expected = ops.spmm(graph, x, reduce, backend="torch")
    actual = ops.spmm(graph.with_value(graph.value.to(dtype)), x.to(dtype), reduce, backend=backend)
    assert actual.dtype == dtype
    assert_close(actual, expected, dtype, abs_bound(graph, x, reduce))  # inputs rounded to dtype too


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_spmm_non_contiguous_and_multi_dim_features(backend):
    graph = EDGE_CASES["random"]
    base = features(6, graph.num_cols)
    x = base.T  # non-contiguous [num_cols, 6]
    assert not x.is_contiguous()
    torch.testing.assert_close(ops.spmm(graph, x, backend=backend), ops.spmm(graph, x.contiguous(), backend="torch"))
    x3 = features(graph.num_cols, 6).view(graph.num_cols, 2, 3)
    out = ops.spmm(graph, x3, "max", backend=backend)
    assert out.shape == (graph.num_nodes, 2, 3)
    torch.testing.assert_close(out.view(graph.num_nodes, 6), ops.spmm(graph, x3.view(graph.num_cols, 6), "max"))
    x1 = features(graph.num_cols, 1).view(-1)
    assert ops.spmm(graph, x1, backend=backend).shape == (graph.num_nodes,)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sddmm_backends_equal_reference(edge_case, backend, dtype):
    _, graph = edge_case
    if not ops.get_backend(backend).sddmm:
        pytest.skip(f"{backend} has no sddmm")
    for feat in (1, 17):
        a, b = features(graph.num_nodes, feat, dtype, 1), features(graph.num_cols, feat, dtype, 2)
        expected = ops.sddmm(graph, a, b, backend="torch")
        bound = (a[graph.row_index()].abs() * b[graph.col.long()].abs()).sum(1)
        assert_close(ops.sddmm(graph, a, b, backend=backend), expected, dtype, bound)
    row = graph.row_index()
    assert_close(expected, (a[row].double() * b[graph.col.long()].double()).sum(1), dtype)


SEGMENT_BACKENDS = ["torch", *[b for b in CPU_BACKENDS if ops.get_backend(b).segment_reduce]]


@pytest.mark.parametrize("backend", SEGMENT_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_equals_spmm_over_identity(edge_case, backend, reduce):
    _, graph = edge_case
    src = features(graph.nnz, 5, torch.float64)
    identity = Graph(graph.rowptr, torch.arange(graph.nnz), None, graph.nnz)
    expected = loop_spmm(identity, src, reduce)
    if reduce in ("max", "min"):
        out, arg = ops.segment_reduce(src, graph.rowptr, reduce, backend=backend, return_arg=True)
        assert torch.equal(arg, expected[1])
    else:
        out = ops.segment_reduce(src, graph.rowptr, reduce, backend=backend)
    assert_close(out, expected[0], torch.float64)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("reduce", ["max", "min"])
def test_forward_only_max_min_skip_the_arg(backend, reduce):
    """With nothing to differentiate, max/min run with need_arg=False: an empty arg, the same out;
    a call that needs gradients still gets (and uses) its arg."""
    graph = weighted(EDGE_CASES["random"], dtype=torch.float64)
    x = features(graph.num_cols, 5, torch.float64)
    out, arg = spmm_op(graph.rowptr, graph.col, graph.value, x, reduce, backend, None, None, None, False)
    assert arg.numel() == 0 and arg.dtype == torch.int64
    assert_close(out, loop_spmm(graph, x, reduce)[0], torch.float64)
    xr = x.clone().requires_grad_()
    with torch.no_grad():
        forward_only = ops.spmm(graph, xr, reduce, backend=backend)
    trained = ops.spmm(graph, xr, reduce, backend=backend)
    assert torch.equal(forward_only, trained.detach()) and torch.equal(forward_only, out)
    trained.sum().backward()
    assert xr.grad is not None and bool(xr.grad.abs().sum() > 0)


# ---------------------------------------------------------------------------- random graphs
@st.composite
def random_graphs(draw):
    num_nodes = draw(st.integers(1, 30))
    num_cols = draw(st.integers(1, 30))
    nnz = draw(st.integers(0, 120))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    row = torch.randint(0, num_nodes, (nnz,), generator=gen)
    col = torch.randint(0, num_cols, (nnz,), generator=gen)
    graph = Graph.from_coo(row, col, None, num_nodes, num_cols)
    if draw(st.booleans()):
        graph = graph.with_value(torch.rand(nnz, generator=gen, dtype=torch.float64) * 2 - 1)
    if draw(st.booleans()):
        graph = graph.to_index_dtype(torch.int32)
    return graph, draw(st.integers(1, 9)), seed


@settings(max_examples=40, deadline=None)
@given(case=random_graphs(), reduce=st.sampled_from(REDUCES))
def test_random_graphs_all_backends(case, reduce):
    graph, feat, seed = case
    x = features(graph.num_cols, feat, torch.float64, seed)
    expected, expected_arg = loop_spmm(graph, x, reduce)
    a = features(graph.num_nodes, feat, torch.float64, seed + 1)
    expected_sddmm = (a[graph.row_index()] * x[graph.col.long()]).sum(1)
    for backend in ALL_BACKENDS:
        out, arg = (
            ops.spmm(graph, x, reduce, backend=backend, return_arg=True)
            if reduce in ("max", "min")
            else (ops.spmm(graph, x, reduce, backend=backend), None)
        )
        assert_close(out, expected, torch.float64, abs_bound(graph, x, reduce))
        if arg is not None:
            assert torch.equal(arg, expected_arg), backend
        sddmm_bound = (a[graph.row_index()].abs() * x[graph.col.long()].abs()).sum(1)
        assert_close(ops.sddmm(graph, a, x, backend=backend), expected_sddmm, torch.float64, sddmm_bound)


# --------------------------------------------------------------------------------- gradients
def _grad_graph() -> Graph:
    gen = torch.Generator().manual_seed(3)
    edges = torch.randint(0, 12, (2, 40), generator=gen)
    edges = torch.cat([edges, torch.tensor([[0, 1], [13, 13]])], 1)  # node 14 stays empty
    return Graph.from_edge_index(edges, 15)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_gradcheck(backend, reduce):
    graph = _grad_graph()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(graph.num_cols, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    value = (torch.rand(graph.nnz, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()

    def fn(x, value):
        return ops.spmm(graph.with_value(value), x, reduce, backend=backend)

    assert torch.autograd.gradcheck(fn, (x, value))
    out = ops.spmm(graph, x, reduce, backend=backend)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.shape == x.shape


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_sddmm_gradcheck(backend):
    graph = _grad_graph()
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(graph.num_nodes, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(graph.num_cols, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ops.sddmm(graph, a, b, backend=backend), (a, b))


@pytest.mark.parametrize("backend", SEGMENT_BACKENDS)
@pytest.mark.parametrize("reduce", REDUCES)
def test_segment_reduce_gradcheck(backend, reduce):
    rowptr = torch.tensor([0, 3, 3, 7, 8])
    src = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: ops.segment_reduce(s, rowptr, reduce, backend=backend), (src,))


def test_empty_rows_get_no_gradient():
    graph = _grad_graph()
    x = torch.randn(graph.num_cols, 2, dtype=torch.float64, requires_grad=True)
    for reduce in REDUCES:
        out = ops.spmm(graph, x, reduce)
        assert torch.all(out[14] == 0)
        (grad,) = torch.autograd.grad(out[14].sum(), x)
        assert torch.all(grad == 0)


# ------------------------------------------------------------------------------ bad arguments
def test_argument_errors_are_clear():
    graph = EDGE_CASES["random"]
    x = features(graph.num_cols, 4)
    with pytest.raises(ValueError, match="x: expected 40 rows"):
        ops.spmm(graph, x[:5])
    with pytest.raises(TypeError, match="x: expected float16"):
        ops.spmm(graph, x.long())
    with pytest.raises(TypeError, match="graph: expected a sparsegnn.Graph"):
        ops.spmm(graph.to_dense(), x)
    with pytest.raises(ValueError, match="reduce: expected one of"):
        ops.spmm(graph, x, reduce="prod")
    with pytest.raises(ValueError, match="backend: expected 'auto' or one of"):
        ops.spmm(graph, x, backend="magic")
    with pytest.raises(ValueError, match="backends that can"):
        ops.spmm(graph, x, backend="cuda")
    with pytest.raises(ValueError, match="return_arg"):
        ops.spmm(graph, x, "sum", return_arg=True)
    with pytest.raises(ValueError, match="b: expected 40 rows"):
        ops.sddmm(graph, x, x[:3])
    with pytest.raises(TypeError, match="b: expected the dtype"):
        ops.sddmm(graph, x, x.double())
    with pytest.raises(ValueError, match="rowptr: must start at 0 and end"):
        ops.segment_reduce(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="rowptr: must be non-decreasing"):
        ops.segment_reduce(x[:4], torch.tensor([0, 3, 1, 4]))
    with pytest.raises(ValueError, match="cannot run sddmm"):
        ops.sddmm(graph, x, x, backend="cuda")


def test_backend_selection_controls():
    graph, x = EDGE_CASES["random"], features(40, 4)
    assert "torch" in ops.available_backends("cpu")
    with ops.use_backend("torch"):
        assert ops.current_backend() == "torch"
        ops.spmm(graph, x)
    assert ops.current_backend() == "auto"
    ops.set_backend("numba")
    try:
        assert ops.current_backend() == "numba"
    finally:
        ops.set_backend(None)
    with pytest.raises(ValueError, match="unknown backend"):
        ops.set_backend("nope")


def test_auto_policy(monkeypatch):
    from sparsegnn.ops import policy

    monkeypatch.setenv("SPARSEGNN_POLICY", "off")
    cpu = torch.device("cpu")
    small_dense = ("spmm", cpu, torch.float32, 100, 100, 5000)  # density 0.5
    sparse = policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum")
    assert sparse == ("cpu" if "cpu" in CPU_BACKENDS else "numba")
    # The C++ kernels beat dense-masked at every measured density; dense goes only before fallbacks.
    assert policy.choose(*small_dense, "sum") == sparse
    monkeypatch.setattr(policy, "_PREFERENCE", {"cpu": ("no-such-native", "numba", "torch")})
    assert policy.choose(*small_dense, "sum") == "dense"
    assert policy.choose(*small_dense, "max") != "dense"
    assert policy.choose("spmm", cpu, torch.float32, 1000, 1000, 1000, "sum") != "dense"


# --------------------------------------------------------------------------- compile / opcheck
def test_two_layer_gcn_compiles_without_graph_breaks():
    torch.manual_seed(0)
    graph = Graph.from_edge_index(torch.randint(0, 60, (2, 400)), 60).gcn_norm()
    lin1, lin2 = torch.nn.Linear(8, 16), torch.nn.Linear(16, 3)

    def gcn(x):
        return ops.spmm(graph, lin2(ops.spmm(graph, lin1(x)).relu()))

    x = torch.randn(60, 8)
    expected = gcn(x)
    compiled = torch.compile(gcn, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert lin1.weight.grad is not None


def test_opcheck_every_custom_op():
    graph = weighted(EDGE_CASES["random"], dtype=torch.float64)
    t = graph.transpose()
    x = features(graph.num_cols, 4, torch.float64).requires_grad_()
    value = graph.value.clone().requires_grad_()
    for reduce in REDUCES:
        torch.library.opcheck(
            spmm_op, (graph.rowptr, graph.col, value, x, reduce, "torch", t.rowptr, t.col, graph.transpose_perm())
        )
    native = "cpu" if "cpu" in CPU_BACKENDS else "torch"
    torch.library.opcheck(spmm_op, (graph.rowptr, graph.col, None, x.detach(), "max", native, None, None, None, False))
    a = features(graph.num_nodes, 4, torch.float64).requires_grad_()
    torch.library.opcheck(sddmm_op, (graph.rowptr, graph.col, a, x, "torch", t.rowptr, t.col, graph.transpose_perm()))
    torch.library.opcheck(segment_reduce_op, (x, torch.tensor([0, 10, 10, 40]), "max", "torch"))
    xq = torch.randint(-127, 128, (graph.num_cols, 4), dtype=torch.int8)
    ones = torch.ones(graph.num_nodes), torch.ones(4)
    torch.library.opcheck(spmm_int8_op, (graph.rowptr, graph.col, None, xq, *ones, "torch"))


# --------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_each_entry_with_probability_1_minus_p_independently(p):
    """Kept share within 5 sigma of 1 - p; kept entries scaled by 1 / (1 - p), others 0; the
    mask has no structure: neighbouring entries (along a row, and across rows) are kept together
    as often as independence says (5 sigma), and two seeds give different masks."""
    x = torch.rand(300, 257, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.5
    out = ops.dropout(x, p, seed=1234)
    kept = out != 0
    n, q = x.numel(), 1.0 - p
    assert abs(float(kept.double().mean()) - q) < 5 * (q * p / n) ** 0.5
    torch.testing.assert_close(out[kept], x[kept] / q)
    for a, b in ((kept[:, 1:], kept[:, :-1]), (kept[1:], kept[:-1])):
        both = float((a & b).double().mean())
        assert abs(both - q * q) < 5 * (q * q * (1 - q * q) / a.numel()) ** 0.5
    assert not torch.equal(kept, ops.dropout(x, p, seed=1235) != 0)
    assert torch.equal(out, ops.dropout(x, p, seed=1234))


def test_dropout_backward_is_the_same_mask_and_gradcheck():
    """The gradient is the forward's mask over 1 - p; float64 gradcheck with a fixed seed; any
    dtype, any shape, non-contiguous input; 1 and 2 threads give the same bits."""
    x = torch.rand(64, 33, dtype=torch.float64, requires_grad=True)
    out = ops.dropout(x, 0.4, seed=7)
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(x.grad, (out != 0).double() / 0.6)
    assert torch.autograd.gradcheck(lambda t: ops.dropout(t, 0.4, seed=7), (torch.rand(9, 5, dtype=torch.float64,
                                                                                      requires_grad=True),))
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        y = torch.rand(5, 7, 3, dtype=dtype) + 1
        assert ops.dropout(y, 0.5, seed=3).dtype == dtype and ops.dropout(y, 0.5, seed=3).shape == y.shape
    t = torch.rand(40, 30)
    torch.testing.assert_close(ops.dropout(t.T, 0.5, seed=5), ops.dropout(t.T.contiguous(), 0.5, seed=5))
    big = torch.rand(300_000)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.dropout(big, 0.5, seed=9)
        torch.set_num_threads(2)
        assert torch.equal(one, ops.dropout(big, 0.5, seed=9))
    finally:
        torch.set_num_threads(threads)


def test_dropout_edge_cases_and_bad_arguments():
    """Eval mode and p = 0 return the input, p = 1 zeros; the global generator fixes the seed;
    p outside [0, 1] and integer input are ValueErrors naming the argument."""
    x = torch.rand(10, 4)
    assert ops.dropout(x, 0.5, training=False) is x and ops.dropout(x, 0.0) is x
    assert float(ops.dropout(x, 1.0).abs().sum()) == 0.0
    assert ops.dropout(torch.empty(0, 3), 0.5).shape == (0, 3)
    torch.manual_seed(0)
    first = ops.dropout(x, 0.5)
    torch.manual_seed(0)
    assert torch.equal(first, ops.dropout(x, 0.5))
    for p in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="p:"):
            ops.dropout(x, p)
    with pytest.raises(ValueError, match="x:"):
        ops.dropout(torch.ones(3, dtype=torch.int64), 0.5)
