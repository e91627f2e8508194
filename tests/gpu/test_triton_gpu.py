"""The Triton kernels compiled and run on CUDA: the checks of tests/test_triton.py, on the GPU.

Skipped without CUDA. The kernels must run compiled here, not interpreted: the module fixture
clears ``TRITON_INTERPRET`` while these tests run and re-imports any kernel module built under
the interpreter (``sparsegnn.kernels.ensure_mode``). References are computed on the CPU with the
plain-torch helpers of tests/test_triton.py.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import reference
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

triton = pytest.importorskip("triton")

_spec = importlib.util.spec_from_file_location(
    "_sparsegnn_triton_cpu_tests", Path(__file__).resolve().parents[1] / "test_triton.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)
K = T.K
DEV = "cuda"


@pytest.fixture(scope="module", autouse=True)
def compiled():
    old = os.environ.pop("TRITON_INTERPRET", None)
    knobs = vars(triton.knobs.runtime)
    had = "interpret" in knobs
    saved = knobs.pop("interpret", None)
    K.ensure_mode()
    if K.spmm.INTERPRETED:
        pytest.skip("the Triton kernels are stuck in interpreter mode")
    bm = T._backend_module()
    if bm is not None:
        bm.register()
    yield
    if old is not None:
        os.environ["TRITON_INTERPRET"] = old
    if had:
        knobs["interpret"] = saved
    K.ensure_mode()
    if bm is not None:
        bm.register()


def cuda(*ts):
    return [None if t is None else t.to(DEV) for t in ts]


def check_gpu(out, arg, ref_out, ref_arg, dtype):
    T.check(out.cpu(), arg.cpu(), ref_out, ref_arg, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("reduce", T.REDUCES)
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(T.GRAPHS))
def test_spmm(name, weighted, reduce, dtype):
    rowptr, col, value, x = T.graph(name, dtype=dtype, weighted=weighted,
                                    integer=reduce in ("max", "min"))
    ref = T.ref_spmm(rowptr, col, value, x, reduce)
    out, arg = K.spmm.spmm(*cuda(rowptr, col, value, x), reduce)
    check_gpu(out, arg, *ref, dtype)
    out2, arg2 = K.spmm.spmm(*cuda(rowptr, col, value, x), reduce)
    assert torch.equal(out, out2) and torch.equal(arg, arg2)  # deterministic


def _power_law(n=3000, hub=6000, avg=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    deg = torch.clamp((torch.rand(n, generator=g) ** -1.5).long(), 0, 200)
    deg = (deg * avg // max(1, int(deg.float().mean()))).clamp(min=0)
    deg[0] = hub  # one hub above the default split threshold
    rowptr = torch.zeros(n + 1, dtype=torch.int64)
    rowptr[1:] = torch.cumsum(deg, 0)
    col = torch.randint(0, n, (int(rowptr[-1]),), generator=g)
    return rowptr, col


@pytest.mark.parametrize("F", [1, 7, 64, 128, 300])
@pytest.mark.parametrize("reduce", T.REDUCES)
def test_spmm_power_law_autotuned(F, reduce):
    rowptr, col = _power_law()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-8, 9, (rowptr.numel() - 1, F), generator=g).float()
    value = torch.randint(1, 4, (col.numel(),), generator=g).float()
    out, arg = K.spmm.spmm(*cuda(rowptr, col, value, x), reduce)
    assert K.last_config("spmm")["split"] is True
    check_gpu(out, arg, *T.ref_spmm(rowptr, col, value, x, reduce), torch.float32)


@pytest.mark.parametrize("reduce", T.REDUCES)
@pytest.mark.parametrize("name", ["zero_nodes", "zero_edges", "empty_rows_loops_dups", "hub"])
def test_segment_reduce(name, reduce):
    rowptr, col, _, x = T.graph(name, integer=reduce in ("max", "min"))
    src = x[col.long()].contiguous() + 0.5
    out, arg = K.segment_reduce.segment_reduce(*cuda(src, rowptr), reduce)
    check_gpu(out, arg, *T.ref_reduce(src, rowptr, reduce), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("name", list(T.GRAPHS))
def test_sddmm(name, dtype):
    rowptr, col, _, b = T.graph(name, dtype=dtype)
    a = torch.randn(rowptr.numel() - 1, b.shape[1], generator=torch.Generator().manual_seed(1))
    a = a.to(dtype)
    out = K.sddmm.sddmm(*cuda(rowptr, col, a, b)).cpu()
    reference.assert_close(out, T.ref_sddmm(rowptr, col, a, b), dtype)


@pytest.mark.parametrize("reduce", ["max", "min"])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(T.GRAPHS))
def test_spmm_arg_backward(name, weighted, reduce):
    rowptr, col, value, x = T.graph(name, weighted=weighted, integer=True)
    _, arg = T.ref_spmm(rowptr, col, value, x, reduce)
    grad = torch.randn(rowptr.numel() - 1, x.shape[1], generator=torch.Generator().manual_seed(2))
    gx = K.spmm_arg_backward.spmm_arg_backward(*cuda(col, value, arg, grad), x.shape[0])
    gx2 = K.spmm_arg_backward.spmm_arg_backward(*cuda(col, value, arg, grad), x.shape[0])
    assert torch.equal(gx, gx2)
    reference.assert_close(gx, T.ref_arg_backward(col, value, arg, grad, x.shape[0]), torch.float32)


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("name", list(T.GRAPHS))
def test_spmm_int8(name, weighted):
    rowptr, col, _, x = T.graph(name)
    n, m, F = rowptr.numel() - 1, x.shape[0], x.shape[1]
    g = torch.Generator().manual_seed(3)
    xq = torch.randint(-128, 128, (m, F), generator=g, dtype=torch.int8)
    vq = (torch.randint(-128, 128, (col.numel(),), generator=g, dtype=torch.int8)
          if weighted else None)
    rs, cs = torch.rand(n, generator=g) + 0.5, torch.rand(F, generator=g) + 0.5
    out = K.spmm_int8.spmm_int8(*cuda(rowptr, col, vq, xq, rs, cs)).cpu()
    # exact integer sums, then two float32 scalings
    torch.testing.assert_close(out, T.spmm_int8_reference(rowptr, col, vq, xq, rs, cs), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("precision", [None, "tf32", "ieee"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("block", [16, 32, 64])
@pytest.mark.parametrize("name", ["zero_edges", "empty_rows_loops_dups", "hub", "rectangular"])
def test_bsr_spmm(name, block, dtype, precision):
    if precision is not None and dtype != torch.float32:
        pytest.skip("precision applies to float32 only")
    BS = T._blocksparse().BlockSparse
    rowptr, col, value, x = T.graph(name, dtype=dtype)
    n, m = rowptr.numel() - 1, x.shape[0]
    bs = BS.from_csr(rowptr, col, value, n, m, block=block, dtype=dtype).to(device=DEV)
    out = K.bsr_spmm.bsr_spmm(bs.block_rowptr, bs.block_col, bs.tiles, x.to(DEV), n,
                              precision=precision).cpu()
    ref, _ = T.ref_spmm(rowptr, col, value, x, "sum")
    # tf32 keeps float16's 10-bit mantissa: its tolerance is float16's
    tol_dtype = torch.float16 if dtype == torch.float32 and precision == "tf32" else dtype
    reference.assert_close(out, ref, tol_dtype, reference.spmm_bound(rowptr, col, value, x, "sum"))


def test_backends_on_cuda():
    bm = T._backend_module()
    if bm is None:
        pytest.skip("sparsegnn.ops is not importable")
    from sparsegnn.ops.dispatch import get_backend

    row, bsr = get_backend("triton"), get_backend("triton_bsr")
    assert row.supports("spmm", torch.device("cuda"), torch.float32)
    rowptr, col, value, x = T.graph("hub", integer=True)
    for reduce in T.REDUCES:
        out, arg = row.spmm(*cuda(rowptr, col, value, x), reduce)
        check_gpu(out, arg, *T.ref_spmm(rowptr, col, value, x, reduce), torch.float32)
    out, _ = bsr.spmm(*cuda(rowptr, col, value, x), "sum")
    reference.assert_close(out, T.ref_spmm(rowptr, col, value, x, "sum")[0], torch.float32,
                           reference.spmm_bound(rowptr, col, value, x, "sum"))
