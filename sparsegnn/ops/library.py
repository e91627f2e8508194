"""The ``torch.library`` custom ops behind the public ops: schemas, fake kernels and autograd.

Every public op calls exactly one of these, so ``torch.compile`` sees an opaque node with a
fake (meta) implementation instead of tracing into a backend. Each op takes the backend name
as a string; the name is resolved (``auto`` through ``ops.policy``) inside the op, at run time.

Backward formulas (``A`` the CSR, ``A^T`` its cached transpose ``t_*``):

- spmm sum:  dx = A^T g,  dvalue = sddmm(A, g, x);   mean: the same with ``g / count``.
- spmm max/min:  dx scatters ``g * value[arg]`` to ``col[arg]``; dvalue[e] sums ``g * x[col[e]]``
  over the features whose arg is ``e``. Rows with no entries get no gradient.
- segment_reduce: dsrc gathers ``g`` rows (``/ count`` for mean) or scatters to ``arg``.
- sddmm:  da = A(dout) b,  db = A^T(dout) a.

The ops are defined through ``torch.library.Library`` rather than ``torch.library.custom_op``:
the same schemas, tags, fake kernels and autograd, but the first call of a process does not
import ``torch._dynamo`` (1-3 s; see ``_kernel``).
"""

import functools
import sys
from collections.abc import Callable
from typing import Optional

import torch
from torch import Tensor

from .dispatch import Backend
from .policy import resolve

_EMPTY_ARG_SHAPE = (0,)
_LIB = torch.library.Library("sparsegnn", "FRAGMENT")


def _kernel(fn: Callable) -> Callable:
    """``fn`` as an op's kernel, kept out of torch.compile's frame tracing as custom_op keeps it.

    custom_op wraps each kernel in ``torch._disable_dynamo``, which imports ``torch._dynamo`` at
    the first call. Nothing can be compiling before something has imported it, so until then the
    kernel runs bare, and from then on through that same wrapper.
    """
    no_dynamo = None

    @functools.wraps(fn)
    def kernel(*args, **kwargs):
        nonlocal no_dynamo
        if no_dynamo is None:
            if "torch._dynamo" not in sys.modules:
                return fn(*args, **kwargs)
            no_dynamo = torch._disable_dynamo(fn)
        return no_dynamo(*args, **kwargs)

    return kernel


def _custom_op(fn: Callable) -> torch._ops.OpOverload:
    """Define ``sparsegnn::<name>`` (``fn``'s name less ``_op``) with the schema custom_op infers
    from ``fn``'s type hints and its tag, and ``fn`` as the kernel on every device; returns the op."""
    name = fn.__name__.removesuffix("_op")
    schema = torch.library.infer_schema(fn, mutates_args=())
    _LIB.define(name + schema, tags=(torch.Tag.pt2_compliant_tag,))
    _LIB.impl(name, _kernel(fn), "CompositeExplicitAutograd")
    return getattr(torch.ops.sparsegnn, name).default


def _register(op: torch._ops.OpOverload, fake: Callable, backward: Optional[Callable] = None,
              setup_context: Optional[Callable] = None) -> None:
    """The fake kernel and the autograd formula of ``op``; without ``backward``, differentiating
    through it raises (as a custom_op with no registered autograd does)."""
    qualname = op._schema.name
    torch.library.register_fake(qualname, fake, lib=_LIB)

    def no_backward(ctx, *grads):
        raise RuntimeError(f"Trying to backward through {qualname}, which has no autograd formula")

    torch.library.register_autograd(qualname, backward or no_backward, setup_context=setup_context, lib=_LIB)


def _has_arg(reduce: str) -> bool:
    return reduce in ("max", "min")


# ---------------------------------------------------------------------------------------- spmm
@_custom_op
def spmm_op(
    rowptr: Tensor,
    col: Tensor,
    value: Optional[Tensor],
    x: Tensor,
    reduce: str,
    backend: str,
    t_rowptr: Optional[Tensor],
    t_col: Optional[Tensor],
    t_perm: Optional[Tensor],
    need_arg: bool = True,
) -> tuple[Tensor, Tensor]:
    """``(out [N, F], arg)`` with ``out[i] = reduce_e value[e] * x[col[e]]``; ``t_*`` is the
    transpose (colptr, row, perm) needed by the backward pass w.r.t. ``x`` (None otherwise;
    ``t_perm`` alone None: a symmetric graph, whose transpose's values are ``value`` itself).
    ``need_arg=False`` (forward-only calls): max/min return an empty arg, and backends that can
    (the ``cpu`` kernels) skip tracking it."""
    impl = _spmm_backend(rowptr, col, value, x, reduce, backend)
    out, arg = impl.spmm(rowptr, col, value, x, reduce, need_arg)
    return out, arg if need_arg or arg.numel() == 0 else arg.new_empty(_EMPTY_ARG_SHAPE)


def _spmm_backend(rowptr, col, value, x, reduce, backend, *_transpose) -> Backend:
    return resolve(
        "spmm", backend, x.device, x.dtype, rowptr.numel() - 1, x.shape[0], col.numel(), reduce, feat=x.shape[1]
    )


def _spmm_fake(rowptr, col, value, x, reduce, backend, t_rowptr, t_col, t_perm, need_arg=True):
    num_rows = rowptr.shape[0] - 1
    out = x.new_empty(num_rows, x.shape[1])
    arg_shape = (num_rows, x.shape[1]) if _has_arg(reduce) and need_arg else _EMPTY_ARG_SHAPE
    return out, x.new_empty(arg_shape, dtype=torch.int64)


def _spmm_setup(ctx, inputs, output):
    rowptr, col, value, x, reduce, backend, t_rowptr, t_col, t_perm, need_arg = inputs
    ctx.reduce, ctx.backend, ctx.num_cols, ctx.need_arg = reduce, backend, x.shape[0], need_arg
    ctx.save_for_backward(rowptr, col, value, x, t_rowptr, t_col, t_perm, output[1])


def _spmm_backward(ctx, grad_out, _grad_arg):
    rowptr, col, value, x, t_rowptr, t_col, t_perm, arg = ctx.saved_tensors
    needs_value, needs_x = ctx.needs_input_grad[2], ctx.needs_input_grad[3]
    grad = grad_out.contiguous()
    grad_value = grad_x = None
    if ctx.reduce in ("sum", "mean"):
        if ctx.reduce == "mean":
            grad = grad / rowptr.diff().clamp(min=1).unsqueeze(1).to(grad.dtype)
        if needs_x:
            if t_rowptr is None:
                raise RuntimeError("spmm backward: the transpose was not passed to the forward op")
            t_value = value if value is None or t_perm is None else value[t_perm]
            grad_x = spmm_op(t_rowptr, t_col, t_value, grad, "sum", ctx.backend, None, None, None)[0]
        if needs_value:
            grad_value = sddmm_op(rowptr, col, grad, x, ctx.backend, None, None, None)
    else:
        if not ctx.need_arg:
            raise RuntimeError("spmm backward: max/min ran with need_arg=False, so there is no arg to route gradients")
        if needs_x:
            grad_x = spmm_arg_backward_op(col, value, arg, grad, ctx.num_cols, ctx.backend)
        if needs_value:
            grad_value = _arg_value_grad(col, arg, grad, x)
    return None, None, grad_value, grad_x, None, None, None, None, None, None


def _arg_value_grad(col: Tensor, arg: Tensor, grad: Tensor, x: Tensor) -> Tensor:
    """dvalue[e] = sum over (i, f) with arg[i, f] == e of grad[i, f] * x[col[e], f]."""
    nnz = col.numel()
    out = grad.new_zeros(nnz)
    valid = arg < nnz
    edges = arg[valid]
    features = valid.nonzero()[:, 1]
    contribution = grad[valid] * x[col.long()[edges], features]
    return out.index_add_(0, edges, contribution)


_register(spmm_op, _spmm_fake, _spmm_backward, _spmm_setup)


# ---------------------------------------------------------------------------- spmm_arg_backward
@_custom_op
def spmm_arg_backward_op(
    col: Tensor, value: Optional[Tensor], arg: Tensor, grad_out: Tensor, num_cols: int, backend: str
) -> Tensor:
    """``[num_cols, F]``: grad_out scattered to ``col[arg]`` (times ``value[arg]``)."""
    impl = _spmm_arg_backward_backend(col, value, arg, grad_out, num_cols, backend)
    return impl.spmm_arg_backward(col, value, arg, grad_out, num_cols)


def _spmm_arg_backward_backend(col, value, arg, grad_out, num_cols, backend) -> Backend:
    return resolve(
        "spmm_arg_backward", backend, grad_out.device, grad_out.dtype, grad_out.shape[0], num_cols, col.numel(),
        strict=False, feat=grad_out.shape[1],
    )


def _spmm_arg_backward_fake(col, value, arg, grad_out, num_cols, backend):
    return grad_out.new_empty(num_cols, grad_out.shape[1])


_register(spmm_arg_backward_op, _spmm_arg_backward_fake)


# -------------------------------------------------------------------------------------- sddmm
@_custom_op
def sddmm_op(
    rowptr: Tensor,
    col: Tensor,
    a: Tensor,
    b: Tensor,
    backend: str,
    t_rowptr: Optional[Tensor],
    t_col: Optional[Tensor],
    t_perm: Optional[Tensor],
) -> Tensor:
    """``[nnz]``: ``out[e] = dot(a[row(e)], b[col[e]])``."""
    return _sddmm_backend(rowptr, col, a, b, backend).sddmm(rowptr, col, a, b)


def _sddmm_backend(rowptr, col, a, b, backend, *_transpose) -> Backend:
    return resolve(
        "sddmm", backend, a.device, a.dtype, a.shape[0], b.shape[0], col.numel(), feat=a.shape[1]
    )


def _sddmm_fake(rowptr, col, a, b, backend, t_rowptr, t_col, t_perm):
    return a.new_empty(col.shape[0])


def _sddmm_setup(ctx, inputs, output):
    rowptr, col, a, b, backend, t_rowptr, t_col, t_perm = inputs
    ctx.backend = backend
    ctx.save_for_backward(rowptr, col, a, b, t_rowptr, t_col, t_perm)


def _sddmm_backward(ctx, grad_out):
    rowptr, col, a, b, t_rowptr, t_col, t_perm = ctx.saved_tensors
    grad = grad_out.contiguous()
    grad_a = grad_b = None
    if ctx.needs_input_grad[2]:
        grad_a = spmm_op(rowptr, col, grad, b, "sum", ctx.backend, None, None, None)[0]
    if ctx.needs_input_grad[3]:
        if t_rowptr is None:
            raise RuntimeError("sddmm backward: the transpose was not passed to the forward op")
        grad_b = spmm_op(t_rowptr, t_col, grad[t_perm], a, "sum", ctx.backend, None, None, None)[0]
    return None, None, grad_a, grad_b, None, None, None, None


_register(sddmm_op, _sddmm_fake, _sddmm_backward, _sddmm_setup)


# ----------------------------------------------------------------------------- segment_reduce
@_custom_op
def segment_reduce_op(src: Tensor, rowptr: Tensor, reduce: str, backend: str) -> tuple[Tensor, Tensor]:
    """``(out [N, F], arg)``: ``out[i] = reduce(src[rowptr[i]:rowptr[i+1]])``."""
    return _segment_reduce_backend(src, rowptr, reduce, backend).segment_reduce(src, rowptr, reduce)


def _segment_reduce_backend(src, rowptr, reduce, backend) -> Backend:
    return resolve(
        "segment_reduce", backend, src.device, src.dtype, rowptr.numel() - 1, src.shape[0], src.shape[0], reduce,
        feat=src.shape[1],
    )


def _segment_reduce_fake(src, rowptr, reduce, backend):
    num_rows = rowptr.shape[0] - 1
    arg_shape = (num_rows, src.shape[1]) if _has_arg(reduce) else _EMPTY_ARG_SHAPE
    return src.new_empty(num_rows, src.shape[1]), src.new_empty(arg_shape, dtype=torch.int64)


def _segment_setup(ctx, inputs, output):
    src, rowptr, reduce, backend = inputs
    ctx.reduce, ctx.num_src = reduce, src.shape[0]
    ctx.save_for_backward(rowptr, output[1])


def _segment_backward(ctx, grad_out, _grad_arg):
    rowptr, arg = ctx.saved_tensors
    grad = grad_out.contiguous()
    if ctx.reduce in ("sum", "mean"):
        count = rowptr.diff()
        if ctx.reduce == "mean":
            grad = grad / count.clamp(min=1).unsqueeze(1).to(grad.dtype)
        rows = torch.arange(count.numel(), device=rowptr.device)
        return grad.index_select(0, torch.repeat_interleave(rows, count, output_size=ctx.num_src)), None, None, None
    feat = grad.shape[1]
    valid = arg < ctx.num_src
    flat = (arg * feat + torch.arange(feat, device=arg.device))[valid]
    grad_src = grad.new_zeros(ctx.num_src * feat).index_put_((flat,), grad[valid])
    return grad_src.view(ctx.num_src, feat), None, None, None


_register(segment_reduce_op, _segment_reduce_fake, _segment_backward, _segment_setup)


# ---------------------------------------------------------------------------------- spmm_int8
@_custom_op
def spmm_int8_op(
    rowptr: Tensor,
    col: Tensor,
    value: Optional[Tensor],
    xq: Tensor,
    row_scale: Tensor,
    col_scale: Tensor,
    backend: str,
) -> Tensor:
    """float32 ``[N, F]``: int32-accumulated ``sum_e value[e] * xq[col[e]]`` times
    ``row_scale[i] * col_scale[f]`` (inference only: no autograd)."""
    impl = _spmm_int8_backend(rowptr, col, value, xq, row_scale, col_scale, backend)
    return impl.spmm_int8(rowptr, col, value, xq, row_scale, col_scale)


def _spmm_int8_backend(rowptr, col, value, xq, row_scale, col_scale, backend) -> Backend:
    return resolve(
        "spmm_int8", backend, xq.device, None, rowptr.numel() - 1, xq.shape[0], col.numel(), feat=xq.shape[1]
    )


def _spmm_int8_fake(rowptr, col, value, xq, row_scale, col_scale, backend):
    return xq.new_empty((rowptr.shape[0] - 1, xq.shape[1]), dtype=torch.float32)


_register(spmm_int8_op, _spmm_int8_fake)


# The backend each op resolves to, from the op's own arguments (for tools such as
# ``profile.profile_ops`` that observe op calls).
BACKEND_RESOLVERS = {
    "spmm": _spmm_backend,
    "spmm_arg_backward": _spmm_arg_backward_backend,
    "sddmm": _sddmm_backend,
    "segment_reduce": _segment_reduce_backend,
    "spmm_int8": _spmm_int8_backend,
}
