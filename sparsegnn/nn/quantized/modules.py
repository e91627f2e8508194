r"""Integer inference layers.

Every activation between steps is a :class:`QTensor`: int8 values ``q`` on the symmetric grid
and a float32 scale (``x ~= q * scale``, per tensor). A step multiplies int8 by int8 with int32
accumulation and requantises the int32 result to the next int8 grid:

.. math::
    q_{out} = \mathrm{clamp}(\mathrm{round}(acc \cdot s_x s_w / s_{out} + b / s_{out}),
    -q_{max}, q_{max})

with a float32 multiplier (the requantisation of PyTorch's reference quantised ops; no
integer-only fixed-point multiplier). Float appears only at the model's input (quantised by the
first layer) and output (the last layer's int8 logits times their scale). The steps:

- :class:`QuantizedLinear`: ``acc = x_q W_q^T`` by :func:`int_matmul` (``torch._int_mm``).
- aggregation: :func:`sparsegnn.ops.spmm_int8` (int8 features, int8 edge weights with one scale
  per destination row, int32 accumulation), requantised to the aggregation's grid.
- EGConv's per-node combination: int32 products of int8 combination weights and int8 aggregates.

Modules are built with their sizes (``load`` rebuilds them from :meth:`config`) and filled by
``load_state_dict`` (``sparsegnn.quant`` converts a QAT model so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ... import ops
from ...graph import Graph
from ..aggregation import target_rows
from ..norm import as_graph, gcn_norm


@dataclass
class QTensor:
    """int8 ``q`` ``[N, F]`` and its float32 ``scale`` (one element): ``x ~= q * scale``."""

    q: Tensor
    scale: Tensor

    def dequantize(self) -> Tensor:
        """Float32 ``q * scale``."""
        return self.q.float() * self.scale


def _qmax(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def _requantize_math(x: Tensor, multiplier: Tensor, offset: Tensor, qmax: int, levels: bool, low: int) -> Tensor:
    y = x.to(torch.float32)
    if levels:
        y = torch.clamp(torch.round(y), -qmax, qmax)
    return torch.clamp(torch.round(y * multiplier + offset), low, qmax).to(torch.int8)


_COMPILED: list = []


def _compiled_requantize():  # noqa: ANN202
    """``_requantize_math`` through ``torch.compile`` (one fused pass; compiled once, lazily)."""
    if not _COMPILED:
        _COMPILED.append(torch.compile(_requantize_math, dynamic=True))
    return _COMPILED[0]


def requantize(x: Tensor, multiplier: Tensor | float, bits: int, offset: Tensor | None = None,
               levels: bool = False, inplace: bool = False, compiled: bool = False, relu: bool = False) -> Tensor:
    """int8 ``clamp(round(y * multiplier + offset), -qmax, qmax)`` of an int32 or float32 ``x``,
    with ``y = x``, or with ``levels``, ``y = clamp(round(x), -qmax, qmax)`` (``x`` a float
    result in units of a grid, requantised on to the next). ``multiplier``, ``offset``: float32,
    broadcast over the last dimension. ``inplace``: a float32 ``x`` serves as scratch.
    ``compiled``: one fused pass (``torch.compile``) instead of one pass per operation. ``relu``:
    clamp at 0 instead of ``-qmax`` (a ReLU after the quantiser, exact: the grid is symmetric)."""
    qmax = _qmax(bits)
    low = 0 if relu else -qmax
    if compiled:
        multiplier = torch.as_tensor(multiplier, dtype=torch.float32)
        offset = torch.zeros((), dtype=torch.float32) if offset is None else offset
        return _compiled_requantize()(x, multiplier, offset, qmax, levels, low)
    y = x.to(torch.float32) if x.dtype != torch.float32 or not inplace else x
    if y is x and not inplace:
        y = x.clone()
    if levels:
        y.round_().clamp_(-qmax, qmax)
    y.mul_(multiplier)
    if offset is not None:
        y.add_(offset)
    return y.round_().clamp_(low, qmax).to(torch.int8)


class IntModule(torch.nn.Module):
    """What the integer modules share: the grid (``bits``) and how they requantise
    (``compiled``: one fused ``torch.compile`` pass per requantisation; the first call compiles,
    seconds)."""

    def __init__(self, bits: int, compiled: bool) -> None:
        super().__init__()
        self.bits, self.compiled = bits, compiled

    def requant(self, x: Tensor, multiplier: Tensor | float, offset: Tensor | None = None, levels: bool = False,
                inplace: bool = False, relu: bool = False) -> Tensor:
        """:func:`requantize` on this module's grid."""
        return requantize(x, multiplier, self.bits, offset, levels, inplace, self.compiled, relu)

    def to_grid(self, x: Tensor | QTensor, scale: Tensor, relu: bool = False) -> QTensor:
        """``x`` on the grid of ``scale`` (then ``relu``): a float input (dense or sparse COO)
        quantised, a :class:`QTensor` requantised (as it is when already there)."""
        if isinstance(x, QTensor):
            if torch.equal(x.scale, scale) and not relu:
                return x
            return QTensor(self.requant(x.q, x.scale / scale, relu=relu), scale)
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a float tensor or a QTensor, got {type(x).__name__}")
        if x.is_sparse:
            x = x.to_dense()
        return QTensor(self.requant(x, 1.0 / scale), scale)

    def aggregate(self, graph: Graph, x: QTensor, scale: Tensor, backend: str) -> QTensor:
        """``A x`` (:func:`aggregate`) as an int8 :class:`QTensor` of ``scale``."""
        return QTensor(self.requant(aggregate(graph, x, scale, backend), 1.0, levels=True, inplace=True), scale)

    def add(self, a: QTensor, b: QTensor, scale: Tensor, relu: bool = False) -> QTensor:
        """``a + b`` requantised to ``scale`` (then ``relu``)."""
        y = a.q.to(torch.float32).mul_(a.scale / scale)
        y.add_(b.q.to(torch.float32).mul_(b.scale / scale))
        return QTensor(self.requant(y, 1.0, inplace=True, relu=relu), scale)


def int_matmul(a: Tensor, b: Tensor) -> Tensor:
    """int32 ``a @ b`` of int8 ``a`` ``[M, K]`` and ``b`` ``[K, N]``: ``torch._int_mm`` (on
    CUDA it needs ``M > 16`` and ``K``, ``N`` multiples of 8: the operands are zero-padded), or
    an int32 matmul where ``torch._int_mm`` is missing."""
    if a.dtype != torch.int8 or b.dtype != torch.int8:
        raise TypeError(f"a, b: expected int8 tensors, got {a.dtype} and {b.dtype}")
    if not hasattr(torch, "_int_mm"):
        return a.to(torch.int32) @ b.to(torch.int32)
    m, k = a.shape
    n = b.shape[1]
    if a.device.type != "cuda":
        return torch._int_mm(a, b)
    pad_m, pad_k, pad_n = max(0, 17 - m), -k % 8, -n % 8
    if pad_m or pad_k:
        a = torch.nn.functional.pad(a, (0, pad_k, 0, pad_m))
    if pad_k or pad_n:
        b = torch.nn.functional.pad(b, (0, pad_n, 0, pad_k))
    return torch._int_mm(a, b)[:m, :n]


def aggregate(graph: Graph, x: QTensor, scale: Tensor, backend: str) -> Tensor:
    """``A x`` by :func:`sparsegnn.ops.spmm_int8`, float32 ``[N, F]`` in units of ``scale`` (the
    kernel's column scale is ``x.scale / scale``), before rounding: :func:`requantize` with
    ``levels`` takes it on."""
    return ops.spmm_int8(graph, x.q, x.scale / scale, backend=backend)


def mean_graph(graph: Graph) -> Graph:
    """``graph`` weighted ``1 / in-degree`` per row (mean aggregation as a weighted sum; the INT8
    kernel's per-row edge scale holds ``1 / deg`` exactly). Cached on the graph."""

    def compute() -> Graph:
        degree = graph.in_degree().clamp(min=1).to(torch.float32)
        return graph.with_value((1.0 / degree)[graph.row_index()])

    return graph.memo("mean_graph", compute)


class QuantizedLinear(IntModule):
    """``y_q = requant(x_q W_q^T, s_x s_w / s_y, b / s_y)``.

    Args:
        in_features, out_features (int): sizes.
        bias (bool): a float32 bias (added at the requantisation).
        bits (int): the activations' grid (2..8; int8 storage).
        input_scale (bool): the layer quantises its own input (an MLP layer) to the buffer
            ``input_scale``; otherwise the caller hands it a :class:`QTensor` on the right grid.
        compiled (bool): fused requantisation (see :class:`IntModule`).

    Buffers: ``weight`` int8 ``[in, out]`` (``W_q^T``, the ``_int_mm`` operand), ``weight_scale``
    float32 ``[out]``, ``bias`` float32 ``[out]``, ``output_scale`` float32 ``[1]``.
    Shapes: input ``[N, in]``, output :class:`QTensor` ``[N, out]``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool, bits: int = 8,
                 input_scale: bool = False, compiled: bool = False) -> None:
        super().__init__(bits, compiled)
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.zeros(in_features, out_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self.register_buffer("output_scale", torch.ones(1))
        self.register_buffer("input_scale", torch.ones(1) if input_scale else None)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias is not None,
                "bits": self.bits, "input_scale": self.input_scale is not None, "compiled": self.compiled}

    def forward(self, x: QTensor | Tensor, graph: Any = None, relu: bool = False) -> QTensor:
        if self.input_scale is not None:
            x = self.to_grid(x, self.input_scale)
        acc = int_matmul(x.q, self.weight)
        multiplier = x.scale * self.weight_scale / self.output_scale
        offset = None if self.bias is None else self.bias / self.output_scale
        return QTensor(self.requant(acc, multiplier, offset, relu=relu), self.output_scale)


class QuantizedConv(IntModule):
    """Shared buffers of the converted convs: ``input_scale``, ``aggr_scale`` and
    ``output_scale`` (float32 ``[1]``); ``bits``, ``compiled``; the SpMM ``backend``."""

    def __init__(self, bits: int, backend: str, compiled: bool) -> None:
        super().__init__(bits, compiled)
        self.backend = backend
        self.register_buffer("input_scale", torch.ones(1))
        self.register_buffer("aggr_scale", torch.ones(1))
        self.register_buffer("output_scale", torch.ones(1))


class QuantizedGCNConv(QuantizedConv):
    r"""Integer GCNConv: ``x_q -> (x W)_q -> (\hat{A} x W)_q -> (\hat{A} x W + b)_q``.

    Args:
        in_channels, out_channels (int): sizes.
        bias (bool): a float32 bias.
        normalize, improved, add_self_loops (bool): the float layer's normalisation.
        bits (int), backend (str), compiled (bool): the grid, the ``spmm_int8`` backend, fused
            requantisation.

    Shapes: ``x`` float ``[N, in]`` (dense or sparse) or a :class:`QTensor`, ``graph`` any
    adjacency GCNConv takes; output :class:`QTensor` ``[N, out]``.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, normalize: bool = True,
                 improved: bool = False, add_self_loops: bool = True, bits: int = 8, backend: str = "auto",
                 compiled: bool = False) -> None:
        super().__init__(bits, backend, compiled)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.normalize, self.improved, self.add_self_loops = normalize, improved, add_self_loops
        self.lin = QuantizedLinear(in_channels, out_channels, False, bits, compiled=compiled)
        self.register_buffer("bias", torch.zeros(out_channels) if bias else None)

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "bias": self.bias is not None,
                "normalize": self.normalize, "improved": self.improved, "add_self_loops": self.add_self_loops,
                "bits": self.bits, "backend": self.backend, "compiled": self.compiled}

    def forward(self, x: QTensor | Tensor, graph: Any, relu: bool = False) -> QTensor:
        x = self.to_grid(x, self.input_scale)
        n = x.q.size(0)
        if self.normalize:
            adjacency = gcn_norm(graph, None, n, self.improved, self.add_self_loops)
        else:
            adjacency = as_graph(graph, n)
        raw = aggregate(adjacency, self.lin(x), self.aggr_scale, self.backend)
        offset = None if self.bias is None else self.bias / self.output_scale
        return QTensor(self.requant(raw, self.aggr_scale / self.output_scale, offset, levels=True, inplace=True,
                                    relu=relu), self.output_scale)


class QuantizedSAGEConv(QuantizedConv):
    """Integer SAGEConv (one ``sum`` or ``mean`` aggregator, ``root_weight``, no ``normalize``
    / ``project``): ``(lin_l(aggr(x)_q) + lin_r(x))_q``.

    Shapes: ``x`` float ``[N, in]`` or a :class:`QTensor`; output :class:`QTensor` ``[N_t, out]``.
    """

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "mean", bias: bool = True,
                 root_weight: bool = True, bits: int = 8, backend: str = "auto", compiled: bool = False) -> None:
        super().__init__(bits, backend, compiled)
        if aggr not in ("sum", "mean"):
            raise ValueError(f"aggr: the integer SAGEConv aggregates by 'sum' or 'mean', got {aggr!r}")
        self.in_channels, self.out_channels, self.aggr = in_channels, out_channels, aggr
        self.lin_l = QuantizedLinear(in_channels, out_channels, bias, bits, compiled=compiled)
        self.lin_r = QuantizedLinear(in_channels, out_channels, False, bits, compiled=compiled) if root_weight else None

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "aggr": self.aggr,
                "bias": self.lin_l.bias is not None, "root_weight": self.lin_r is not None, "bits": self.bits,
                "backend": self.backend, "compiled": self.compiled}

    def forward(self, x: QTensor | Tensor, graph: Any, relu: bool = False) -> QTensor:
        x = self.to_grid(x, self.input_scale)
        adjacency = as_graph(graph, x.q.size(0)).with_value(None)
        if self.aggr == "mean":
            adjacency = mean_graph(adjacency)
        out = self.lin_l(self.aggregate(adjacency, x, self.aggr_scale, self.backend))
        if self.lin_r is None:
            return self.to_grid(out, self.output_scale, relu)
        root = self.lin_r(QTensor(target_rows(x.q, adjacency), x.scale))
        return self.add(out, root, self.output_scale, relu)


class QuantizedEGConv(QuantizedConv):
    r"""Integer EGConv (aggregators from ``symnorm``, ``sum``, ``mean``): int8 bases
    ``(X W_b)_q`` aggregated by ``spmm_int8`` per aggregator, int8 combination weights
    ``(W_c x_i + b_c)_q``, their per-node products accumulated in int32 and requantised with
    the bias added.

    Shapes: ``x`` float ``[N, in]`` or a :class:`QTensor`; output :class:`QTensor` ``[N, out]``.
    """

    AGGREGATORS = ("symnorm", "sum", "mean")

    def __init__(self, in_channels: int, out_channels: int, aggregators: list[str], num_heads: int,
                 num_bases: int, add_self_loops: bool = True, bias: bool = True, bits: int = 8,
                 backend: str = "auto", compiled: bool = False) -> None:
        super().__init__(bits, backend, compiled)
        unsupported = [a for a in aggregators if a not in self.AGGREGATORS]
        if unsupported:
            raise ValueError(f"aggregators: the integer EGConv takes {self.AGGREGATORS}, got {unsupported}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.aggregators, self.num_heads, self.num_bases = list(aggregators), num_heads, num_bases
        self.add_self_loops = add_self_loops
        width = (out_channels // num_heads) * num_bases
        self.bases_lin = QuantizedLinear(in_channels, width, False, bits, compiled=compiled)
        self.comb_lin = QuantizedLinear(in_channels, num_heads * num_bases * len(aggregators), True, bits,
                                        compiled=compiled)
        self.register_buffer("bias", torch.zeros(out_channels) if bias else None)

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "aggregators": self.aggregators, "num_heads": self.num_heads, "num_bases": self.num_bases,
                "add_self_loops": self.add_self_loops, "bias": self.bias is not None, "bits": self.bits,
                "backend": self.backend, "compiled": self.compiled}

    def forward(self, x: QTensor | Tensor, graph: Any, relu: bool = False) -> QTensor:
        x = self.to_grid(x, self.input_scale)
        symnorm = gcn_norm(graph, None, x.q.size(0), False, self.add_self_loops)
        structure = symnorm.with_value(None)
        graphs = {"symnorm": symnorm, "sum": structure}
        if "mean" in self.aggregators:
            graphs["mean"] = mean_graph(structure)
        bases = self.bases_lin(x)
        weights = self.comb_lin(QTensor(target_rows(x.q, structure), x.scale))
        aggregated = [self.aggregate(graphs[a], bases, self.aggr_scale, self.backend).q for a in self.aggregators]
        heads, width = self.num_heads, self.out_channels // self.num_heads
        stacked = torch.stack(aggregated, 1).reshape(-1, len(self.aggregators) * self.num_bases, width)
        w = weights.q.reshape(-1, heads, len(self.aggregators) * self.num_bases)
        acc = torch.zeros(stacked.size(0), heads, width, dtype=torch.int32, device=x.q.device)
        for k in range(stacked.size(1)):  # B * A (a few) int32 multiply-adds per node
            acc += w[:, :, k, None].to(torch.int32) * stacked[:, None, k, :].to(torch.int32)
        multiplier = weights.scale * self.aggr_scale / self.output_scale
        offset = None if self.bias is None else self.bias / self.output_scale
        return QTensor(self.requant(acc.reshape(-1, self.out_channels), multiplier, offset, relu=relu),
                       self.output_scale)


class QuantizedStack(torch.nn.Module):
    """A converted :class:`~sparsegnn.nn.LayerStack`: its layers, with the ReLU between them
    folded into each layer's last requantisation (``relu=True``: clamp at 0, exact on the symmetric
    grid), float logits out (the last layer's ``q * scale``).

    Shapes: ``x`` float ``[N, F_in]`` (dense or sparse COO), ``graph`` what the float model took;
    output float32 ``[N, F_out]``.
    """

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def forward(self, x: Tensor, graph: Any = None) -> Tensor:
        h: Tensor | QTensor = x
        for i, layer in enumerate(self.layers):
            h = layer(h, graph, relu=i < self.num_layers - 1)
        return h.dequantize()


QUANTIZED_MODULES: dict[str, type[torch.nn.Module]] = {
    cls.__name__: cls for cls in (QuantizedLinear, QuantizedGCNConv, QuantizedSAGEConv, QuantizedEGConv)
}
