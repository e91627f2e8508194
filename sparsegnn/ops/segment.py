"""Public segment reduction over a CSR ``rowptr`` (contiguous groups of rows)."""

from __future__ import annotations

import torch
from torch import Tensor

from .library import segment_reduce_op
from .validate import as_matrix, check_backend, check_features, check_reduce


def check_rowptr(rowptr: object, total: int) -> Tensor:
    """A valid int64 ``rowptr`` over ``total`` items: 1-D, starts at 0, ends at ``total``, monotone."""
    if not isinstance(rowptr, Tensor):
        raise TypeError(f"rowptr: expected a torch.Tensor, got {type(rowptr).__name__}")
    if rowptr.dim() != 1 or rowptr.numel() < 1:
        raise ValueError(f"rowptr: expected a 1-D tensor with at least one entry, got shape {tuple(rowptr.shape)}")
    if rowptr.dtype.is_floating_point or rowptr.dtype == torch.bool:
        raise ValueError(f"rowptr: expected an integer dtype, got {rowptr.dtype}")
    rowptr = rowptr.long()
    if int(rowptr[0]) != 0 or int(rowptr[-1]) != total:
        raise ValueError(f"rowptr: must start at 0 and end at src.shape[0] = {total}, got {int(rowptr[0])}..{int(rowptr[-1])}")
    if bool((rowptr.diff() < 0).any()):
        raise ValueError("rowptr: must be non-decreasing")
    return rowptr.contiguous()


def segment_reduce(src: Tensor, rowptr: Tensor, reduce: str = "sum", backend: str = "auto", return_arg: bool = False):
    """Reduce each segment ``src[rowptr[i]:rowptr[i+1]]`` to one row.

    Args:
        src: floating ``[E, *]``.
        rowptr: integer ``[N + 1]`` segment boundaries (``0 = rowptr[0] <= ... <= rowptr[N] = E``).
        reduce: ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.
        backend: ``"auto"`` or a registered backend name.
        return_arg: for max/min, also return the int64 arg (position in ``src``, ``E`` when empty).

    Returns:
        ``[N, *]`` in ``src``'s dtype; empty segments give 0.
    """
    if not isinstance(src, Tensor):
        raise TypeError(f"src: expected a torch.Tensor, got {type(src).__name__}")
    rowptr = check_rowptr(rowptr, src.shape[0] if src.dim() > 0 else -1)
    src = check_features(src, src.shape[0], rowptr.device, "src")
    reduce, backend = check_reduce(reduce), check_backend(backend)
    if return_arg and reduce not in ("max", "min"):
        raise ValueError(f"return_arg: only max and min have an arg, not {reduce!r}")
    out, arg = segment_reduce_op(as_matrix(src), rowptr, reduce, backend)
    shape = (rowptr.numel() - 1, *src.shape[1:])
    return (out.view(shape), arg.view(shape)) if return_arg else out.view(shape)


def segment_log_softmax(src: Tensor, rowptr: Tensor, backend: str = "auto") -> Tensor:
    r"""Log-softmax within each segment ``src[rowptr[i]:rowptr[i+1]]`` (e.g. over each node's
    incoming edges, in CSR order):

    .. math::
        \log \operatorname{softmax}(s)_e = s_e - m_i - \log \sum_{e' \in i} \exp(s_{e'} - m_i),
        \qquad m_i = \max_{e' \in i} s_{e'}

    built on :func:`segment_reduce` (max, then sum); ``m_i`` is detached (the result does not
    depend on it), so the gradient is the softmax's. Empty segments have no entries.

    Args:
        src: floating ``[E, *]`` scores.
        rowptr: integer ``[N + 1]`` segment boundaries.
        backend: as :func:`segment_reduce`.

    Returns:
        ``[E, *]`` in ``src``'s dtype; differentiable in ``src``.
    """
    rowptr = check_rowptr(rowptr, src.shape[0] if isinstance(src, Tensor) and src.dim() > 0 else -1)
    if not src.is_floating_point():
        raise TypeError(f"src: expected a floating tensor, got {src.dtype}")
    counts = rowptr.diff()

    def expand(per_segment: Tensor) -> Tensor:  # [N, *] -> [E, *], each segment's value on its entries
        return per_segment.repeat_interleave(counts, dim=0, output_size=src.shape[0])

    shifted = src - expand(segment_reduce(src.detach(), rowptr, "max", backend))
    return shifted - expand(segment_reduce(shifted.exp(), rowptr, "sum", backend).log())


def segment_softmax(src: Tensor, rowptr: Tensor, backend: str = "auto") -> Tensor:
    """Softmax within each segment: ``exp(`` :func:`segment_log_softmax` ``)``; each non-empty
    segment sums to 1. Shapes as :func:`segment_log_softmax`."""
    return segment_log_softmax(src, rowptr, backend).exp()
