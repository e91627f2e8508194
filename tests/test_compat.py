"""sparsegnn.compat.torch_scatter against torch_scatter's documented results, a torch reference,
and torch_scatter itself where installed."""

from __future__ import annotations

import pytest
import torch

import sparsegnn.compat.torch_scatter as ts

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


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
    out, arg = ts.segment_min_csr(src, torch.tensor([0, 2, 2, 3]))
    assert out.tolist() == [-2.0, 0.0, 3.0] and arg.tolist() == [1, 3, 2]
    assert ts.segment_csr(src, torch.tensor([0, 2, 2, 3]), reduce="min").tolist() == out.tolist()
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
    assert out.is_contiguous()  # callers (PyG's static graphs) .view() the result


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


# ------------------------------------------------------------------- the whole API, scripted
NAMED = [
    ("segment_sum_csr", "csr", "sum"),
    ("segment_add_csr", "csr", "sum"),
    ("segment_mean_csr", "csr", "mean"),
    ("segment_min_csr", "csr", "amin"),
    ("segment_max_csr", "csr", "amax"),
    ("segment_sum_coo", "coo", "sum"),
    ("segment_add_coo", "coo", "sum"),
    ("segment_mean_coo", "coo", "mean"),
    ("segment_min_coo", "coo", "amin"),
    ("segment_max_coo", "coo", "amax"),
]


def _batched_segments():
    """src [2, 7, 3] with a different sorted index per leading row, one segment left empty and
    positions that indptr leaves out (indptr[1] starts at 1)."""
    gen = torch.Generator().manual_seed(7)
    src = torch.randn(2, 7, 3, generator=gen, dtype=torch.float64)
    index = torch.tensor([[0, 0, 1, 1, 1, 3, 3], [0, 2, 2, 2, 3, 3, 3]])
    indptr = torch.tensor([[0, 2, 5, 5, 7], [0, 1, 1, 4, 7]])
    return src, index, indptr


@pytest.mark.parametrize("name,kind,torch_reduce", NAMED)
def test_named_segment_variants_scripted_and_against_torch(name, kind, torch_reduce):
    src, index, indptr = _batched_segments()
    fn = getattr(ts, name)
    scripted = torch.jit.script(fn)
    second = index if kind == "coo" else indptr
    eager, jitted = fn(src, second), scripted(src, second)
    ref = torch.zeros(2, 4, 3, dtype=src.dtype).scatter_reduce(
        1, index.unsqueeze(-1).expand_as(src), src, torch_reduce, include_self=False
    )
    if isinstance(eager, tuple):
        torch.testing.assert_close(eager[0], ref)
        assert torch.equal(eager[1], jitted[1])
        picked = src.gather(1, eager[1].clamp(max=6))
        empty = eager[1] == 7
        torch.testing.assert_close(picked[~empty], ref[~empty])
        assert bool(empty[0, 2].all()) and bool(empty[1, 1].all())
        eager, jitted = eager[0], jitted[0]
    torch.testing.assert_close(eager, ref)
    torch.testing.assert_close(jitted, eager, atol=0, rtol=0)


@pytest.mark.parametrize(
    "name",
    [n for n in ts.__all__ if n.startswith(("scatter", "segment", "gather"))],
)
def test_every_function_is_scriptable(name):
    torch.jit.script(getattr(ts, name))


def test_segment_csr_overwrites_out_and_segment_coo_reduces_into_it():
    src = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    out = torch.full((4,), -2.0)
    ts.segment_sum_csr(src, torch.tensor([0, 2, 5, 5, 6]), out)
    assert out.tolist() == [3.0, 12.0, 0.0, 6.0]
    out = torch.full((4,), -2.0)
    ts.segment_sum_coo(src, torch.tensor([0, 0, 1, 1, 1, 3]), out)
    assert out.tolist() == [1.0, 10.0, -2.0, 4.0]
    out = torch.full((4,), 2.5)
    values, arg = ts.segment_max_coo(src, torch.tensor([0, 0, 1, 1, 1, 3]), out)
    assert values.tolist() == [2.5, 5.0, 2.5, 6.0] and arg.tolist() == [6, 4, 6, 5]


def test_gather_csr_and_coo_invert_segments_and_keep_out_elsewhere():
    src, index, indptr = _batched_segments()
    seg = ts.segment_mean_csr(src, indptr)
    by_csr, by_coo = ts.gather_csr(seg, indptr), ts.gather_coo(seg, index)
    torch.testing.assert_close(by_csr, seg.gather(1, index.unsqueeze(-1).expand(2, 7, 3)))
    torch.testing.assert_close(by_coo, by_csr)
    out = torch.full((3, 6), 9.0)
    ts.gather_csr(torch.tensor([[1.0] * 6, [2.0] * 6]), torch.tensor([1, 2, 3]), out)
    assert out[:, 0].tolist() == [9.0, 1.0, 2.0]
    torch.autograd.gradcheck(
        lambda s: ts.gather_csr(s, indptr), (seg.detach().clone().requires_grad_(),)
    )


def test_float_inputs_run_on_the_kernels_and_integers_are_exact():
    from sparsegnn.profile import profile_ops

    src, index, indptr = _batched_segments()
    with profile_ops(summary=False) as prof:
        ts.scatter_max(src, index[0], 1)
        ts.segment_csr(src.half(), indptr, reduce="mean")
    assert [r.op for r in prof.records] == ["spmm", "segment_reduce"]
    big = torch.tensor([2**60 + 1, 1, 2**60 + 3])
    assert ts.scatter_sum(big, torch.tensor([0, 1, 0])).tolist() == [2**61 + 4, 1]
    assert ts.segment_max_csr(big, torch.tensor([0, 2, 3]))[0].tolist() == [2**60 + 1, 2**60 + 3]


def test_max_gradients_follow_the_arg():
    gen = torch.Generator().manual_seed(3)
    src = torch.randn(12, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    index = torch.randint(0, 5, (12,), generator=gen)
    torch.autograd.gradcheck(lambda s: ts.scatter(s, index, 0, dim_size=6, reduce="max"), (src,))
    ptr = torch.tensor([0, 3, 3, 12])
    torch.autograd.gradcheck(lambda s: ts.segment_min_csr(s, ptr)[0], (src,))


def test_composites_against_torch():
    gen = torch.Generator().manual_seed(4)
    src = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    index = torch.tensor([0, 0, 2, 2, 2, 1, 4, 4, 4, 4])
    groups = [index == g for g in range(5)]
    soft, log_soft = ts.scatter_softmax(src, index), ts.scatter_log_softmax(src, index)
    lse, std = ts.scatter_logsumexp(src, index), ts.scatter_std(src, index)
    for g, mask in enumerate(groups):
        if not bool(mask.any()):
            assert lse[:, g].tolist() == [0.0] * 3 and std[:, g].tolist() == [0.0] * 3
            continue
        torch.testing.assert_close(soft[:, mask], torch.softmax(src[:, mask], -1))
        torch.testing.assert_close(log_soft[:, mask], torch.log_softmax(src[:, mask], -1))
        torch.testing.assert_close(lse[:, g], torch.logsumexp(src[:, mask], -1))
        if int(mask.sum()) > 1:
            torch.testing.assert_close(std[:, g], src[:, mask].std(-1), atol=1e-5, rtol=1e-5)
    for fn in (ts.scatter_softmax, ts.scatter_log_softmax, ts.scatter_logsumexp, ts.scatter_std):
        with pytest.raises(ValueError, match="floating"):
            fn(torch.arange(4), torch.tensor([0, 0, 1, 1]))


def test_zero_size_inputs_keep_autograd():
    x = torch.randn(0, 3, requires_grad=True)
    empty = torch.tensor([], dtype=torch.long)
    for out in (
        ts.scatter(x, empty, 0, dim_size=2, reduce="max"),
        ts.segment_csr(x, torch.tensor([0, 0, 0]), reduce="mean"),
        ts.segment_coo(x, empty, dim_size=2),
        ts.gather_coo(torch.randn(2, 3, requires_grad=True), empty),
    ):
        assert out.requires_grad
        out.sum().backward()
    assert ts.scatter(x, empty, 0, dim_size=2).tolist() == [[0.0] * 3] * 2


def test_bad_segments_raise_value_errors():
    src = torch.randn(5, 2)
    with pytest.raises(ValueError, match="indptr: must be non-decreasing"):
        ts.segment_csr(src, torch.tensor([0, 3, 2, 5]))
    with pytest.raises(ValueError, match=r"indptr: values must lie in \[0, 5\]"):
        ts.segment_csr(src, torch.tensor([0, 3, 6]))
    with pytest.raises(ValueError, match="index: values must be >= 0"):
        ts.segment_coo(src, torch.tensor([-1, 0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"index: values must lie in \[0, src.size"):
        ts.gather_coo(src, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="reduce"):
        ts.segment_csr(src, torch.tensor([0, 5]), reduce="mul")
    with pytest.raises(ValueError, match="out: expected size"):
        ts.scatter_sum(src, torch.tensor([0, 0, 1, 1, 1]), 0, out=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="dim"):
        ts.scatter(src, torch.tensor([0, 0, 1, 1, 1]), dim=2)
    with pytest.raises(TypeError, match="indptr"):
        ts.segment_csr(src, [0, 5])


def test_whole_api_against_torch_scatter_when_installed():
    torch_scatter = pytest.importorskip("torch_scatter")
    src, index, indptr = _batched_segments()
    flat = torch.tensor([0, 2, 2, 1, 0, 3, 3])
    for name, args in [
        *[(n, (src, indptr)) for n, kind, _ in NAMED if kind == "csr"],
        *[(n, (src, index)) for n, kind, _ in NAMED if kind == "coo"],
        *[(f"scatter_{r}", (src, flat, 1)) for r in ("sum", "mean", "mul", "min", "max")],
        ("gather_csr", (src[:, :4], indptr)),
        ("gather_coo", (src[:, :4], index)),
        ("scatter_softmax", (src, flat, 1)),
        ("scatter_log_softmax", (src, flat, 1)),
        ("scatter_logsumexp", (src, flat, 1)),
        ("scatter_std", (src, flat, 1)),
    ]:
        ours, theirs = getattr(ts, name)(*args), getattr(torch_scatter, name)(*args)
        if isinstance(theirs, tuple):
            torch.testing.assert_close(ours[0], theirs[0], msg=name)
            assert torch.equal(ours[1], theirs[1]), name
        else:
            torch.testing.assert_close(ours, theirs, msg=name)
