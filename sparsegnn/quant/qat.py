r"""Quantisation-aware training modules and the handler registry that swaps them in.

:func:`prepare_qat` walks a model and, for every module whose exact type has a handler in
:data:`QAT_HANDLERS` (``GCNConv``, ``SAGEConv``, ``EGConv``, ``torch.nn.Linear``), turns it into
its QAT form in place: the parameters and ``state_dict`` keys of the float module are kept, and
fake quantisers (observer buffers) are added. The model stays a plain ``nn.Module`` taking
``(x, graph)``, so the one training loop trains it unchanged.

Quantised tensors (Degree-Quant's list), for a conv with protective mask ``m`` (True = full
precision this step; training only):

- GCNConv: the layer input ``x``, the weight, the linear output ``XW`` (the messages: GCN's
  message of edge ``j -> i`` is ``e_ji * (XW)_j``; the fused SpMM never materialises it, and the
  integer kernel multiplies the int8 ``(XW)_j`` by the int8 ``e_ji`` exactly in int32, so
  quantising ``XW`` row by row, masked by the source node ``j``, is quantising the messages),
  the edge weights (one scale per destination row, the INT8 kernel's format), the aggregation
  output and the update output (after the bias).
- SAGEConv: the input, both weights, the aggregation output, both linear outputs, the update
  output.
- EGConv: the input, both weights, the bases (``X W_bases``, the messages), the combination
  weights (``W_comb x_i + b``), the symnorm edge weights, the aggregation output and the update
  output.
- Linear (an MLP's): input, weight, output.

Weights use per-output-channel (or per-tensor) min / max of the current weights; activations a
percentile (or momentum min / max) observer. The mask is drawn once per training forward of the
model (a forward pre-hook on the model given to :func:`prepare_qat`) from the graph it is called
with (:mod:`sparsegnn.quant.degree_quant`); rows of a tensor are nodes: the graph's columns for
inputs and messages, its first ``num_nodes`` (the targets) for aggregation and update outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..graph import Graph
from ..nn import EGConv, GCNConv, SAGEConv
from ..nn.aggregation import Aggregation, MultiAggregation
from .config import QATConfig
from .degree_quant import protect_mask
from .primitives import FakeQuantizer, MinMaxObserver, PercentileObserver, fake_quantize, qrange


class DegreeQuant:
    """The protective mask of the current forward, shared by every QAT module of one model
    (a plain object, no state to save). ``p_range`` None: no masking."""

    def __init__(self, p_range: tuple[float, float] | None) -> None:
        self.p_range, self.mask = p_range, None

    def draw(self, model: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook: draw the mask from the graph of ``model(x, graph)`` (training)."""
        self.mask = None
        if self.p_range is None or not model.training:
            return
        x = args[0] if args else kwargs.get("x")
        graph = args[1] if len(args) > 1 else kwargs.get("graph")
        if graph is None or not isinstance(x, Tensor):
            return
        self.mask = protect_mask(graph, self.p_range, x.size(0)).to(x.device)

    def clear(self, *_: Any) -> None:
        """Forward hook: the mask lives for one forward."""
        self.mask = None

    def rows(self, n: int) -> Tensor | None:
        """The mask of the first ``n`` nodes (None when not masking)."""
        return None if self.mask is None else self.mask[:n]


def activation_quantizer(config: QATConfig) -> FakeQuantizer:
    """A fake quantiser for activations: percentile observer (or min / max when percentile 0)."""
    if config.percentile:
        observer = PercentileObserver(config.percentile, config.sample_size, config.momentum)
    else:
        observer = MinMaxObserver(config.momentum)
    return FakeQuantizer(observer, config.bits, config.symmetric)


def weight_quantizer(config: QATConfig) -> FakeQuantizer:
    """A fake quantiser for weights ``[out, in]``: the current min / max (per output channel)."""
    observer = MinMaxObserver(1.0, axis=0 if config.per_channel_weights else None)
    return FakeQuantizer(observer, config.bits, config.symmetric, dynamic=True)


def fake_quantize_edges(graph: Graph, bits: int) -> Graph:
    r"""``graph`` with its edge weights on the symmetric ``bits``-bit grid with one scale per
    destination row, :math:`s_i = \max_j |e_{ij}| / q_{max}` (:func:`sparsegnn.ops.int8.
    quantize_edge_weights`' format at 8 bits); unweighted graphs as they are. Cached on the
    graph (edge weights here are constants: normalisations)."""
    if graph.value is None:
        return graph

    def compute() -> Graph:
        _, qmax = qrange(bits)
        row = graph.row_index()
        amax = torch.zeros(graph.num_nodes, dtype=graph.value.dtype, device=graph.device)
        amax = amax.scatter_reduce(0, row, graph.value.detach().abs(), "amax", include_self=True)
        scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))[row]
        value = fake_quantize(graph.value.detach(), scale, torch.zeros_like(scale), bits, axis=0)
        return graph.with_value(value, norm=graph.norm)

    return graph.memo(("fake_quantized_edges", bits), compute)


class QATAggregation(torch.nn.Module):
    """An aggregation (``Aggregation`` or ``MultiAggregation``) on fake-quantised edge weights,
    with its output fake-quantised (rows: the targets). Same call as the module it wraps."""

    def __init__(self, aggregation: torch.nn.Module, config: QATConfig, state: DegreeQuant) -> None:
        super().__init__()
        self.aggregation, self.bits, self.state = aggregation, config.bits, state
        self.output_q = activation_quantizer(config)

    def forward(self, graph: Graph, x: Tensor, *extra: Any) -> Tensor:
        extra = tuple(fake_quantize_edges(g, self.bits) if isinstance(g, Graph) else g for g in extra)
        out = self.aggregation(fake_quantize_edges(graph, self.bits), x, *extra)
        return self.output_q(out, self.state.rows(out.size(0)))


class QATLinear(torch.nn.Module):
    """``fq_out(fq_in(x) @ fq_w(W)^T + b)`` on the float ``torch.nn.Linear`` ``lin`` (its
    parameters, shared). ``quantize_input`` False: the input is already quantised (by the
    conv). Shapes as ``lin``; the mask's rows follow the batch dimension."""

    def __init__(self, lin: torch.nn.Linear, config: QATConfig, state: DegreeQuant, quantize_input: bool) -> None:
        super().__init__()
        self.lin, self.state = lin, state
        self.input_q = activation_quantizer(config) if quantize_input else None
        self.weight_q = weight_quantizer(config)
        self.output_q = activation_quantizer(config)

    @property
    def weight(self) -> Tensor:
        return self.lin.weight

    @property
    def bias(self) -> Tensor | None:
        return self.lin.bias

    def forward(self, x: Tensor) -> Tensor:
        if self.input_q is not None:
            x = self.input_q(x, self.state.rows(x.size(0)))
        out = F.linear(x, self.weight_q(self.lin.weight), self.lin.bias)
        return self.output_q(out, self.state.rows(out.size(0)))


class QATConv:
    """Mixin of the QAT convs: the input is fake-quantised before the float conv's forward (whose
    ``lin`` / ``aggr_module`` children are QAT modules by then) and its output (the update)
    after."""

    input_q: FakeQuantizer
    output_q: FakeQuantizer
    state: DegreeQuant

    def forward(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if not isinstance(x, Tensor):
            raise ValueError(f"x: a QAT {type(self).__name__} takes one node-feature tensor, got {type(x).__name__}")
        x = self.input_q(x, self.state.rows(x.size(0)))
        out = super().forward(x, *args, **kwargs)
        return self.output_q(out, self.state.rows(out.size(0)))


class QATGCNConv(QATConv, GCNConv):
    """GCNConv under QAT (see the module docstring)."""


class QATSAGEConv(QATConv, SAGEConv):
    """SAGEConv under QAT (see the module docstring)."""


class QATEGConv(QATConv, EGConv):
    """EGConv under QAT (see the module docstring)."""


def _swap_conv(qat_class: type, linears: tuple[str, ...]) -> Callable[[Any, QATConfig, DegreeQuant], Any]:
    """A handler turning a conv into ``qat_class`` in place: its ``linears`` become
    :class:`QATLinear` (input already quantised), its aggregation a :class:`QATAggregation`."""

    def handler(conv: torch.nn.Module, config: QATConfig, state: DegreeQuant) -> torch.nn.Module:
        if getattr(conv, "project", False):
            raise ValueError("model: SAGEConv(project=True) has no QAT handler (its projection is not quantised)")
        for name in linears:
            if hasattr(conv, name):
                if not isinstance(getattr(conv, name), torch.nn.Linear) or isinstance(
                    getattr(conv, name), torch.nn.LazyLinear
                ):
                    raise ValueError(f"model: {type(conv).__name__}.{name} is still lazy: run one forward first")
                setattr(conv, name, QATLinear(getattr(conv, name), config, state, quantize_input=False))
        if not isinstance(conv.aggr_module, (Aggregation, MultiAggregation)):
            raise TypeError(f"model: {type(conv).__name__}.aggr_module is {type(conv.aggr_module).__name__}, "
                            "not an aggregation of sparsegnn.nn")
        conv.aggr_module = QATAggregation(conv.aggr_module, config, state)
        conv.input_q = activation_quantizer(config)
        conv.output_q = activation_quantizer(config)
        object.__setattr__(conv, "state", state)  # shared, not a child module
        if hasattr(conv, "_cached_edge_index"):
            conv._cached_edge_index = None
        conv.__class__ = qat_class
        return conv

    return handler


def _linear_handler(lin: torch.nn.Linear, config: QATConfig, state: DegreeQuant) -> torch.nn.Module:
    return QATLinear(lin, config, state, quantize_input=True)


QAT_HANDLERS: dict[type, Callable[[Any, QATConfig, DegreeQuant], torch.nn.Module]] = {
    GCNConv: _swap_conv(QATGCNConv, ("lin",)),
    SAGEConv: _swap_conv(QATSAGEConv, ("lin_l", "lin_r")),
    EGConv: _swap_conv(QATEGConv, ("bases_lin", "comb_lin")),
    torch.nn.Linear: _linear_handler,
}
QAT_MODULES = (QATGCNConv, QATSAGEConv, QATEGConv, QATLinear)


def _swap_children(module: torch.nn.Module, config: QATConfig, state: DegreeQuant) -> int:
    """Swap every handled descendant of ``module``; returns how many."""
    count = 0
    for name, child in module.named_children():
        handler = QAT_HANDLERS.get(type(child))
        if handler is not None:
            setattr(module, name, handler(child, config, state))
            count += 1
        elif not isinstance(child, QAT_MODULES):
            count += _swap_children(child, config, state)
    return count


def prepare_qat(model: torch.nn.Module, config: QATConfig) -> torch.nn.Module:
    """Prepare ``model`` for QAT in place (see the module docstring); returns it. TypeError when
    nothing in it has a handler."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if any(isinstance(m, QAT_MODULES) for m in model.modules()):
        raise ValueError("model: already prepared for QAT")
    state = DegreeQuant(config.p_range if config.degree_quant else None)
    handler = QAT_HANDLERS.get(type(model))
    if handler is not None:
        model = handler(model, config, state)
    elif _swap_children(model, config, state) == 0:
        raise TypeError(f"model: {type(model).__name__} holds no layer with a QAT handler "
                        f"(handled: {', '.join(t.__name__ for t in QAT_HANDLERS)})")
    model.register_forward_pre_hook(state.draw, with_kwargs=True)
    model.register_forward_hook(state.clear)
    object.__setattr__(model, "qat_config", config)
    return model
