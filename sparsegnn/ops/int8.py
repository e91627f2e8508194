"""INT8 SpMM for inference: quantization helpers, the public op and its plain-torch reference.

The op computes, with int32 accumulation,

    acc[i, f] = sum_{e in row i} vq[e] * xq[col[e], f]
    out[i, f] = acc[i, f] * row_scale[i] * col_scale[f]            (float32 [N, F])

where ``xq`` is int8 node features with a per-tensor or per-channel scale (``x ~= xq * x_scale``)
and ``vq`` the edge weights quantized to int8 with one scale per destination row
(``row_scale[i] = max |value| in row i / 127``; unweighted graphs use ``vq = 1``,
``row_scale = 1``). On CPU the C++ kernel (``torch.ops.sparsegnn_C.spmm_int8``) adds unweighted
rows in int16 (sign-extended int8, widened to int32 every 256 edges; AVX-512 or AVX2), multiplies
weighted ones with AVX-512 VNNI, AVX-VNNI or AVX2 (vpmaddwd), and has a portable loop, with identical
results (``SPARSEGNN_ISA`` forces a path). No autograd: an inference op.

Functions:
    quantize_per_tensor(x, bits=8) -> (xq int8 [N, F], scale float32 [1])
    quantize_per_channel(x, bits=8) -> (xq int8 [N, F], scale float32 [F])
    quantize_edge_weights(rowptr, value) -> (vq int8 [nnz], row_scale float32 [N])
    spmm_int8(graph, xq, x_scale, edge_scale_mode="row", backend="auto") -> float32 [N, F]
    requantize(out, scale, bits=8) -> int8

The kernels run through the dispatched custom op ``sparsegnn::spmm_int8`` (``ops.library``); the
``torch`` backend holds the plain-torch reference.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..graph import Graph
from .backends.reference import row_index
from .library import spmm_int8_op
from .validate import check_backend, check_graph

__all__ = [
    "quantize_edge_weights",
    "quantize_per_channel",
    "quantize_per_tensor",
    "requantize",
    "spmm_int8",
]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _qmax(bits: int) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 8:
        raise ValueError(f"bits: expected an int in [2, 8], got {bits!r}")
    return (1 << (bits - 1)) - 1


def _check_float(x: Any, name: str, dim: int | None = None) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{name}: expected a floating tensor (float16/bfloat16/float32/float64), got {x.dtype}")
    if dim is not None and x.dim() != dim:
        raise ValueError(f"{name}: expected a {dim}-D tensor, got shape {tuple(x.shape)}")


@torch.no_grad()
def quantize_per_tensor(x: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Symmetric per-tensor quantization: ``xq = round(x / scale)``, ``scale = max|x| / qmax``.

    Args:
        x: floating ``[N, F]``.
        bits: 2..8; values are clamped to ``[-qmax, qmax]``, ``qmax = 2**(bits-1) - 1``.

    Returns:
        ``(xq, scale)``: int8 ``[N, F]`` and float32 ``[1]`` (1.0 where ``x`` is all zero).
    """
    _check_float(x, "x", 2)
    q = _qmax(bits)
    amax = x.detach().abs().max().float() if x.numel() else torch.zeros((), dtype=torch.float32, device=x.device)
    scale = torch.where(amax > 0, amax / q, torch.ones_like(amax)).reshape(1)
    xq = torch.clamp(torch.round(x.float() / scale), -q, q).to(torch.int8)
    return xq.contiguous(), scale


@torch.no_grad()
def quantize_per_channel(x: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Symmetric per-channel (per feature column) quantization.

    Args:
        x: floating ``[N, F]``.
        bits: 2..8.

    Returns:
        ``(xq, scale)``: int8 ``[N, F]`` and float32 ``[F]`` (1.0 for all-zero columns).
    """
    _check_float(x, "x", 2)
    q = _qmax(bits)
    if x.shape[0]:
        amax = x.detach().abs().amax(dim=0).float()
    else:
        amax = torch.zeros(x.shape[1], dtype=torch.float32, device=x.device)
    scale = torch.where(amax > 0, amax / q, torch.ones_like(amax))
    xq = torch.clamp(torch.round(x.float() / scale), -q, q).to(torch.int8)
    return xq.contiguous(), scale


@torch.no_grad()
def quantize_edge_weights(rowptr: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    """Edge weights to int8 with one scale per destination row.

    ``row_scale[i] = max |value| over row i / 127`` (1.0 for empty or all-zero rows) and
    ``vq[e] = round(value[e] / row_scale[row(e)])``.

    Returns:
        ``(vq, row_scale)``: int8 ``[nnz]`` and float32 ``[N]``.
    """
    _check_float(value, "value", 1)
    n = rowptr.numel() - 1
    row = row_index(rowptr, value.numel())
    amax = torch.zeros(n, dtype=torch.float32, device=value.device)
    if value.numel():
        amax = amax.scatter_reduce(0, row, value.detach().abs().float(), "amax", include_self=True)
    row_scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    vq = torch.clamp(torch.round(value.float() / row_scale[row]), -127, 127).to(torch.int8)
    return vq.contiguous(), row_scale


@torch.no_grad()
def spmm_int8(
    graph: Graph, xq: Tensor, x_scale: Tensor | float, edge_scale_mode: str = "row", backend: str = "auto"
) -> Tensor:
    """INT8 SpMM ``out = A @ (xq * x_scale)`` with int32 accumulation; float32 ``[N, F]``.

    Args:
        graph: a :class:`sparsegnn.Graph` (``rowptr``, ``col``, ``value`` or None, ``num_nodes``,
            ``num_cols``). Edge weights, when present, are quantized to int8 per destination row
            (once per graph: cached with ``graph.memo``).
        xq: int8 ``[num_cols, F]`` quantized node features.
        x_scale: their scale: a float, a float tensor with one element (per tensor) or ``[F]``
            (per channel).
        edge_scale_mode: ``"row"`` (one scale per destination row; the only mode).
        backend: ``"auto"`` or a backend with INT8 SpMM (``cpu``, ``cuda``, ``triton``, ``torch``).

    Returns:
        float32 ``[num_nodes, F]``.
    """
    graph = check_graph(graph)
    backend = check_backend(backend)
    if edge_scale_mode != "row":
        raise ValueError(f"edge_scale_mode: expected 'row', got {edge_scale_mode!r}")
    if not isinstance(xq, Tensor):
        raise TypeError(f"xq: expected a torch.Tensor, got {type(xq).__name__}")
    if xq.dtype != torch.int8:
        raise TypeError(f"xq: expected dtype int8, got {xq.dtype}")
    if xq.dim() != 2:
        raise ValueError(f"xq: expected a 2-D tensor [num_cols, F], got shape {tuple(xq.shape)}")
    if xq.shape[0] != graph.num_cols:
        raise ValueError(f"xq: expected {graph.num_cols} rows (graph.num_cols), got {xq.shape[0]}")
    rowptr, col = graph.rowptr, graph.col
    if xq.device != rowptr.device:
        raise ValueError(f"xq: on {xq.device} but the graph is on {rowptr.device}")
    feat = xq.shape[1]
    if isinstance(x_scale, (int, float)) and not isinstance(x_scale, bool):
        x_scale = torch.tensor([float(x_scale)])
    if not isinstance(x_scale, Tensor):
        raise TypeError(f"x_scale: expected a float or a tensor, got {type(x_scale).__name__}")
    if not x_scale.dtype.is_floating_point:
        raise TypeError(f"x_scale: expected a floating tensor, got {x_scale.dtype}")
    if x_scale.numel() == 1:
        col_scale = x_scale.reshape(1).float().expand(feat)
    elif x_scale.dim() == 1 and x_scale.numel() == feat:
        col_scale = x_scale.float()
    else:
        raise ValueError(f"x_scale: expected one element or shape [F] = [{feat}], got shape {tuple(x_scale.shape)}")
    col_scale = col_scale.to(xq.device).contiguous()
    n = graph.num_nodes
    if graph.value is not None:
        vq, row_scale = graph.memo("int8_edge_weights", lambda: quantize_edge_weights(rowptr, graph.value))
    else:
        vq, row_scale = None, torch.ones(n, dtype=torch.float32, device=xq.device)
    return spmm_int8_op(rowptr, col, vq, xq.contiguous(), row_scale.contiguous(), col_scale, backend)


@torch.no_grad()
def requantize(out: Tensor, scale: Tensor | float, bits: int = 8) -> Tensor:
    """``clamp(round(out / scale), -qmax, qmax)`` as int8 (scale: a float, [1] or [F])."""
    _check_float(out, "out")
    q = _qmax(bits)
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        scale = torch.tensor(float(scale), device=out.device)
    if not isinstance(scale, Tensor):
        raise TypeError(f"scale: expected a float or a tensor, got {type(scale).__name__}")
    if scale.numel() != 1 and (out.dim() < 1 or scale.shape[-1:] != out.shape[-1:]):
        raise ValueError(f"scale: expected one element or [F] = [{out.shape[-1]}], got shape {tuple(scale.shape)}")
    if bool((scale <= 0).any()):
        raise ValueError("scale: expected positive values")
    return torch.clamp(torch.round(out.float() / scale.float()), -q, q).to(torch.int8)
