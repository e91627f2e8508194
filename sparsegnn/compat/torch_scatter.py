"""torch_scatter 2.1's API on sparsegnn kernels (``import sparsegnn.compat.torch_scatter``).

The whole public API, with torch_scatter's signatures, defaults and return conventions, and
scriptable with ``torch.jit.script`` as torch_scatter's functions are:

- ``scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum")`` and ``scatter_sum /
  scatter_add / scatter_mean / scatter_mul / scatter_min / scatter_max``: ``index`` is
  broadcast against ``src`` (a 1-D index runs along ``dim``); ``dim_size`` defaults to
  ``index.max() + 1`` (or ``out.size(dim)``). With ``out`` the result is reduced *into* it
  (sum adds, mul multiplies, mean gives ``(out + sum) / max(count, 1)``, max/min keep ``out``
  where no value beats it).
- ``segment_csr(src, indptr, out=None, reduce="sum")`` and ``segment_{sum,add,mean,min,max}_csr``
  reduce along ``dim = indptr.dim() - 1`` over ``indptr[..., i]:indptr[..., i + 1]``; ``out``
  is overwritten. ``segment_coo(src, index, out=None, dim_size=None, reduce="sum")`` and
  ``segment_{sum,add,mean,min,max}_coo`` take a sorted ``index`` (``dim = index.dim() - 1``;
  values ``>= dim_size`` are dropped) and reduce into ``out`` as scatter does.
- ``gather_csr(src, indptr, out=None)`` / ``gather_coo(src, index, out=None)``: the inverses,
  ``out[..., e, ...] = src[..., segment(e), ...]`` (positions outside every segment: 0, or
  ``out``'s value).
- ``scatter_softmax``, ``scatter_log_softmax``, ``scatter_logsumexp``, ``scatter_std``
  (torch_scatter.composite), built on the functions above.
- max/min return ``(values, arg)``: arg is the first position along ``dim`` reaching the
  extreme, ``src.size(dim)`` where there is none (empty segments, or ``out`` not beaten);
  empty segments give 0. ``scatter(..., reduce="max")`` and ``segment_*(reduce="max")`` return
  the values only.

How: floating ``src`` (float16/bfloat16/float32/float64) with sum/mean/min/max runs on the
sparsegnn kernels through ``torch.ops.sparsegnn``: an unsorted index becomes a CSR by one
stable sort and ``spmm`` reduces ``src`` through it (no gathered copy; an index that differs
across the other dimensions folds the column into the segment id); sorted inputs (segment_*)
run ``segment_reduce`` over one CSR covering every leading position, with a filler segment for
any positions that ``indptr`` leaves out. Integer ``src``, ``mul`` and zero-size inputs use
torch's ``scatter_reduce`` (exact, as torch_scatter; integer mean floors).

Bad input (an out-of-range or unsorted index, an ``indptr`` that is not monotone within
``[0, src.size(dim)]``, a wrong ``dim`` or ``out`` shape) raises a ValueError naming the
argument; non-tensor arguments raise a TypeError.
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .. import ops  # noqa: F401  (registers the torch.ops.sparsegnn kernels used below)

__all__ = [
    "broadcast",
    "gather_coo",
    "gather_csr",
    "scatter",
    "scatter_add",
    "scatter_log_softmax",
    "scatter_logsumexp",
    "scatter_max",
    "scatter_mean",
    "scatter_min",
    "scatter_mul",
    "scatter_softmax",
    "scatter_std",
    "scatter_sum",
    "segment_add_coo",
    "segment_add_csr",
    "segment_coo",
    "segment_csr",
    "segment_max_coo",
    "segment_max_csr",
    "segment_mean_coo",
    "segment_mean_csr",
    "segment_min_coo",
    "segment_min_csr",
    "segment_sum_coo",
    "segment_sum_csr",
]


# ------------------------------------------------------------------------------------ helpers
def broadcast(src: Tensor, other: Tensor, dim: int) -> Tensor:
    """torch_scatter's ``broadcast``: ``src`` (an index) expanded to ``other``'s shape; a 1-D
    ``src`` runs along ``dim``."""
    if dim < 0:
        dim = other.dim() + dim
    if src.dim() == 1:
        for _ in range(dim):
            src = src.unsqueeze(0)
    for _ in range(src.dim(), other.dim()):
        src = src.unsqueeze(-1)
    return src.expand(other.size())


def _check_types(src: Tensor, index: Tensor, name: str) -> None:
    """Eager-mode argument checks (TorchScript checks the types itself)."""
    if not isinstance(src, Tensor):
        raise TypeError("src: expected a torch.Tensor, got {}".format(type(src).__name__))
    if not isinstance(index, Tensor):
        raise TypeError("{}: expected a torch.Tensor, got {}".format(name, type(index).__name__))


def _check_index_dtype(index: Tensor, name: str) -> None:
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise ValueError("{}: expected an integer dtype, got {}".format(name, index.dtype))


def _canonical(reduce: str) -> str:
    if reduce == "sum" or reduce == "add":
        return "sum"
    if reduce == "mean" or reduce == "mul" or reduce == "min" or reduce == "max":
        return reduce
    raise ValueError(
        "reduce: expected 'sum', 'add', 'mean', 'mul', 'min' or 'max', got '{}'".format(reduce)
    )


def _on_kernels(src: Tensor, reduce: str) -> bool:
    """Whether the sparsegnn kernels run this reduce on ``src`` (else torch's scatter_reduce)."""
    floating = (
        src.dtype == torch.float32
        or src.dtype == torch.float64
        or src.dtype == torch.float16
        or src.dtype == torch.bfloat16
    )
    return floating and src.numel() > 0 and reduce != "mul"


def _has_arg(reduce: str) -> bool:
    return reduce == "max" or reduce == "min"


def _no_arg(src: Tensor) -> Tensor:
    return torch.empty(0, dtype=torch.long, device=src.device)


def _along(values: Tensor, lead: List[int], rest: List[int]) -> Tensor:
    """``values [prod(lead), M]`` as ``[*lead, M, *rest]`` (a view, expanded over ``rest``)."""
    shape = lead + [values.size(-1)] + rest
    return values.reshape(lead + [values.size(-1)] + [1 for _ in rest]).expand(shape)


def _prod(sizes: List[int]) -> int:
    total = 1
    for size in sizes:
        total *= size
    return total


def _searchsorted(sorted_rows: Tensor, values: Tensor, right: bool) -> Tensor:
    """Row-wise ``torch.searchsorted`` of ``values [B, V]`` in ``sorted_rows [B, M]`` (0 when
    ``M == 0``)."""
    if sorted_rows.size(1) == 0:
        return torch.zeros_like(values)
    return torch.searchsorted(sorted_rows.contiguous(), values.contiguous(), right=right)


def _check_out(out: Tensor, src: Tensor, dim: int, size: int = -1) -> None:
    """``out`` shaped as ``src`` except along ``dim`` (where it must be ``size`` if >= 0)."""
    if out.dim() != src.dim():
        raise ValueError("out: expected {} dims (as src), got {}".format(src.dim(), out.dim()))
    for d in range(src.dim()):
        want = size if d == dim else src.size(d)
        if want >= 0 and out.size(d) != want:
            raise ValueError(
                "out: expected size {} in dimension {}, got {}".format(want, d, out.size(d))
            )


# ------------------------------------------------------------------------------ three engines
def _kernel_unsorted(
    src2d: Tensor, index: Tensor, dim_size: int, reduce: str, need_arg: bool
) -> Tuple[Tensor, Tensor]:
    """Rows of ``src2d [E, K]`` reduced into ``dim_size`` rows by an unsorted int64 ``index
    [E]`` in range: one stable sort gives the CSR (row = index value, col = position), then
    one ``spmm``. Returns ``(out [dim_size, K], arg [dim_size, K] or empty)``, arg = position
    in ``src2d`` (``E`` for empty rows)."""
    num = src2d.size(0)
    index = index.contiguous()
    grad = torch.is_grad_enabled() and src2d.requires_grad
    perm = torch.sort(index, stable=True)[1]
    rowptr = torch.zeros(dim_size + 1, dtype=torch.long, device=src2d.device)
    rowptr[1:] = torch.cumsum(torch.bincount(index, minlength=dim_size), 0)
    t_rowptr: Optional[Tensor] = None
    t_col: Optional[Tensor] = None
    t_perm: Optional[Tensor] = None
    if grad and not _has_arg(reduce):
        # the transpose has one entry per position j: column index[j], CSR entry inv(perm)[j]
        t_rowptr = torch.arange(num + 1, device=src2d.device)
        t_col = index
        t_perm = torch.empty_like(perm)
        t_perm[perm] = torch.arange(num, device=src2d.device)
    out, arg = torch.ops.sparsegnn.spmm(
        rowptr, perm, None, src2d, reduce, "auto", t_rowptr, t_col, t_perm, need_arg or grad
    )
    if need_arg:
        arg = perm[arg.clamp(max=num - 1)].masked_fill(arg >= num, num)
    return out, arg


def _kernel_sorted(src3: Tensor, ptr: Tensor, reduce: str, need_arg: bool) -> Tuple[Tensor, Tensor]:
    """``src3 [B, E, K]`` reduced over the segments ``ptr[b, i]:ptr[b, i + 1]`` (int64 ``ptr [B,
    N + 1]``, monotone within ``[0, E]``) by one ``segment_reduce``: each leading position ``b``
    gets the rows ``[filler, N segments, filler]`` so the CSR covers all ``B * E`` rows.
    Returns ``(out [B, N, K], arg)`` with arg local to ``b`` (``E`` for empty segments)."""
    batches, num, feat = src3.size(0), src3.size(1), src3.size(2)
    segments = ptr.size(1) - 1
    offset = (torch.arange(batches, device=ptr.device) * num).unsqueeze(1)
    bounds = torch.cat([torch.zeros_like(ptr[:, :1]), ptr, torch.full_like(ptr[:, :1], num)], 1)
    starts = (bounds[:, :-1] + offset).reshape(-1)
    rowptr = torch.cat([starts, torch.full_like(starts[:1], batches * num)])
    out, arg = torch.ops.sparsegnn.segment_reduce(
        src3.reshape(batches * num, feat), rowptr, reduce, "auto"
    )
    out = out.view(batches, segments + 2, feat)[:, 1 : segments + 1]
    if not need_arg:
        return out, _no_arg(src3)
    arg = arg.view(batches, segments + 2, feat)[:, 1 : segments + 1]
    return out, (arg - offset.unsqueeze(2)).masked_fill(arg >= batches * num, num)


def _torch_reduce(
    src: Tensor, index: Tensor, dim: int, dim_size: int, reduce: str, need_arg: bool
) -> Tuple[Tensor, Tensor]:
    """torch's ``scatter_reduce`` with torch_scatter's conventions, for what the kernels do not
    run (integers, mul, zero-size); ``index`` has ``src``'s shape."""
    size = list(src.size())
    size[dim] = dim_size
    if reduce == "mul":
        ones = torch.ones(size, dtype=src.dtype, device=src.device)
        return ones.scatter_reduce(dim, index, src, "prod"), _no_arg(src)
    zeros = torch.zeros(size, dtype=src.dtype, device=src.device)
    if reduce == "sum" or reduce == "mean":
        out = zeros.scatter_add(dim, index, src)
        if reduce == "mean":
            count = zeros.scatter_add(dim, index, torch.ones_like(src)).clamp(min=1)
            out = out / count if out.is_floating_point() else out.div(count, rounding_mode="floor")
        return out, _no_arg(src)
    out = zeros.scatter_reduce(
        dim, index, src, "amax" if reduce == "max" else "amin", include_self=False
    )
    if not need_arg:
        return out, _no_arg(src)
    num = src.size(dim)
    position = [1 for _ in size]
    position[dim] = num
    pos = torch.arange(num, device=src.device).view(position).expand(src.size())
    first = pos.masked_fill(src != out.gather(dim, index), num)
    arg = torch.full(size, num, dtype=torch.long, device=src.device)
    return out, arg.scatter_reduce(dim, index, first, "amin")


# ------------------------------------------------------------------------------------ scatter
def _index_1d(index: Tensor, dim: int) -> Optional[Tensor]:
    """The 1-D index when the broadcast ``index`` is constant across the non-``dim`` axes."""
    strides = index.stride()
    for d in range(index.dim()):
        if d != dim and index.size(d) > 1 and strides[d] != 0:
            return None
    return index.movedim(dim, 0).reshape(index.size(dim), -1)[:, 0]


def _scatter_fresh(
    src: Tensor, index: Tensor, dim: int, dim_size: int, reduce: str, need_arg: bool
) -> Tuple[Tensor, Tensor]:
    """``(out, arg)`` of ``src`` reduced by the broadcast int64 ``index`` along ``dim``."""
    if not _on_kernels(src, reduce):
        return _torch_reduce(src, index, dim, dim_size, reduce, need_arg)
    num = src.size(dim)
    moved = src.movedim(dim, 0)
    rest = list(moved.shape[1:])
    src2d = moved.reshape(num, -1).contiguous()
    flat = _index_1d(index, dim)
    if flat is not None:
        out2d, arg2d = _kernel_unsorted(src2d, flat, dim_size, reduce, need_arg)
    else:  # a different index per column: the column joins the segment id
        feat = src2d.size(1)
        cols = torch.arange(feat, device=src.device)
        seg = (index.movedim(dim, 0).reshape(num, feat) * feat + cols).reshape(-1)
        out1, arg1 = _kernel_unsorted(src2d.reshape(-1, 1), seg, dim_size * feat, reduce, need_arg)
        out2d = out1.view(dim_size, feat)
        arg2d = arg1
        if need_arg:
            arg2d = torch.div(arg1, feat, rounding_mode="floor")
            arg2d = arg2d.masked_fill(arg1 >= num * feat, num).view(dim_size, feat)
    # contiguous, as torch_scatter's (and PyG's) results are: callers may .view() them
    out = out2d.view([dim_size] + rest).movedim(0, dim).contiguous()
    if need_arg:
        return out, arg2d.view([dim_size] + rest).movedim(0, dim).contiguous()
    return out, arg2d


def _reduce_into(
    out: Tensor, result: Tensor, arg: Tensor, reduce: str, num: int, count: Optional[Tensor]
) -> Tuple[Tensor, Tensor]:
    """``result`` combined into a user's ``out`` in place: sum adds, mul multiplies, mean adds
    then divides by ``count`` (clamped to 1), max/min take ``result`` where it beats ``out``
    (arg ``num`` elsewhere)."""
    if reduce == "sum":
        out.add_(result)
    elif reduce == "mul":
        out.mul_(result)
    elif reduce == "mean":
        out.add_(result)
        assert count is not None
        count = count.clamp(min=1).to(out.dtype)
        if out.is_floating_point():
            out.div_(count)
        else:
            out.div_(count, rounding_mode="floor")
    else:
        better = (result > out) if reduce == "max" else (result < out)
        better = better & (arg < num)
        out.copy_(torch.where(better, result, out))
        arg = arg.masked_fill(~better, num)
    return out, arg


def _scatter(
    src: Tensor,
    index: Tensor,
    dim: int,
    out: Optional[Tensor],
    dim_size: Optional[int],
    reduce: str,
    need_arg: bool,
) -> Tuple[Tensor, Tensor]:
    if not torch.jit.is_scripting():
        _check_types(src, index, "index")
    _check_index_dtype(index, "index")
    reduce = _canonical(reduce)
    if src.dim() == 0:
        raise ValueError("src: expected at least one dimension, got a 0-d tensor")
    if dim < -src.dim() or dim >= src.dim():
        raise ValueError("dim: {} is out of range for src with {} dims".format(dim, src.dim()))
    if dim < 0:
        dim = dim + src.dim()
    if index.dim() > src.dim():
        raise ValueError(
            "index: has {} dims, more than src's {}".format(index.dim(), src.dim())
        )
    index = broadcast(index.long(), src, dim)
    if out is not None:
        _check_out(out, src, dim)
        size = out.size(dim)
    elif dim_size is not None:
        size = dim_size
    else:
        size = int(index.max()) + 1 if index.numel() > 0 else 0
    if size < 0:
        raise ValueError("dim_size: expected >= 0, got {}".format(size))
    if index.numel() > 0 and (int(index.min()) < 0 or int(index.max()) >= size):
        raise ValueError("index: values must lie in [0, dim_size={})".format(size))
    need = need_arg and _has_arg(reduce)
    if out is None:
        return _scatter_fresh(src, index, dim, size, reduce, need)
    count: Optional[Tensor] = None
    if reduce == "mean":
        count = _scatter_fresh(torch.ones_like(src), index, dim, size, "sum", False)[0]
        result, arg = _scatter_fresh(src, index, dim, size, "sum", False)
    else:
        result, arg = _scatter_fresh(src, index, dim, size, reduce, _has_arg(reduce))
    return _reduce_into(out, result, arg, reduce, src.size(dim), count)


def scatter(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
    reduce: str = "sum",
) -> Tensor:
    """``src`` reduced into ``out`` (or a new ``[..., dim_size, ...]`` tensor) at ``index``
    along ``dim``; ``reduce``: sum, add, mean, mul, min, max (values only)."""
    return _scatter(src, index, dim, out, dim_size, reduce, False)[0]


def scatter_sum(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
) -> Tensor:
    """Sum of the values scattered to each index (0 where none)."""
    return _scatter(src, index, dim, out, dim_size, "sum", False)[0]


scatter_add = scatter_sum  # torch_scatter's alias


def scatter_mean(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
) -> Tensor:
    """Mean of the values scattered to each index (0 where none; integers floor)."""
    return _scatter(src, index, dim, out, dim_size, "mean", False)[0]


def scatter_mul(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
) -> Tensor:
    """Product of the values scattered to each index (1 where none)."""
    return _scatter(src, index, dim, out, dim_size, "mul", False)[0]


def scatter_min(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    """``(min, argmin)`` per index; where none: 0 and ``src.size(dim)``."""
    return _scatter(src, index, dim, out, dim_size, "min", True)


def scatter_max(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    """``(max, argmax)`` per index; where none: 0 and ``src.size(dim)``."""
    return _scatter(src, index, dim, out, dim_size, "max", True)


# ------------------------------------------------------------------------------------ segment
def _segment_fresh(
    src: Tensor, ptr: Tensor, dim: int, reduce: str, need_arg: bool
) -> Tuple[Tensor, Tensor]:
    """``src [*L, E, *R]`` (``len(L) = dim``) reduced over the segments of the valid int64
    ``ptr [prod(L), N + 1]`` -> ``([*L, N, *R], arg)``."""
    lead = list(src.shape[:dim])
    rest = list(src.shape[dim + 1 :])
    num = src.size(dim)
    segments = ptr.size(1) - 1
    shape = lead + [segments] + rest
    if _on_kernels(src, reduce):
        src3 = src.reshape(ptr.size(0), num, -1).contiguous()
        out, arg = _kernel_sorted(src3, ptr, reduce, need_arg)
        return out.reshape(shape), arg.reshape(shape) if need_arg else arg
    # each position's segment id (``segments`` for positions outside every segment)
    pos = torch.arange(num, device=src.device).expand(ptr.size(0), num)
    seg = _searchsorted(ptr[:, 1:], pos, True).masked_fill(pos < ptr[:, :1], segments)
    out, arg = _torch_reduce(src, _along(seg, lead, rest), dim, segments + 1, reduce, need_arg)
    out = out.narrow(dim, 0, segments)
    return out, arg.narrow(dim, 0, segments) if need_arg else arg


def _check_ptr(ptr: Tensor, num: int, name: str) -> None:
    """``ptr [B, N + 1]`` non-decreasing along its rows, within ``[0, num]``."""
    if ptr.numel() == 0:
        return
    if int(ptr.min()) < 0 or int(ptr.max()) > num:
        raise ValueError("{}: values must lie in [0, {}]".format(name, num))
    if ptr.size(1) > 1 and bool((ptr[:, 1:] < ptr[:, :-1]).any()):
        raise ValueError("{}: must be non-decreasing along its last dimension".format(name))


def _ptr_of(src: Tensor, indptr: Tensor, name: str) -> Tuple[Tensor, int]:
    """``indptr`` (``[*L, N + 1]``, broadcast over ``src``'s leading dims ``L``) as an int64
    ``[prod(L), N + 1]`` and ``dim = indptr.dim() - 1`` (values unchecked: see _check_ptr)."""
    if not torch.jit.is_scripting():
        _check_types(src, indptr, name)
    _check_index_dtype(indptr, name)
    dim = indptr.dim() - 1
    if dim < 0 or dim >= src.dim():
        raise ValueError(
            "{}: expected 1 to src.dim()={} dims, got {}".format(name, src.dim(), indptr.dim())
        )
    size = list(src.shape[:dim]) + [max(indptr.size(-1), 1)]
    if indptr.size(-1) == 0:  # torch_scatter reads an empty indptr as no segments
        indptr = torch.zeros(size, dtype=torch.long, device=src.device)
    return indptr.expand(size).reshape(_prod(size[:-1]), size[-1]).long(), dim


def _segment_csr(
    src: Tensor, indptr: Tensor, out: Optional[Tensor], reduce: str, need_arg: bool
) -> Tuple[Tensor, Tensor]:
    reduce = _canonical(reduce)
    if reduce == "mul":
        raise ValueError("reduce: segment_csr takes 'sum', 'add', 'mean', 'min' or 'max'")
    ptr, dim = _ptr_of(src, indptr, "indptr")
    _check_ptr(ptr, src.size(dim), "indptr")
    result, arg = _segment_fresh(src, ptr, dim, reduce, need_arg and _has_arg(reduce))
    if out is None:
        return result, arg
    _check_out(out, src, dim, result.size(dim))
    out.copy_(result)
    return out, arg


def segment_csr(
    src: Tensor, indptr: Tensor, out: Optional[Tensor] = None, reduce: str = "sum"
) -> Tensor:
    """``src [*L, E, *R]`` reduced along ``dim = indptr.dim() - 1`` over the segments
    ``indptr[..., i]:indptr[..., i + 1]`` -> ``[*L, N, *R]``; ``reduce``: sum, add, mean, min,
    max (values only). ``out`` is overwritten."""
    return _segment_csr(src, indptr, out, reduce, False)[0]


def segment_sum_csr(src: Tensor, indptr: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """Sum over each CSR segment (0 where empty)."""
    return _segment_csr(src, indptr, out, "sum", False)[0]


segment_add_csr = segment_sum_csr  # torch_scatter's alias


def segment_mean_csr(src: Tensor, indptr: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """Mean over each CSR segment (0 where empty; integers floor)."""
    return _segment_csr(src, indptr, out, "mean", False)[0]


def segment_min_csr(
    src: Tensor, indptr: Tensor, out: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    """``(min, argmin)`` over each CSR segment; empty: 0 and ``src.size(dim)``."""
    return _segment_csr(src, indptr, out, "min", True)


def segment_max_csr(
    src: Tensor, indptr: Tensor, out: Optional[Tensor] = None
) -> Tuple[Tensor, Tensor]:
    """``(max, argmax)`` over each CSR segment; empty: 0 and ``src.size(dim)``."""
    return _segment_csr(src, indptr, out, "max", True)


def _segment_coo(
    src: Tensor,
    index: Tensor,
    out: Optional[Tensor],
    dim_size: Optional[int],
    reduce: str,
    need_arg: bool,
) -> Tuple[Tensor, Tensor]:
    if not torch.jit.is_scripting():
        _check_types(src, index, "index")
    _check_index_dtype(index, "index")
    reduce = _canonical(reduce)
    if reduce == "mul":
        raise ValueError("reduce: segment_coo takes 'sum', 'add', 'mean', 'min' or 'max'")
    dim = index.dim() - 1
    if dim < 0 or dim >= src.dim():
        raise ValueError(
            "index: expected 1 to src.dim()={} dims, got {}".format(src.dim(), index.dim())
        )
    num = src.size(dim)
    idx = index.expand(list(src.shape[: dim + 1])).reshape(_prod(src.shape[:dim]), num).long()
    if idx.numel() > 0:
        if int(idx.min()) < 0:
            raise ValueError("index: values must be >= 0")
        if num > 1 and bool((idx[:, 1:] < idx[:, :-1]).any()):
            raise ValueError("index: segment_coo needs an index sorted along its last dimension")
    if out is not None:
        _check_out(out, src, dim)
        size = out.size(dim)
    elif dim_size is not None:
        size = dim_size
    else:
        size = int(idx[:, -1].max()) + 1 if idx.numel() > 0 else 0
    if size < 0:
        raise ValueError("dim_size: expected >= 0, got {}".format(size))
    bounds = torch.arange(size + 1, device=idx.device).expand(idx.size(0), size + 1)
    ptr = _searchsorted(idx, bounds, False)  # values >= dim_size fall past ptr[:, N]
    need = need_arg and _has_arg(reduce)
    if out is None:
        return _segment_fresh(src, ptr, dim, reduce, need)
    count: Optional[Tensor] = None
    if reduce == "mean":
        count = _along(ptr.diff(dim=1), list(src.shape[:dim]), [1 for _ in src.shape[dim + 1 :]])
        result, arg = _segment_fresh(src, ptr, dim, "sum", False)
    else:
        result, arg = _segment_fresh(src, ptr, dim, reduce, _has_arg(reduce))
    return _reduce_into(out, result, arg, reduce, num, count)


def segment_coo(
    src: Tensor,
    index: Tensor,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
    reduce: str = "sum",
) -> Tensor:
    """``src [*L, E, *R]`` reduced along ``dim = index.dim() - 1`` by the sorted ``index [*L,
    E]`` -> ``[*L, dim_size, *R]`` (``dim_size`` defaults to the last index + 1; larger values
    are dropped); with ``out`` the result is reduced into it as :func:`scatter` does."""
    return _segment_coo(src, index, out, dim_size, reduce, False)[0]


def segment_sum_coo(
    src: Tensor, index: Tensor, out: Optional[Tensor] = None, dim_size: Optional[int] = None
) -> Tensor:
    """Sum per (sorted) index value (0 where none)."""
    return _segment_coo(src, index, out, dim_size, "sum", False)[0]


segment_add_coo = segment_sum_coo  # torch_scatter's alias


def segment_mean_coo(
    src: Tensor, index: Tensor, out: Optional[Tensor] = None, dim_size: Optional[int] = None
) -> Tensor:
    """Mean per (sorted) index value (0 where none; integers floor)."""
    return _segment_coo(src, index, out, dim_size, "mean", False)[0]


def segment_min_coo(
    src: Tensor, index: Tensor, out: Optional[Tensor] = None, dim_size: Optional[int] = None
) -> Tuple[Tensor, Tensor]:
    """``(min, argmin)`` per (sorted) index value; none: 0 and ``src.size(dim)``."""
    return _segment_coo(src, index, out, dim_size, "min", True)


def segment_max_coo(
    src: Tensor, index: Tensor, out: Optional[Tensor] = None, dim_size: Optional[int] = None
) -> Tuple[Tensor, Tensor]:
    """``(max, argmax)`` per (sorted) index value; none: 0 and ``src.size(dim)``."""
    return _segment_coo(src, index, out, dim_size, "max", True)


# ------------------------------------------------------------------------------------- gather
def _gather(src: Tensor, seg: Tensor, dim: int, out: Optional[Tensor]) -> Tensor:
    """``src [*L, N, *R]`` gathered along ``dim`` by the int64 ``seg [prod(L), E]``; ``seg ==
    N`` marks positions outside every segment (0, or ``out``'s value)."""
    lead = list(src.shape[:dim])
    rest = list(src.shape[dim + 1 :])
    filler = torch.zeros(lead + [1] + rest, dtype=src.dtype, device=src.device)
    padded = torch.cat([src, filler], dim)  # row N is the filler
    result = padded.gather(dim, _along(seg, lead, rest))
    if out is None:
        return result
    _check_out(out, src, dim, result.size(dim))
    inside = _along(seg < src.size(dim), lead, rest)
    out.copy_(torch.where(inside, result, out))
    return out


def gather_csr(src: Tensor, indptr: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``src [*L, N, *R]`` spread over the segments of ``indptr [*L, N + 1]`` along ``dim =
    indptr.dim() - 1``: ``out[..., e, ...] = src[..., i, ...]`` for ``indptr[i] <= e <
    indptr[i + 1]`` -> ``[*L, E, *R]``, ``E = out.size(dim)`` or the last ``indptr`` entry."""
    ptr, dim = _ptr_of(src, indptr, "indptr")
    segments = ptr.size(1) - 1
    if indptr.size(-1) > 0 and segments != src.size(dim):
        raise ValueError(
            "indptr: expected src.size({})+1={} entries in its last dimension, got {}".format(
                dim, src.size(dim) + 1, ptr.size(1)
            )
        )
    if out is not None:
        total = out.size(dim)
    else:
        total = int(ptr[-1, -1]) if ptr.numel() > 0 else 0
    _check_ptr(ptr, total, "indptr")
    pos = torch.arange(total, device=src.device).expand(ptr.size(0), total)
    seg = _searchsorted(ptr[:, 1:], pos, True).masked_fill(pos < ptr[:, :1], segments)
    return _gather(src, seg, dim, out)


def gather_coo(src: Tensor, index: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``out[..., e, ...] = src[..., index[..., e], ...]`` along ``dim = index.dim() - 1``
    (``index [*L, E]`` with values in ``[0, src.size(dim))``) -> ``[*L, E, *R]``."""
    if not torch.jit.is_scripting():
        _check_types(src, index, "index")
    _check_index_dtype(index, "index")
    dim = index.dim() - 1
    if dim < 0 or dim >= src.dim():
        raise ValueError(
            "index: expected 1 to src.dim()={} dims, got {}".format(src.dim(), index.dim())
        )
    lead = list(src.shape[:dim])
    seg = index.expand(lead + [index.size(-1)]).reshape(_prod(lead), index.size(-1)).long()
    if seg.numel() > 0 and (int(seg.min()) < 0 or int(seg.max()) >= src.size(dim)):
        raise ValueError("index: values must lie in [0, src.size(dim)={})".format(src.size(dim)))
    return _gather(src, seg, dim, out)


# ---------------------------------------------------------------------------------- composite
def _check_floating(src: Tensor, name: str) -> None:
    if not src.is_floating_point():
        raise ValueError(
            "src: {} needs a floating-point tensor, got {}".format(name, src.dtype)
        )


def scatter_softmax(
    src: Tensor, index: Tensor, dim: int = -1, dim_size: Optional[int] = None
) -> Tensor:
    """Softmax of ``src`` within each group of equal ``index`` along ``dim`` (``src``'s shape)."""
    _check_floating(src, "scatter_softmax")
    index = broadcast(index, src, dim)
    peak = scatter_max(src, index, dim, dim_size=dim_size)[0].gather(dim, index)
    exp = (src - peak).exp()
    return exp / scatter_sum(exp, index, dim, dim_size=dim_size).gather(dim, index)


def scatter_log_softmax(
    src: Tensor, index: Tensor, dim: int = -1, eps: float = 1e-12, dim_size: Optional[int] = None
) -> Tensor:
    """Log-softmax of ``src`` within each group of equal ``index`` along ``dim``; ``eps`` is
    added to each group's sum before the log."""
    _check_floating(src, "scatter_log_softmax")
    index = broadcast(index, src, dim)
    shifted = src - scatter_max(src, index, dim, dim_size=dim_size)[0].gather(dim, index)
    total = scatter_sum(shifted.exp(), index, dim, dim_size=dim_size)
    return shifted - (total + eps).log().gather(dim, index)


def scatter_logsumexp(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
    eps: float = 1e-12,
) -> Tensor:
    """``log(sum(exp(src)) + eps)`` per index (0 where none). With ``out``, its values join
    their groups as one more term, and stay where the result is not finite."""
    _check_floating(src, "scatter_logsumexp")
    if dim < 0:
        dim = dim + src.dim()
    index = broadcast(index, src, dim)
    if out is not None:
        num = out.size(dim)
    elif dim_size is not None:
        num = dim_size
    else:
        num = int(index.max()) + 1 if index.numel() > 0 else 0
    size = list(src.size())
    size[dim] = num
    peak = torch.full(size, float("-inf"), dtype=src.dtype, device=src.device)
    if out is not None:
        peak = torch.maximum(peak, out)
    peak = scatter_max(src, index, dim, peak.clone())[0]
    shifted = (src - peak.gather(dim, index)).nan_to_num(nan=float("-inf"))
    total = scatter_sum(shifted.exp(), index, dim, dim_size=num)
    if out is not None:
        total = total + (out - peak).exp().nan_to_num(nan=0.0)
    result = (total + eps).log() + peak
    if out is None:
        return result.nan_to_num(neginf=0.0)
    out.copy_(torch.where(result.isfinite(), result, out))
    return out


def scatter_std(
    src: Tensor,
    index: Tensor,
    dim: int = -1,
    out: Optional[Tensor] = None,
    dim_size: Optional[int] = None,
    unbiased: bool = True,
) -> Tensor:
    """Standard deviation per index, ``sqrt(sum((x - mean)^2) / (n - unbiased + 1e-6))`` as
    torch_scatter computes it (0 where none); with ``out`` the squares are summed into it."""
    _check_floating(src, "scatter_std")
    if dim < 0:
        dim = dim + src.dim()
    if out is not None:
        dim_size = out.size(dim)
    index = broadcast(index, src, dim)
    total = scatter_sum(src, index, dim, dim_size=dim_size)
    count = scatter_sum(torch.ones_like(src), index, dim, dim_size=total.size(dim)).clamp(min=1)
    deviation = src - (total / count).gather(dim, index)
    squares = scatter_sum(deviation * deviation, index, dim, out, total.size(dim))
    if unbiased:
        count = (count - 1).clamp(min=1)
    return (squares / (count + 1e-6)).sqrt()
