"""torch_scatter's API on sparsegnn kernels: ``import sparsegnn.compat.torch_scatter as torch_scatter``.

Same signatures, defaults and conventions as torch_scatter 2.1:

- ``scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum")`` and
  ``scatter_sum / scatter_add / scatter_mean / scatter_mul / scatter_max / scatter_min``;
  ``index`` is broadcast against ``src`` (a 1-D index runs along ``dim``); ``dim_size`` defaults
  to ``index.max() + 1`` (or ``out.size(dim)``); with ``out`` the result is reduced *into* it.
- ``scatter_max / scatter_min`` (and the ``segment_*`` max/min) return ``(out, argmax)``: empty
  segments give 0 and ``argmax == src.size(dim)``.
- ``segment_csr(src, indptr, out=None, reduce="sum")``, ``segment_coo(src, index, out=None,
  dim_size=None, reduce="sum")`` (sorted index), ``gather_csr(src, indptr, out=None)``; the
  reduced dimension is ``indptr.dim() - 1`` / ``index.dim() - 1``.

How: an unsorted scatter index becomes a CSR by one stable sort (``rowptr`` from a bincount,
``col`` = the sort permutation), and :func:`sparsegnn.ops.spmm` reduces ``src`` through it
without materialising the gathered copy; arg positions come back through the permutation.
Sorted inputs go straight to :func:`sparsegnn.ops.segment_reduce`. An index that differs
across the non-reduced dimensions is handled by flattening those dimensions into the segment id.
``mul`` has no kernel here and uses ``torch.Tensor.scatter_reduce_`` (``"prod"``); integer
``src`` is computed in float64 and cast back (``mean`` floors, as torch_scatter does).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import ops
from ..graph import Graph

__all__ = [
    "gather_csr",
    "scatter",
    "scatter_add",
    "scatter_max",
    "scatter_mean",
    "scatter_min",
    "scatter_mul",
    "scatter_sum",
    "segment_coo",
    "segment_csr",
]

_REDUCES = ("sum", "add", "mean", "mul", "min", "max")


# ------------------------------------------------------------------------------------ helpers
def _check(src: object, index: object, name: str = "index") -> None:
    if not isinstance(src, Tensor):
        raise TypeError(f"src: expected a torch.Tensor, got {type(src).__name__}")
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(index).__name__}")
    if index.dtype.is_floating_point or index.dtype == torch.bool:
        raise ValueError(f"{name}: expected an integer dtype, got {index.dtype}")


def broadcast(src: Tensor, other: Tensor, dim: int) -> Tensor:
    """torch_scatter's ``broadcast``: a lower-dimensional ``src`` (the index) expanded to ``other``."""
    if dim < 0:
        dim = other.dim() + dim
    if src.dim() == 1:
        for _ in range(dim):
            src = src.unsqueeze(0)
    for _ in range(src.dim(), other.dim()):
        src = src.unsqueeze(-1)
    return src.expand(other.size())


def _as_compute(src: Tensor) -> Tensor:
    return src if src.is_floating_point() else src.to(torch.float64)


def _csr_reduce(
    src2d: Tensor, index: Tensor, dim_size: int, reduce: str
) -> tuple[Tensor, Tensor | None]:
    """Reduce rows of ``src2d [E, F]`` into ``dim_size`` segments by an unsorted ``index [E]``:
    a CSR from a stable sort, then one SpMM. Returns ``(out [dim_size, F], arg or None)`` with
    ``arg`` = position in ``src2d`` (``E`` for empty segments)."""
    num = src2d.shape[0]
    index = index.long()
    if num and (int(index.min()) < 0 or int(index.max()) >= dim_size):
        raise ValueError(f"index: values must lie in [0, dim_size={dim_size})")
    perm = torch.sort(index, stable=True)[1]
    counts = torch.bincount(index, minlength=dim_size) if num else index.new_zeros(dim_size)
    rowptr = torch.zeros(dim_size + 1, dtype=torch.int64, device=src2d.device)
    torch.cumsum(counts, 0, out=rowptr[1:])
    graph = Graph(rowptr, perm, None, num, validate=False)
    if reduce in ("max", "min"):
        out, arg = ops.spmm(graph, src2d, reduce, return_arg=True)
        valid = arg < num
        arg = torch.where(
            valid, perm[arg.clamp(max=max(num - 1, 0))] if num else arg, arg.new_full((), num)
        )
        return out, arg
    return ops.spmm(graph, src2d, reduce), None


def _front(src: Tensor, dim: int) -> tuple[Tensor, tuple[int, ...]]:
    """``src`` with ``dim`` moved to the front and the rest flattened: ``[E, F]`` and the rest shape."""
    moved = src.movedim(dim, 0)
    return moved.reshape(moved.shape[0], -1), tuple(moved.shape[1:])


def _back(out2d: Tensor, rest: tuple[int, ...], dim: int) -> Tensor:
    return out2d.reshape(out2d.shape[0], *rest).movedim(0, dim)


def _index_is_1d(index: Tensor, dim: int) -> Tensor | None:
    """The 1-D index when ``index`` (already broadcast) is constant across non-``dim`` axes."""
    if index.dim() == 1:
        return index
    strides = [s for d, s in enumerate(index.stride()) if d != dim and index.shape[d] > 1]
    if all(s == 0 for s in strides):
        return index.movedim(dim, 0).reshape(index.shape[dim], -1)[:, 0]
    return None


def _reduce_into(out: Tensor | None, result: Tensor, arg: Tensor | None, reduce: str, num: int = 0):
    """Combine ``result`` with a user-given ``out`` as torch_scatter does (in place); ``num`` is
    the arg of empty segments (``src.size(dim)``)."""
    if out is None:
        return result if arg is None else (result, arg)
    if reduce in ("sum", "add"):
        out.add_(result.to(out.dtype))
    elif reduce == "mul":
        out.mul_(result.to(out.dtype))
    else:
        better = (result > out) if reduce == "max" else (result < out)
        better &= arg != num
        out.copy_(torch.where(better, result.to(out.dtype), out))
        arg = torch.where(better, arg, arg.new_full((), num))
    return out if arg is None else (out, arg)


def _divide(total: Tensor, count: Tensor) -> Tensor:
    if total.is_floating_point():
        return total / count.to(total.dtype)
    return total.div(count.to(total.dtype), rounding_mode="floor")


# ------------------------------------------------------------------------------------ scatter
def scatter(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
    reduce: str = "sum",
) -> Tensor:
    """Reduce all values from ``src`` into ``out`` at the indices given by ``index`` along
    ``dim`` (torch_scatter's ``scatter``). ``reduce``: sum, add, mean, mul, min, max; for
    min/max only the values are returned (use :func:`scatter_max` for the arg)."""
    if reduce not in _REDUCES:
        raise ValueError(f"reduce: expected one of {_REDUCES}, got {reduce!r}")
    result = _scatter(src, index, dim, out, dim_size, reduce)
    return result[0] if isinstance(result, tuple) else result


def _scatter(src, index, dim, out, dim_size, reduce):
    _check(src, index)
    if src.dim() == 0:
        raise ValueError("src: expected at least one dimension")
    dim = dim + src.dim() if dim < 0 else dim
    if not 0 <= dim < src.dim():
        raise ValueError(f"dim: out of range for src of {src.dim()} dims")
    index = broadcast(index, src, dim)
    num = src.shape[dim]
    if reduce == "mean" and out is not None:  # torch_scatter: (out + sum) / max(count, 1)
        total = _scatter(src, index, dim, None, out.shape[dim], "sum")
        count = _scatter(
            torch.ones_like(src, dtype=torch.float64), index, dim, None, out.shape[dim], "sum"
        )
        return out.copy_(_divide(out + total, count.clamp(min=1)))
    if out is not None:
        dim_size = out.shape[dim]
    elif dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    src_c = _as_compute(src)
    if reduce == "mul":
        shape = list(src.shape)
        shape[dim] = dim_size
        result = src.new_ones(shape).scatter_reduce_(
            dim, index.long(), src, "prod", include_self=True
        )
        return _reduce_into(out, result, None, reduce, None)
    src2d, rest = _front(src_c, dim)
    flat_index = _index_is_1d(index, dim)
    if flat_index is not None:
        out2d, arg2d = _csr_reduce(
            src2d, flat_index, dim_size, reduce if reduce != "add" else "sum"
        )
    else:  # a different index per column: fold the column into the segment id
        feat = src2d.shape[1]
        idx2d = index.movedim(dim, 0).reshape(num, feat).long()
        seg = (idx2d * feat + torch.arange(feat, device=src.device)).reshape(-1)
        o, a = _csr_reduce(
            src2d.reshape(-1, 1), seg, dim_size * feat, reduce if reduce != "add" else "sum"
        )
        out2d = o.reshape(dim_size, feat)
        arg2d = (
            None
            if a is None
            else torch.where(a < num * feat, a // feat, a.new_full((), num)).reshape(dim_size, feat)
        )
    result = _back(out2d, rest, dim)
    if not src.is_floating_point():
        result = result.floor() if reduce == "mean" else result
        result = result.to(src.dtype)
    arg = None if arg2d is None else _back(arg2d, rest, dim)
    return _reduce_into(out, result, arg, reduce, num)


def scatter_sum(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
) -> Tensor:
    """Sum of the values scattered to each index (0 where none)."""
    return _scatter(src, index, dim, out, dim_size, "sum")


scatter_add = scatter_sum  # torch_scatter's alias


def scatter_mean(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
) -> Tensor:
    """Mean of the values scattered to each index (0 where none; integer inputs floor)."""
    return _scatter(src, index, dim, out, dim_size, "mean")


def scatter_mul(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
) -> Tensor:
    """Product of the values scattered to each index (1 where none)."""
    return _scatter(src, index, dim, out, dim_size, "mul")


def scatter_max(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``(max, argmax)`` per index; empty: 0 and ``src.size(dim)``."""
    return _scatter(src, index, dim, out, dim_size, "max")


def scatter_min(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Tensor | None = None,
    dim_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``(min, argmin)`` per index; empty: 0 and ``src.size(dim)``."""
    return _scatter(src, index, dim, out, dim_size, "min")


# ------------------------------------------------------------------------------------ segment
def segment_csr(src: Tensor, indptr: Tensor, out: Tensor | None = None, reduce: str = "sum"):
    """Reduce ``src`` along ``dim = indptr.dim() - 1`` over the CSR segments
    ``indptr[i]:indptr[i+1]`` (torch_scatter's ``segment_csr``); max/min return ``(out, arg)``."""
    _check(src, indptr, "indptr")
    if reduce not in _REDUCES:
        raise ValueError(f"reduce: expected one of {_REDUCES}, got {reduce!r}")
    dim = indptr.dim() - 1
    if dim >= src.dim():
        raise ValueError(f"indptr: has {indptr.dim()} dims, too many for src of {src.dim()} dims")
    if reduce == "mean" and out is not None:  # torch_scatter: (out + sum) / max(count, 1)
        total = segment_csr(src, indptr, None, "sum")
        count = segment_csr(torch.ones_like(src, dtype=torch.float64), indptr, None, "sum")
        return out.copy_(_divide(out + total, count.clamp(min=1)))
    lead = indptr.reshape(-1, indptr.shape[-1])
    if lead.shape[0] > 1 and not bool((lead == lead[:1]).all()):
        return _segment_csr_per_batch(src, indptr, out, reduce)
    ptr = lead[0].long()
    num = src.shape[dim]
    if int(ptr[-1]) > num or int(ptr[0]) < 0:
        raise ValueError(f"indptr: must lie in [0, src.size({dim})={num}]")
    if int(ptr[0]) != 0 or int(ptr[-1]) != num:  # torch_scatter ignores values outside the range
        src = src.narrow(dim, int(ptr[0]), int(ptr[-1]) - int(ptr[0]))
        offset, ptr = int(ptr[0]), ptr - ptr[0]
    else:
        offset = 0
    src_c = _as_compute(src)
    src2d, rest = _front(src_c, dim)
    red = "sum" if reduce == "add" else reduce
    if red == "mul":
        seg = torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=src.device), ptr.diff())
        res = src2d.new_ones(ptr.numel() - 1, src2d.shape[1]).index_reduce_(0, seg, src2d, "prod")
        out2d, arg2d = res, None
    elif red in ("max", "min"):
        out2d, arg2d = ops.segment_reduce(src2d, ptr, red, return_arg=True)
        arg2d = torch.where(arg2d < src2d.shape[0], arg2d + offset, arg2d.new_full((), num))
    else:
        out2d, arg2d = ops.segment_reduce(src2d, ptr, red), None
    result = _back(out2d, rest, dim)
    if not src.is_floating_point():
        result = (result.floor() if red == "mean" else result).to(src.dtype)
    arg = None if arg2d is None else _back(arg2d, rest, dim)
    return _reduce_into(out, result, arg, red, num)


def _segment_csr_per_batch(src: Tensor, indptr: Tensor, out: Tensor | None, reduce: str):
    """indptr differing across its leading dimensions: one segment_csr per leading position."""
    dim = indptr.dim() - 1
    lead_shape = indptr.shape[:-1]
    src_b = src.expand(*lead_shape, *src.shape[dim:]) if src.dim() > dim else src
    flat_ptr = indptr.reshape(-1, indptr.shape[-1])
    flat_src = src_b.reshape(-1, *src.shape[dim:])
    flat_out = None if out is None else out.reshape(-1, *out.shape[dim:])
    vals, args = [], []
    for b in range(flat_ptr.shape[0]):
        r = segment_csr(flat_src[b], flat_ptr[b], None if flat_out is None else flat_out[b], reduce)
        if isinstance(r, tuple):
            vals.append(r[0])
            args.append(r[1])
        else:
            vals.append(r)
    value = torch.stack(vals).reshape(*lead_shape, *vals[0].shape)
    if out is not None:
        out.copy_(value)
        value = out
    if args:
        return value, torch.stack(args).reshape(*lead_shape, *args[0].shape)
    return value


def segment_coo(
    src: Tensor,
    index: Tensor,
    out: Tensor | None = None,
    dim_size: int | None = None,
    reduce: str = "sum",
):
    """Reduce ``src`` along ``dim = index.dim() - 1`` by a *sorted* ``index`` (torch_scatter's
    ``segment_coo``); max/min return ``(out, arg)``."""
    _check(src, index)
    dim = index.dim() - 1
    index = broadcast(index, src, dim) if index.dim() == 1 and src.dim() > 1 and dim == 0 else index
    flat = index.reshape(-1, index.shape[dim]) if index.dim() > 1 else index.reshape(1, -1)
    if flat.shape[0] > 1 and not bool((flat == flat[:1]).all()):
        raise NotImplementedError("segment_coo: an index that differs across leading dimensions")
    idx = flat[0].long()
    if out is not None:
        dim_size = out.shape[dim]
    elif dim_size is None:
        dim_size = int(idx[-1]) + 1 if idx.numel() else 0
    if idx.numel() and bool((idx.diff() < 0).any()):
        raise ValueError("index: segment_coo needs a sorted index (use scatter for unsorted)")
    bounds = torch.arange(dim_size + 1, device=idx.device, dtype=idx.dtype)
    ptr = torch.searchsorted(idx, bounds)
    keep = int(ptr[-1])
    if keep < src.shape[dim]:  # indices >= dim_size are dropped
        src = src.narrow(dim, 0, keep)
    ptr_b = ptr.view(*([1] * dim), -1)
    return segment_csr(src, ptr_b, out, reduce)


def gather_csr(src: Tensor, indptr: Tensor, out: Tensor | None = None) -> Tensor:
    """Spread each row ``src[i]`` over its segment ``indptr[i]:indptr[i+1]`` along
    ``dim = indptr.dim() - 1`` (torch_scatter's ``gather_csr``, the inverse of segment_csr)."""
    _check(src, indptr, "indptr")
    dim = indptr.dim() - 1
    ptr = indptr.reshape(-1, indptr.shape[-1])[0].long()
    if ptr.numel() - 1 != src.shape[dim]:
        raise ValueError(
            f"indptr: expected {src.shape[dim] + 1} entries along dim {dim}, got {ptr.numel()}"
        )
    counts = ptr.diff()
    seg = torch.repeat_interleave(
        torch.arange(counts.numel(), device=src.device),
        counts,
        output_size=int(ptr[-1]) - int(ptr[0]),
    )
    result = src.index_select(dim, seg)
    if out is not None:
        out.narrow(dim, int(ptr[0]), result.shape[dim]).copy_(result)
        return out
    return result
