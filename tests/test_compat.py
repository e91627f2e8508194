"""sparsegnn.compat.torch_scatter against torch_scatter's documented results, a torch reference,
and torch_scatter itself where installed."""

from __future__ import annotations

import pytest
import torch

import sparsegnn.compat.torch_scatter as ts


# ------------------------------------------------------------------- documented examples
def test_scatter_max_documented_example():
    # torch_scatter docs, scatter_max
    src = torch.tensor([[2, 0, 1, 4, 3], [0, 2, 1, 3, 4]], dtype=torch.float)
    index = torch.tensor([[4, 5, 4, 2, 3], [0, 0, 2, 2, 1]])
    out, argmax = ts.scatter_max(src, index, dim=-1)
    assert out.tolist() == [[0, 0, 4, 3, 2, 0], [2, 4, 3, 0, 0, 0]]
    assert argmax.tolist() == [[5, 5, 3, 4, 0, 1], [1, 4, 3, 5, 5, 5]]


def test_scatter_min_documented_example():
    src = torch.tensor([[-2, 0, -1, -4, -3], [0, -2, -1, -3, -4]], dtype=torch.float)
    index = torch.tensor([[4, 5, 4, 2, 3], [0, 0, 2, 2, 1]])
    out, argmin = ts.scatter_min(src, index, dim=-1)
    assert out.tolist() == [[0, 0, -4, -3, -2, 0], [-2, -4, -3, 0, 0, 0]]
    assert argmin.tolist() == [[5, 5, 3, 4, 0, 1], [1, 4, 3, 5, 5, 5]]


def test_scatter_documented_example():
    # torch_scatter README: scatter(src, index, dim=0, reduce="sum") on a [6, 64] src
    src = torch.randn(10, 6, 64)
    index = torch.tensor([0, 1, 0, 1, 2, 1])
    out = ts.scatter(src, index, dim=1, reduce="sum")
    assert out.shape == (10, 3, 64)
    torch.testing.assert_close(out[:, 0], src[:, 0] + src[:, 2])
    torch.testing.assert_close(out[:, 1], src[:, 1] + src[:, 3] + src[:, 5])


def test_segment_csr_and_coo_documented_examples():
    src = torch.randn(10, 6, 64)
    indptr = torch.tensor([0, 2, 5, 6])
    out = ts.segment_csr(src, indptr.view(1, -1), reduce="sum")
    assert out.shape == (10, 3, 64)
    torch.testing.assert_close(out[:, 1], src[:, 2:5].sum(1))
    index = torch.tensor([0, 0, 1, 1, 1, 2])
    torch.testing.assert_close(ts.segment_coo(src, index.view(1, -1), reduce="sum"), out)
    gathered = ts.gather_csr(out, indptr.view(1, -1))
    assert gathered.shape == (10, 6, 64)
    torch.testing.assert_close(gathered[:, 3], out[:, 1])


def test_empty_segments_and_argmax_conventions():
    src = torch.tensor([1.0, -2.0, 3.0])
    index = torch.tensor([0, 0, 3])
    out, arg = ts.scatter_max(src, index, dim=0, dim_size=5)
    assert out.tolist() == [1.0, 0.0, 0.0, 3.0, 0.0]
    assert arg.tolist() == [0, 3, 3, 2, 3]
    out, arg = ts.segment_csr(src, torch.tensor([0, 2, 2, 3]), reduce="min")
    assert out.tolist() == [-2.0, 0.0, 3.0] and arg.tolist() == [1, 3, 2]
    assert ts.scatter_mean(src, index, 0, dim_size=5).tolist() == [-0.5, 0.0, 0.0, 3.0, 0.0]
    assert ts.scatter_mul(src, index, 0, dim_size=4).tolist() == [-2.0, 1.0, 1.0, 3.0]


# ------------------------------------------------------------------- against a torch reference
@pytest.mark.parametrize("reduce", ["sum", "add", "mean", "mul", "max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_matches_scatter_reduce(reduce, dim):
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(7, 9, 3, generator=gen, dtype=torch.float64)
    size = src.shape[dim]
    index = torch.randint(0, 5, (size,), generator=gen)
    expanded = ts.broadcast(index, src, dim)
    dim_size = 6  # one empty slot at least
    shape = list(src.shape)
    shape[dim] = dim_size
    torch_reduce = {
        "sum": "sum",
        "add": "sum",
        "mean": "mean",
        "mul": "prod",
        "max": "amax",
        "min": "amin",
    }[reduce]
    ref = torch.zeros(shape, dtype=src.dtype).scatter_reduce_(
        dim, expanded, src, torch_reduce, include_self=False
    )
    if reduce == "mul":
        ref = torch.ones(shape, dtype=src.dtype).scatter_reduce_(
            dim, expanded, src, "prod", include_self=True
        )
    out = ts.scatter(src, index, dim, dim_size=dim_size, reduce=reduce)
    torch.testing.assert_close(out, ref)


def test_scatter_per_column_index_and_gradients():
    gen = torch.Generator().manual_seed(1)
    src = torch.randn(20, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 6, (20, 4), generator=gen)  # a different index per column
    out, arg = ts.scatter_max(src, index, 0, dim_size=6)
    ref = torch.zeros(6, 4, dtype=torch.float64).scatter_reduce(
        0, index, src, "amax", include_self=False
    )
    torch.testing.assert_close(out, ref)
    valid = arg < 20
    torch.testing.assert_close(
        src.detach().gather(0, arg.clamp(max=19))[valid], out.detach()[valid]
    )
    torch.autograd.gradcheck(lambda s: ts.scatter_sum(s, index, 0, dim_size=6), (src,))
    torch.autograd.gradcheck(lambda s: ts.scatter_mean(s, index[:, 0], 0, dim_size=6), (src,))
    torch.autograd.gradcheck(
        lambda s: ts.segment_csr(s, torch.tensor([0, 5, 5, 20]), reduce="mean"), (src,)
    )


def test_out_argument_reduces_into_out():
    src = torch.tensor([1.0, 2.0, 3.0, 4.0])
    index = torch.tensor([0, 0, 2, 2])
    out = torch.ones(3)
    result = ts.scatter_sum(src, index, 0, out=out)
    assert result is out and out.tolist() == [4.0, 1.0, 8.0]
    out = torch.ones(3)
    assert ts.scatter_mean(src, index, 0, out=out).tolist() == [2.0, 1.0, 4.0]
    out = torch.full((3,), 2.5)
    values, arg = ts.scatter_max(src, index, 0, out=out)
    assert values.tolist() == [2.5, 2.5, 4.0] and arg.tolist() == [4, 4, 3]


def test_integer_inputs():
    src = torch.tensor([1, 2, 3, 4])
    index = torch.tensor([0, 0, 1, 1])
    out = ts.scatter_sum(src, index, 0)
    assert out.dtype == torch.int64 and out.tolist() == [3, 7]
    assert ts.scatter_mean(src, index, 0).tolist() == [1, 3]  # floor, as torch_scatter
    assert ts.scatter_max(src, index, 0)[0].tolist() == [2, 4]


def test_segment_coo_drops_out_of_range_and_checks_sorted():
    src = torch.arange(6.0)
    assert ts.segment_coo(src, torch.tensor([0, 0, 1, 1, 1, 3]), dim_size=2).tolist() == [1.0, 9.0]
    with pytest.raises(ValueError, match="sorted"):
        ts.segment_coo(src, torch.tensor([1, 0, 1, 1, 1, 3]))


def test_errors():
    with pytest.raises(ValueError, match="reduce"):
        ts.scatter(torch.randn(3), torch.tensor([0, 1, 0]), reduce="median")
    with pytest.raises(ValueError, match="index"):
        ts.scatter(torch.randn(3), torch.tensor([0, 1, 5]), dim_size=2)
    with pytest.raises(TypeError, match="src"):
        ts.scatter([1.0], torch.tensor([0]))


# ------------------------------------------------------------------- torch_scatter itself
def test_against_torch_scatter_when_installed():
    torch_scatter = pytest.importorskip("torch_scatter")
    gen = torch.Generator().manual_seed(2)
    src = torch.randn(30, 5, generator=gen)
    index = torch.randint(0, 8, (30,), generator=gen)
    for reduce in ("sum", "mean", "max", "min", "mul"):
        torch.testing.assert_close(
            ts.scatter(src, index, 0, dim_size=9, reduce=reduce),
            torch_scatter.scatter(src, index, 0, dim_size=9, reduce=reduce),
        )
    for fn in ("scatter_max", "scatter_min"):
        a, b = (
            getattr(ts, fn)(src, index, 0, dim_size=9),
            getattr(torch_scatter, fn)(src, index, 0, dim_size=9),
        )
        torch.testing.assert_close(a[0], b[0])
        assert torch.equal(a[1], b[1])
    ptr = torch.tensor([0, 4, 4, 30])
    for reduce in ("sum", "mean", "max", "min"):
        a, b = (
            ts.segment_csr(src, ptr, reduce=reduce),
            torch_scatter.segment_csr(src, ptr, reduce=reduce),
        )
        torch.testing.assert_close(
            a[0] if isinstance(a, tuple) else a, b[0] if isinstance(b, tuple) else b
        )
