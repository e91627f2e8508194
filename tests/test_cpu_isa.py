"""Every SIMD path of the CPU kernels that this machine can run, forced with SPARSEGNN_ISA.

For each of ``avx512``, ``avx2`` and ``portable`` that the CPU supports: the path asked for is the
one that runs (``_C.cpu_last_isa()``, ``_C.cpu_last_int8_path()``), and a path it lacks is an error;
spmm (sum/mean/max/min, weighted or not, with and without the arg), segment_reduce, sddmm,
spmm_arg_backward and spmm_int8 equal the torch reference on the edge-case graphs of conftest.py and
on hypothesis graphs (float64 up to summation order, float32 1e-5, INT8 bitwise); the paths equal
each other bitwise where they do the same arithmetic (every reduce without weights; with weights
the two FMA paths); 1 and 2 threads give the same bits on every path. Also: setup.py's flags name
no x86 ISA, and the sources cross-compile for aarch64 where aarch64-linux-gnu-g++ is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

_C = pytest.importorskip("sparsegnn._C", reason="the C++ extension sparsegnn._C is not built")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import reference  # noqa: E402
from conftest import env, rand, threads  # noqa: E402
from sparsegnn.ops.backends.reference import spmm_int8 as spmm_int8_reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPS = torch.ops.sparsegnn_C
ALL_PATHS = ("avx512", "avx2", "portable")
PATHS = tuple(_C.cpu_isa_paths())
REDUCES = ("sum", "mean", "max", "min")
BITS = {torch.float64: torch.int64, torch.float32: torch.int32,
        torch.float16: torch.int16, torch.bfloat16: torch.int16}


@pytest.fixture(params=ALL_PATHS)
def path(request) -> str:
    if request.param not in PATHS:
        pytest.skip(f"this CPU has no {request.param} path (it has {', '.join(PATHS)})")
    return request.param


@contextmanager
def isa(name: str, **more):
    with env(SPARSEGNN_ISA=name, **more):
        yield


def int8_inputs(n, m, feat, nnz, seed, weighted=True):
    g = torch.Generator().manual_seed(seed)
    xq = torch.randint(-128, 128, (m, feat), generator=g, dtype=torch.int8)
    vq = torch.randint(-128, 128, (nnz,), generator=g, dtype=torch.int8) if weighted else None
    return xq, vq, torch.rand(n, generator=g), torch.rand(feat, generator=g)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.view(BITS[a.dtype]), b.view(BITS[b.dtype]))


def int8_exact(rowptr, col, vq, xq, rs, cs) -> bool:
    """Our spmm_int8 equals the reference bit for bit."""
    want = spmm_int8_reference(rowptr, col, vq, xq, rs, cs)
    return torch.equal(OPS.spmm_int8(rowptr, col, vq, xq, rs, cs), want)


def assert_spmm_matches_reference(rowptr, col, value, x, reduce, out, arg):
    """out (and arg) of our spmm against the reference: sums within their magnitude's rounding,
    max/min exactly with the reference's arg (computed in x's dtype: the same product roundings)."""
    if reduce in ("sum", "mean"):
        want, _ = reference.spmm(rowptr, col, value, x, reduce)
        reference.assert_close(out, want, x.dtype, reference.spmm_bound(rowptr, col, value, x, reduce))
    else:
        want, want_arg = reference.spmm(rowptr, col, value, x, reduce, reference.acc_dtype(x.dtype))
        assert torch.equal(out, want)
        if arg is not None:
            assert torch.equal(arg, want_arg)


# ------------------------------------------------------------------------- path selection
@pytest.mark.parametrize("name", ALL_PATHS)
def test_forced_path_is_honoured_or_refused(name):
    rowptr, col = torch.tensor([0, 2, 3]), torch.tensor([0, 1, 1], dtype=torch.int32)
    x = rand((2, 5), torch.float32)
    with isa(name):
        if name not in PATHS:
            lacks = f"SPARSEGNN_ISA={name} asks for a path this CPU lacks"
            with pytest.raises(RuntimeError, match=lacks):
                OPS.spmm(rowptr, col, None, x, "sum")
            return
        assert _C.cpu_isa() == name
        for call in (lambda: OPS.spmm(rowptr, col, None, x, "max"),
                     lambda: OPS.segment_reduce(x, torch.tensor([0, 2]), "sum"),
                     lambda: OPS.sddmm(rowptr, col, x, x)):
            _C.cpu_release_cached_outputs()
            with isa("portable" if name != "portable" else PATHS[0]):
                OPS.spmm(rowptr, col, None, x, "sum")  # the latest call ran another path...
            call()
            assert _C.cpu_last_isa() == name  # ... and this one ran the forced path
        xq, vq, rs, cs = int8_inputs(2, 2, 5, 3, 0)
        OPS.spmm_int8(rowptr, col, vq, xq, rs, cs)
        avx2 = "avx-vnni" if _C.cpu_has_avx_vnni() else "avx2"
        want = {"avx512": "avx512-vnni" if _C.cpu_has_vnni() else avx2, "avx2": avx2,
                "portable": "portable"}
        assert _C.cpu_last_int8_path() == want[name]
        with env(SPARSEGNN_DISABLE_VNNI=1):
            OPS.spmm_int8(rowptr, col, vq, xq, rs, cs)
        assert _C.cpu_last_int8_path() == ("portable" if name == "portable" else "avx2")


def test_auto_takes_the_widest_path_and_unknown_names_are_errors():
    rowptr, col, x = torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1, 3)
    for value in ("auto", ""):
        with isa(value):
            OPS.spmm(rowptr, col, None, x, "sum")
            assert _C.cpu_last_isa() == PATHS[0] == _C.cpu_isa()
    assert PATHS[-1] == "portable" and set(PATHS) <= set(ALL_PATHS)
    assert ("avx512" in PATHS) == _C.cpu_has_avx512() and ("avx2" in PATHS) == _C.cpu_has_avx2()
    with isa("avx9"), pytest.raises(RuntimeError, match="SPARSEGNN_ISA must be one of"):
        OPS.spmm(rowptr, col, None, x, "sum")
    with isa("sse2"), pytest.raises(RuntimeError, match="this CPU has: " + ", ".join(PATHS)):
        _C.cpu_isa()


# ------------------------------------------------------------------------- against the reference
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_edge_cases_match_reference(path, edge_case, dtype):
    name, graph = edge_case
    rowptr, col = graph.rowptr, graph.col
    n, nnz = rowptr.numel() - 1, col.numel()
    m = graph.num_cols
    value = rand((nnz,), dtype, 2) + 0.25
    with isa(path):
        for feat in (13,) if dtype == torch.float64 else (64,):  # a masked tail; whole registers
            x = rand((m, feat), dtype, feat)
            for reduce in REDUCES:
                for v in (None, value):
                    out, arg = OPS.spmm(rowptr, col, v, x, reduce)
                    assert_spmm_matches_reference(rowptr, col, v, x, reduce, out,
                                                  arg if v is None else None)
                    if reduce in ("max", "min"):
                        out_noarg, _ = OPS.spmm(rowptr, col, v, x, reduce, need_arg=False)
                        assert same_bits(out, out_noarg)
                        g = rand((n, feat), dtype, 7)
                        bound = reference.arg_backward(col, None if v is None else v.abs(), arg, g.abs(), m)
                        reference.assert_close(OPS.spmm_arg_backward(col, v, arg, g, m),
                                               reference.arg_backward(col, v, arg, g, m), dtype, bound)
            src = rand((nnz, feat), dtype, 3)
            for reduce in REDUCES:
                out, arg = OPS.segment_reduce(src, rowptr, reduce)
                assert_spmm_matches_reference(rowptr, torch.arange(nnz), None, src, reduce, out,
                                              arg)
            a = rand((n, feat), dtype, 4)
            reference.assert_close(OPS.sddmm(rowptr, col, a, x), reference.sddmm(rowptr, col, a, x), dtype,
                                   reference.sddmm_bound(rowptr, col, a, x))
        for feat in (1, 16, 37, 130):
            xq, vq, rs, cs = int8_inputs(n, m, feat, nnz, feat)
            for v in (vq, None):
                assert int8_exact(rowptr, col, v, xq, rs, cs)
        with env(SPARSEGNN_DISABLE_VNNI=1):
            assert int8_exact(rowptr, col, vq, xq, rs, cs)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(0, 25),
    m=st.integers(1, 25),
    feat=st.integers(1, 70),
    max_deg=st.integers(0, 12),
    seed=st.integers(0, 10_000),
    reduce=st.sampled_from(REDUCES),
    weighted=st.booleans(),
)
def test_hypothesis_graphs_every_path(n, m, feat, max_deg, seed, reduce, weighted):
    g = torch.Generator().manual_seed(seed)
    deg = torch.randint(0, max_deg + 1, (n,), generator=g)
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    nnz = int(rowptr[-1])
    col = torch.randint(0, m, (nnz,), generator=g).to(torch.int32 if seed % 2 else torch.int64)
    x = rand((m, feat), torch.float64, seed)
    value = rand((nnz,), torch.float64, seed + 1) if weighted else None
    a = rand((n, feat), torch.float64, seed + 2)
    xq, vq, rs, cs = int8_inputs(n, m, feat, nnz, seed, weighted)
    for name in PATHS:
        with isa(name):
            out, arg = OPS.spmm(rowptr, col, value, x, reduce)
            assert_spmm_matches_reference(rowptr, col, value, x, reduce, out, arg)
            reference.assert_close(OPS.sddmm(rowptr, col, a, x), reference.sddmm(rowptr, col, a, x), torch.float64,
                                   reference.sddmm_bound(rowptr, col, a, x))
            assert int8_exact(rowptr, col, vq, xq, rs, cs)


# ------------------------------------------------------------------------- paths against each other
def _hub_graph(n=300, seed=5, hub=6000):
    g = torch.Generator().manual_seed(seed)
    deg = torch.randint(0, 15, (n,), generator=g)
    deg[torch.rand(n, generator=g) < 0.2] = 0
    deg[3] = hub  # pieces of 2048 edges, merged in order
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    col = torch.randint(0, n, (int(rowptr[-1]),), generator=g, dtype=torch.int64).int()
    return rowptr, col


def _run_all(rowptr, col, value, x, b, path):
    """Every float op's outputs on one path (arg outputs included)."""
    outs = []
    with isa(path):
        for reduce in REDUCES:
            outs += OPS.spmm(rowptr, col, None, x, reduce)
            outs += OPS.spmm(rowptr, col, value, x, reduce)
            outs += OPS.spmm(rowptr, col, value, x, reduce, need_arg=False)[:1]
            outs += OPS.segment_reduce(x.index_select(0, col.long()), rowptr, reduce)
        outs.append(OPS.sddmm(rowptr, col, b, x))
    return outs


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("feat", [1, 7, 13, 16, 37, 64, 130])
def test_paths_give_the_same_bits(dtype, feat):
    """spmm (every reduce; weighted max/min too: the same products), segment_reduce and the args:
    every path the same bits as the portable loop; weighted sum/mean and sddmm: AVX2 the same bits
    as AVX-512 (both FMA, one summation tree) and the portable loop's within rounding."""
    rowptr, col = _hub_graph()
    n = rowptr.numel() - 1
    x, b = rand((n, feat), dtype, 1), rand((n, feat), dtype, 3)
    x[::11, 0] = float("nan")
    value = rand((col.numel(),), dtype, 2)
    runs = {p: _run_all(rowptr, col, value, x, b, p) for p in PATHS}
    base = runs["portable"]
    # Outputs per reduce: spmm out, arg; weighted out, arg; weighted out without arg; segment
    # out, arg.
    # Weighted sum/mean (FMA on the SIMD paths) and sddmm may round differently from portable.
    weighted = {7 * r + k for r in (0, 1) for k in (2, 4)} | {len(base) - 1}
    tol = {torch.float64: 1e-12, torch.float32: 1e-5,
           torch.float16: 1e-2, torch.bfloat16: 5e-2}[dtype]
    for p, outs in runs.items():
        for k, (o, q) in enumerate(zip(outs, base)):
            if k in weighted:
                torch.testing.assert_close(o.double(), q.double(), rtol=tol, atol=tol * feat,
                                           equal_nan=True)
            else:
                assert (same_bits(o, q) if o.is_floating_point() else torch.equal(o, q)), (p, k)
    if "avx512" in runs and "avx2" in runs:
        for o, q in zip(runs["avx2"], runs["avx512"]):
            assert same_bits(o, q) if o.is_floating_point() else torch.equal(o, q)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_min_special_values_every_path(path, reduce):
    """NaN lanes, infinities and signed-zero ties, with and without the arg (hub pieces too)."""
    rowptr, col = _hub_graph(n=150, seed=8, hub=7000)
    n = rowptr.numel() - 1
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = rand((n, 37), dtype, 3)
        x[::7, 0] = float("nan")
        x[:, 1] = float("nan")
        x[:, 2] = float("-inf") if reduce == "max" else float("inf")
        x[::5, 3] = float("inf") if reduce == "max" else float("-inf")
        x[:, 5] = 0.0
        x[::2, 5] = -0.0
        with isa("portable"):
            want, want_arg = OPS.spmm(rowptr, col, None, x, reduce)
        with isa(path):
            out, arg = OPS.spmm(rowptr, col, None, x, reduce)
            out_noarg, _ = OPS.spmm(rowptr, col, None, x, reduce, need_arg=False)
        assert same_bits(out, want) and torch.equal(arg, want_arg) and same_bits(out_noarg, want)
        assert bool((out[:, 1] == 0).all()) and bool((out[:, 2] == 0).all())


def test_threads_give_the_same_bits_on_every_path(path):
    rowptr, col = _hub_graph(n=2000, seed=21, hub=30_000)
    n = rowptr.numel() - 1
    x, b = rand((n, 33), torch.float32, 1), rand((n, 33), torch.float32, 3)
    value = rand((col.numel(),), torch.float32, 2)
    xq, vq, rs, cs = int8_inputs(n, n, 33, col.numel(), 4)

    def everything():
        outs = _run_all(rowptr, col, value, x, b, path)
        with isa(path):
            _, arg = OPS.spmm(rowptr, col, value, x, "max")
            outs.append(OPS.spmm_arg_backward(col, value, arg, b, n))
            outs.append(OPS.spmm_int8(rowptr, col, vq, xq, rs, cs))
        return outs

    with threads(1):
        one = everything()
    with threads(2):
        two = everything()
    for p, q in zip(one, two):
        assert torch.equal(p, q)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_arg_backward_schedule_gives_the_same_bits(dtype):
    """spmm_arg_backward's feature slices (F / threads wide, or SPARSEGNN_ARG_SLICE) and its
    prefetch (SPARSEGNN_PREFETCH=0: none) change the schedule, never the sums."""
    rowptr, col = _hub_graph(n=500, seed=8, hub=5000)
    n = rowptr.numel() - 1
    x, b = rand((n, 70), dtype, 1), rand((n, 70), dtype, 2)
    value = rand((col.numel(),), dtype, 3)
    _, arg = OPS.spmm(rowptr, col, value, x, "max")
    want = reference.arg_backward(col, value, arg, b, n)
    outs = []
    for slice_, prefetch in (("0", "1024"), ("16", "0"), ("32", "1024"), ("48", "1024"), ("1000", "0")):
        for t in (1, 2):
            with env(SPARSEGNN_ARG_SLICE=slice_, SPARSEGNN_PREFETCH=prefetch), threads(t):
                outs.append(OPS.spmm_arg_backward(col, value, arg, b, n))
    reference.assert_close(outs[0], want, dtype, reference.arg_backward(col, value.abs(), arg, b.abs(), n))
    assert all(same_bits(o, outs[0]) for o in outs)


@pytest.mark.parametrize("feat", [1, 16, 33, 130, 300])
def test_int8_unweighted_long_rows_stay_exact(path, feat):
    """The unweighted SIMD kernels add int8 in int16 for 256 edges at a time: rows of 255 to 3000
    edges (a hub split into pieces) gathering only -128s or only 127s hit the int16 bounds."""
    deg = torch.tensor([255, 256, 257, 513, 3000, 1, 0, 256, 257])
    rowptr = torch.zeros(deg.numel() + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    nnz = int(rowptr[-1])
    row = torch.repeat_interleave(torch.arange(deg.numel()), deg)
    col = (row % 2).int()  # even rows gather row 0 (all -128), odd rows row 1 (all 127)
    col[-1] = 2  # one mixed row
    xq = torch.tensor([-128, 127, 5], dtype=torch.int8).repeat_interleave(feat).reshape(3, feat)
    rs, cs = torch.rand(deg.numel()) + 0.5, torch.rand(feat) + 0.5
    with isa(path):
        assert int8_exact(rowptr, col, None, xq, rs, cs)
        raw = OPS.spmm_int8(rowptr, col, None, xq, torch.ones(deg.numel()), torch.ones(feat))
    assert bool((raw[0] == -128 * 255).all()) and bool((raw[4] == -128 * 3000).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_large_outputs_stream_on_every_path(path, dtype):
    """Outputs of >= 32 MiB whose rows are whole cache lines go out with non-temporal stores
    (arg too): the portable loop's bits (it never streams), and for float32 the reference's."""
    n, feat = (1 << 16) * (4 // dtype.itemsize), 128
    g = torch.Generator().manual_seed(5)
    deg = torch.randint(0, 4, (n,), generator=g)
    rowptr = torch.zeros(n + 1, dtype=torch.long)
    rowptr[1:] = deg.cumsum(0)
    col = torch.randint(0, n, (int(rowptr[-1]),), generator=g).int()
    x = rand((n, feat), dtype, 1)
    for reduce in ("sum", "max"):
        with isa("portable"):
            want, want_arg = OPS.spmm(rowptr, col, None, x, reduce)
        with isa(path):
            out, arg = OPS.spmm(rowptr, col, None, x, reduce)
        assert same_bits(out, want) and torch.equal(arg, want_arg)
        if dtype == torch.float32:
            assert_spmm_matches_reference(rowptr, col, None, x, reduce, out,
                                          arg if reduce == "max" else None)
        del out, arg, want, want_arg
    if dtype == torch.float32:  # spmm_int8's float32 output streams too, weighted and not
        xq, vq, rs, cs = int8_inputs(n, n, feat, col.numel(), 6)
        with isa(path):
            assert int8_exact(rowptr, col, vq, xq, rs, cs) and int8_exact(rowptr, col, None, xq, rs, cs)
    _C.cpu_release_cached_outputs()


# ------------------------------------------------------------------------- other architectures
def test_setup_flags_name_no_x86_isa():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sparsegnn_setup", ROOT / "setup.py")
    setup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup)  # not __main__: defines cxx_flags, runs no build
    flags = setup.cxx_flags()
    assert "-std=c++20" in flags
    x86 = ("-mavx", "-msse", "-mfma", "-mf16c", "-march=x86", "-mtune")
    assert not [f for f in flags if f.startswith(x86)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None,
                    reason="aarch64-linux-gnu-g++ not found "
                           "(Debian: apt-get install g++-aarch64-linux-gnu)")
def test_sources_cross_compile_for_aarch64():
    proc = subprocess.run(["bash", str(ROOT / "csrc" / "cpu" / "aarch64_check.sh")], cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True,
                          text=True, timeout=900)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"csrc/cpu/aarch64_check.sh failed (exit {proc.returncode}):\n{report[-6000:]}")
    assert "aarch64-check: ok" in proc.stdout and "FAIL" not in proc.stdout
