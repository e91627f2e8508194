"""Triton kernels (sparsegnn.kernels) on the CPU through the interpreter, and compiled AOT.

Interpreter mode, robustly: triton 3.9 decides interpreted-or-compiled when a ``@triton.jit``
decorator runs, from ``triton.knobs.runtime.interpret`` (``TRITON_INTERPRET`` read at that
moment). triton's own library functions are decorated when triton is first imported, which here
has usually already happened in compiled mode (torch, conftest, other test files); the kernels
never call those (builtins and their own ``tl.reduce`` combiners only, see
``sparsegnn.kernels.utils.combiners``), so that does not matter. Our kernel modules are what must
be built under the right setting: the module-scoped fixture below sets ``TRITON_INTERPRET=1``
only while this file's tests run (nothing leaks to other test files, e.g. tests/gpu/ running the
compiled kernels in the same process) and calls ``sparsegnn.kernels.ensure_mode()``, which
re-imports any kernel module built under the other setting; on exit it restores the variable and
re-imports again. The AOT test loads separate compiled copies of the kernel modules
(``aot.load_jit_module``) and so runs under either setting (checked with TRITON_INTERPRET=1 set
before triton's import as well).

Every kernel is compared with a plain-torch reference written here (index_select + index_add /
scatter_reduce; arg = first edge position reaching the extreme).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

import reference
from sparsegnn.ops.backends.reference import spmm_int8 as spmm_int8_reference

triton = pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[1]


def _import_kernels():
    """``sparsegnn.kernels``; falls back to mapping kernels/ by hand when the package is not
    installed (or the editable install lacks the ``package_dir`` mapping)."""
    try:
        return importlib.import_module("sparsegnn.kernels")
    except ImportError:
        pass
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(
        "sparsegnn.kernels", ROOT / "kernels" / "__init__.py",
        submodule_search_locations=[str(ROOT / "kernels")],
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sparsegnn.kernels"] = mod
    spec.loader.exec_module(mod)
    return mod


K = _import_kernels()


def _backend_module():
    try:
        return importlib.import_module("sparsegnn.ops.backends.triton")
    except Exception:  # noqa: BLE001 - the ops layer may be mid-construction
        return None


@pytest.fixture(scope="module", autouse=True)
def interpreter():
    old = os.environ.get("TRITON_INTERPRET")
    knobs = vars(triton.knobs.runtime)
    had = "interpret" in knobs
    saved = knobs.pop("interpret", None)
    os.environ["TRITON_INTERPRET"] = "1"
    K.ensure_mode()
    if not K.spmm.INTERPRETED:
        pytest.skip("could not switch the Triton kernels to the interpreter")
    bm = _backend_module()
    if bm is not None:
        bm.register()
    yield
    if old is None:
        os.environ.pop("TRITON_INTERPRET", None)
    else:
        os.environ["TRITON_INTERPRET"] = old
    if had:
        knobs["interpret"] = saved
    K.ensure_mode()
    if bm is not None:
        bm.register()


# ------------------------------------------------------------------ graphs and references -----


def csr(num_nodes, edges, num_cols=None, col_dtype=torch.int64):
    """CSR (rowptr, col) from (row, col) pairs; entries keep their order within a row."""
    num_cols = num_nodes if num_cols is None else num_cols
    if edges:
        r = torch.tensor([e[0] for e in edges], dtype=torch.int64)
        c = torch.tensor([e[1] for e in edges], dtype=torch.int64)
        order = torch.argsort(r, stable=True)
        r, c = r[order], c[order]
    else:
        r = c = torch.zeros(0, dtype=torch.int64)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.int64)
    if num_nodes:
        rowptr[1:] = torch.cumsum(torch.bincount(r, minlength=num_nodes), 0)
    return rowptr, c.to(col_dtype), num_cols


def _hub(n=40, hub_deg=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    edges = [(0, int(c)) for c in torch.randint(0, n, (hub_deg,), generator=g)]
    edges += [(i, (i * 7 + 3) % n) for i in range(1, n, 2)]
    return n, edges


# name -> (num_nodes, edges, num_cols, col dtype, F)
GRAPHS = {
    "zero_nodes": (0, [], 3, torch.int64, 4),
    "zero_edges": (4, [], 4, torch.int32, 3),
    "one_node_self_loop": (1, [(0, 0)], 1, torch.int64, 1),
    "empty_rows_loops_dups": (
        6, [(0, 1), (0, 1), (0, 0), (2, 2), (2, 5), (2, 1), (2, 5), (5, 0), (5, 5), (5, 3)], 6,
        torch.int32, 17),
    "rectangular": (5, [(0, 7), (1, 2), (1, 8), (3, 0), (3, 3), (4, 8)], 9, torch.int64, 33),
    "hub": (*_hub(), 40, torch.int32, 5),
}


def graph(name, dtype=torch.float32, weighted=True, seed=0, integer=False):
    n, edges, m, cdt, F = GRAPHS[name]
    rowptr, col, m = csr(n, edges, m, cdt)
    g = torch.Generator().manual_seed(seed)
    if integer:  # small integers: many exact ties for max/min
        x = torch.randint(-3, 4, (m, F), generator=g).to(dtype)
        value = torch.randint(1, 3, (col.numel(),), generator=g).to(dtype) if weighted else None
    else:
        x = torch.randn(m, F, generator=g).to(dtype)
        value = torch.randn(col.numel(), generator=g).to(dtype) if weighted else None
    return rowptr, col, value, x


def ref_reduce(msg, rowptr, reduce):
    """The shared reference (tests/reference.py) in the kernels' accumulation dtype, rounded to
    the messages' dtype, so products, roundings and ties are the kernels' own."""
    out, arg = reference.reduce_rows(rowptr, msg, reduce, reference.acc_dtype(msg.dtype))
    return out.to(msg.dtype), arg


def ref_spmm(rowptr, col, value, x, reduce):
    """As :func:`ref_reduce`, for an SpMM."""
    out, arg = reference.spmm(rowptr, col, value, x, reduce, reference.acc_dtype(x.dtype))
    return out.to(x.dtype), arg


def check(out, arg, ref_out, ref_arg, dtype):
    assert out.dtype == ref_out.dtype and out.shape == ref_out.shape
    reference.assert_close(out, ref_out, dtype)
    assert arg.dtype == torch.int64
    if ref_arg is None:
        assert arg.numel() == 0
    else:
        assert torch.equal(arg, ref_arg)


REDUCES = ("sum", "mean", "max", "min")


# ------------------------------------------------------------------ SpMM ----------------------


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_spmm_edge_cases(name, weighted, reduce):
    rowptr, col, value, x = graph(name, weighted=weighted, integer=reduce in ("max", "min"))
    out, arg = K.spmm.spmm(rowptr, col, value, x, reduce)
    check(out, arg, *ref_spmm(rowptr, col, value, x, reduce), torch.float32)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("weighted", [True, False])
def test_spmm_long_row_split(weighted, reduce):
    """The two-pass split (forced on small rows) equals the reference and the one-pass result,
    including the first-edge arg across segment boundaries."""
    rowptr, col, value, x = graph("hub", weighted=weighted, integer=reduce in ("max", "min"))
    out, arg = K.spmm.spmm(rowptr, col, value, x, reduce, split_threshold=20, segment_size=7)
    assert K.last_config("spmm")["split"] is True
    check(out, arg, *ref_spmm(rowptr, col, value, x, reduce), torch.float32)
    out1, arg1 = K.spmm.spmm(rowptr, col, value, x, reduce)
    assert K.last_config("spmm")["split"] is False
    reference.assert_close(out, out1, torch.float32)
    assert torch.equal(arg, arg1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("reduce", REDUCES)
def test_spmm_dtypes(dtype, reduce):
    rowptr, col, value, x = graph("empty_rows_loops_dups", dtype=dtype,
                                  integer=reduce in ("max", "min"))
    out, arg = K.spmm.spmm(rowptr, col, value, x, reduce)
    check(out, arg, *ref_spmm(rowptr, col, value, x, reduce), dtype)


def test_spmm_split_fp16_mean():
    rowptr, col, value, x = graph("hub", dtype=torch.float16)
    out, arg = K.spmm.spmm(rowptr, col, value, x, "mean", split_threshold=32, segment_size=32)
    check(out, arg, *ref_spmm(rowptr, col, value, x, "mean"), torch.float16)


def test_last_config_recorded():
    rowptr, col, value, x = graph("rectangular")
    K.spmm.spmm(rowptr, col, value, x, "sum")
    cfg = K.last_config("spmm")
    assert cfg["interpreted"] is True
    assert {"BLOCK_R", "BLOCK_E", "BLOCK_F", "num_warps", "num_stages"} <= set(cfg)
    # under the interpreter autotune takes the first config, without benchmarking
    assert cfg["BLOCK_F"] == K.spmm.CONFIGS[0].kwargs["BLOCK_F"]


# ------------------------------------------------------------------ segment reduce ------------


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("name", ["zero_nodes", "zero_edges", "empty_rows_loops_dups", "hub"])
def test_segment_reduce(name, reduce):
    rowptr, col, _, x = graph(name, integer=reduce in ("max", "min"))
    src = x[col.long()].contiguous() + 0.5  # [E, F]
    out, arg = K.segment_reduce.segment_reduce(src, rowptr, reduce)
    check(out, arg, *ref_reduce(src, rowptr, reduce), torch.float32)
    if name == "hub":
        out2, arg2 = K.segment_reduce.segment_reduce(src, rowptr, reduce, split_threshold=16,
                                                     segment_size=5)
        check(out2, arg2, *ref_reduce(src, rowptr, reduce), torch.float32)


# ------------------------------------------------------------------ SDDMM ---------------------


def ref_sddmm(rowptr, col, a, b):
    """As :func:`ref_spmm`, for an SDDMM."""
    return reference.sddmm(rowptr, col, a, b, reference.acc_dtype(a.dtype)).to(a.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_sddmm(name, dtype):
    rowptr, col, _, b = graph(name, dtype=dtype)
    g = torch.Generator().manual_seed(1)
    a = torch.randn(rowptr.numel() - 1, b.shape[1], generator=g).to(dtype)
    out = K.sddmm.sddmm(rowptr, col, a, b)
    ref = ref_sddmm(rowptr, col, a, b)
    assert out.dtype == dtype and out.shape == (col.numel(),)
    reference.assert_close(out, ref, dtype)


# ------------------------------------------------------------------ max/min backward ----------


def ref_arg_backward(col, value, arg, grad_out, num_cols):
    """As :func:`ref_spmm`, for the max/min backward."""
    acc = reference.acc_dtype(grad_out.dtype)
    return reference.arg_backward(col, value, arg, grad_out, num_cols, acc).to(grad_out.dtype)


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_spmm_arg_backward(name, weighted, reduce):
    rowptr, col, value, x = graph(name, weighted=weighted, integer=True)
    _, arg = ref_spmm(rowptr, col, value, x, reduce)
    g = torch.Generator().manual_seed(2)
    grad_out = torch.randn(rowptr.numel() - 1, x.shape[1], generator=g)
    gx = K.spmm_arg_backward.spmm_arg_backward(col, value, arg, grad_out, x.shape[0])
    ref = ref_arg_backward(col, value, arg, grad_out, x.shape[0])
    reference.assert_close(gx, ref, torch.float32)
    gx2 = K.spmm_arg_backward.spmm_arg_backward(col, value, arg, grad_out, x.shape[0])
    assert torch.equal(gx, gx2)  # deterministic


# ------------------------------------------------------------------ INT8 ----------------------


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_spmm_int8(name, weighted):
    rowptr, col, _, x = graph(name)
    n, m, F = rowptr.numel() - 1, x.shape[0], x.shape[1]
    g = torch.Generator().manual_seed(3)
    xq = torch.randint(-128, 128, (m, F), generator=g, dtype=torch.int8)
    vq = (torch.randint(-128, 128, (col.numel(),), generator=g, dtype=torch.int8)
          if weighted else None)
    rs = torch.rand(n, generator=g) + 0.5
    cs = torch.rand(F, generator=g) + 0.5
    out = K.spmm_int8.spmm_int8(rowptr, col, vq, xq, rs, cs)
    ref = spmm_int8_reference(rowptr, col, vq, xq, rs, cs)  # exact integer sums, then two scalings
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


# ------------------------------------------------------------------ block-sparse --------------


def _blocksparse():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("sparsegnn.blocksparse")


def _dense_adj(rowptr, col, value, n, m, dtype):
    a = torch.zeros(n, m, dtype=torch.float64)
    row = torch.repeat_interleave(torch.arange(n), rowptr.diff(), output_size=col.numel())
    v = value.double() if value is not None else torch.ones(col.numel(), dtype=torch.float64)
    a.index_put_((row, col.long()), v, accumulate=True)
    return a.to(dtype)


@pytest.mark.parametrize("block", [16, 32, 64])
@pytest.mark.parametrize("name", ["zero_nodes", "zero_edges", "empty_rows_loops_dups", "hub",
                                  "rectangular"])
def test_block_sparse_structure(name, block):
    BS = _blocksparse().BlockSparse
    rowptr, col, value, x = graph(name)
    n, m = rowptr.numel() - 1, x.shape[0]
    bs = BS.from_csr(rowptr, col, value, n, m, block=block)
    torch.testing.assert_close(bs.to_dense(), _dense_adj(rowptr, col, value, n, m, torch.float32))
    distinct = torch.unique(torch.repeat_interleave(torch.arange(n), rowptr.diff()) * m
                            + col.long()).numel() if col.numel() else 0
    assert int(bs.tile_nnz.sum()) == distinct
    st = bs.stats()
    assert 0.0 <= st["fill_ratio"] <= 1.0 and st["num_tiles"] == bs.num_tiles
    with pytest.raises(ValueError):
        BS.from_csr(rowptr, col, value, n, m, block=8)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("block", [16, 32, 64])
@pytest.mark.parametrize("name", ["zero_edges", "empty_rows_loops_dups", "hub", "rectangular"])
def test_bsr_spmm(name, block, dtype):
    BS = _blocksparse().BlockSparse
    weighted = dtype != torch.bfloat16
    rowptr, col, value, x = graph(name, dtype=dtype, weighted=weighted)
    n, m = rowptr.numel() - 1, x.shape[0]
    bs = BS.from_csr(rowptr, col, value, n, m, block=block, dtype=dtype)
    out = K.bsr_spmm.bsr_spmm(bs.block_rowptr, bs.block_col, bs.tiles, x, n)
    ref, _ = ref_spmm(rowptr, col, value, x, "sum")
    assert out.dtype == dtype and out.shape == ref.shape
    reference.assert_close(out, ref, dtype, reference.spmm_bound(rowptr, col, value, x, "sum"))
    if bs.num_tiles:
        assert K.last_config("bsr_spmm")["B"] == block


def test_bsr_large_clustered():
    """A block-diagonal (clustered) graph with F wider than one feature tile."""
    BS = _blocksparse().BlockSparse
    g = torch.Generator().manual_seed(5)
    n, F, cl = 96, 70, 32
    edges = [(i, (i // cl) * cl + int(j)) for i in range(n)
             for j in torch.randint(0, cl, (6,), generator=g)]
    rowptr, col, _ = csr(n, edges)
    value = torch.randn(col.numel(), generator=g)
    x = torch.randn(n, F, generator=g)
    bs = BS.from_csr(rowptr, col, value, n, n, block=32)
    assert bs.num_tiles == 3 and bs.fill_ratio > 0.1
    out = K.bsr_spmm.bsr_spmm(bs.block_rowptr, bs.block_col, bs.tiles, x, n)
    reference.assert_close(out, ref_spmm(rowptr, col, value, x, "sum")[0], torch.float32)


# ------------------------------------------------------------------ backends ------------------


def test_backends_registered():
    bm = _backend_module()
    if bm is None:
        pytest.skip("sparsegnn.ops is not importable yet")
    from sparsegnn.ops.dispatch import get_backend

    row, bsr = get_backend("triton"), get_backend("triton_bsr")
    assert row.unavailable() is None and bsr.unavailable() is None  # interpreter on
    assert row.supports("spmm", torch.device("cpu"), torch.float32)
    rowptr, col, value, x = graph("empty_rows_loops_dups", integer=True)
    for reduce in REDUCES:
        out, arg = row.spmm(rowptr, col, value, x, reduce)
        check(out, arg, *ref_spmm(rowptr, col, value, x, reduce), torch.float32)
    for reduce in ("sum", "mean"):
        out, arg = bsr.spmm(rowptr, col, value, x, reduce)
        torch.testing.assert_close(out, ref_spmm(rowptr, col, value, x, reduce)[0])
        assert arg.numel() == 0
    n_cached = len(bm._bsr_cache)
    bsr.spmm(rowptr, col, value, x, "sum")  # the tiles come from the cache
    assert len(bm._bsr_cache) == n_cached
    with pytest.raises(ValueError, match="triton_bsr"):
        bsr.spmm(rowptr, col, value, x, "max")
    assert bm.bsr_recommended(0.25, 128, 32) and not bm.bsr_recommended(0.02, 128, 32)


def test_public_ops_with_autograd():
    """``sparsegnn.ops.spmm(graph, x, backend="triton"|"triton_bsr")`` with gradients."""
    if _backend_module() is None:
        pytest.skip("sparsegnn.ops is not importable yet")
    try:
        from sparsegnn import Graph, ops
    except ImportError as e:
        pytest.skip(f"sparsegnn.Graph / ops not available: {e}")
    ei = torch.tensor([[0, 1, 1, 2, 3, 3, 3], [1, 0, 2, 2, 0, 1, 1]])
    g = Graph.from_edge_index(ei, 5)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for backend, reduces in (("triton", REDUCES), ("triton_bsr", ("sum", "mean"))):
        for reduce in reduces:
            out = ops.spmm(g, x, reduce=reduce, backend=backend)
            ref = ops.spmm(g, x, reduce=reduce, backend="torch")
            torch.testing.assert_close(out, ref)
            (gx,) = torch.autograd.grad(out.sum(), x)
            (gr,) = torch.autograd.grad(ref.sum(), x)
            torch.testing.assert_close(gx, gr)


def test_ensure_mode_reloads_kernels():
    """Kernel modules built as compiled kernels are re-imported as interpreted ones."""
    os.environ["TRITON_INTERPRET"] = "0"
    try:
        K.ensure_mode()
        assert K.spmm.INTERPRETED is False
    finally:
        os.environ["TRITON_INTERPRET"] = "1"
    K.ensure_mode()
    assert K.spmm.INTERPRETED is True
    rowptr, col, value, x = graph("one_node_self_loop")
    out, _ = K.spmm.spmm(rowptr, col, value, x, "sum")
    torch.testing.assert_close(out, ref_spmm(rowptr, col, value, x, "sum")[0])


# ------------------------------------------------------------------ hypothesis ----------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def random_graphs(draw):
    n = draw(st.integers(0, 9))
    m = draw(st.integers(1, 9))
    k = draw(st.integers(0, 30)) if n else 0
    edges = [(draw(st.integers(0, n - 1)), draw(st.integers(0, m - 1))) for _ in range(k)]
    F = draw(st.integers(1, 20))
    cdt = draw(st.sampled_from([torch.int32, torch.int64]))
    seed = draw(st.integers(0, 2**16))
    return n, m, edges, F, cdt, seed


_HSET = settings(max_examples=12, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@_HSET
@given(random_graphs(), st.sampled_from(REDUCES), st.booleans())
def test_spmm_hypothesis(g, reduce, weighted):
    n, m, edges, F, cdt, seed = g
    rowptr, col, _ = csr(n, edges, m, cdt)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-4, 5, (m, F), generator=gen).float()
    value = torch.randint(-2, 3, (col.numel(),), generator=gen).float() if weighted else None
    out, arg = K.spmm.spmm(rowptr, col, value, x, reduce, split_threshold=4, segment_size=3)
    check(out, arg, *ref_spmm(rowptr, col, value, x, reduce), torch.float32)


@_HSET
@given(random_graphs())
def test_sddmm_and_backward_hypothesis(g):
    n, m, edges, F, cdt, seed = g
    rowptr, col, _ = csr(n, edges, m, cdt)
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, F, generator=gen)
    b = torch.randn(m, F, generator=gen)
    reference.assert_close(K.sddmm.sddmm(rowptr, col, a, b), ref_sddmm(rowptr, col, a, b), torch.float32)
    x = torch.randint(-2, 3, (m, F), generator=gen).float()
    _, arg = ref_spmm(rowptr, col, None, x, "max")
    grad = torch.randn(n, F, generator=gen)
    reference.assert_close(K.spmm_arg_backward.spmm_arg_backward(col, None, arg, grad, m),
                           ref_arg_backward(col, None, arg, grad, m), torch.float32)


# ------------------------------------------------------------------ AOT -----------------------


def test_aot_compiles_every_kernel_and_config():
    """Every kernel x autotune config compiles for sm_80 and sm_90 with no GPU (one or two
    specializations per kernel; ``make triton-check`` compiles all of them)."""
    aot = importlib.import_module("sparsegnn.kernels.aot")
    why = aot.ptxas_available()
    if why:
        pytest.skip(why)
    results = aot.compile_all(quick=True, usage=False)
    kernels = {r.kernel for r in results}
    assert kernels == {"_csr_reduce_kernel", "_sddmm_kernel", "_arg_backward_kernel",
                       "_spmm_int8_kernel", "_bsr_spmm_kernel"}
    assert {r.arch for r in results} == {80, 90}
    bad = [f"{r.kernel} {r.variant} {r.config} sm_{r.arch}: {r.error}" for r in results
           if not r.ok]
    assert not bad, "\n".join(bad)
    # every config of every kernel appears
    for modname, kname in aot.variants():
        tuned = getattr(aot.load_jit_module(modname), kname)
        want = {aot._config_str(c) for c in tuned.configs}
        assert want <= {r.config for r in results if r.kernel == kname}
