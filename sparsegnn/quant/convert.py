"""Conversion of a trained QAT model to integer modules (:mod:`sparsegnn.nn.quantized`), one
handler per QAT layer type in :data:`CONVERT_HANDLERS`.

Each handler reads the scales its fake quantisers settled on and the weights quantised on their
grids, and fills the integer layer's buffers, so the integer model computes what the fake-quant
model computes in eval mode, up to float rounding in the requantisation and, below 8 bits, the
edge weights: :func:`sparsegnn.ops.spmm_int8` quantises them to int8 per destination row, a
finer grid than the QAT model's (exact at 8 bits).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..nn import LayerStack
from ..nn.quantized import QuantizedEGConv, QuantizedGCNConv, QuantizedLinear, QuantizedSAGEConv, QuantizedStack
from .config import ConvertConfig
from .primitives import FakeQuantizer, quantize
from .qat import QATEGConv, QATGCNConv, QATLinear, QATSAGEConv


def _scale(quantizer: FakeQuantizer) -> Tensor:
    """The float32 ``[1]`` scale of a symmetric per-tensor quantiser (ValueError before data)."""
    if not quantizer.symmetric:
        raise ValueError("model: the integer modules take symmetric grids (QATConfig(symmetric=True))")
    return quantizer.qparams()[0].reshape(1)


@torch.no_grad()
def _linear_state(qat: QATLinear) -> dict[str, Tensor]:
    """The buffers of a :class:`QuantizedLinear` from a QAT linear: ``W_q^T``, its scale per output
    channel, the bias and the output scale."""
    weight = qat.lin.weight.detach()
    qat.weight_q.observer(weight, update=True)  # the range of the final weights
    scale, zero = qat.weight_q.qparams()
    axis = qat.weight_q.observer.axis
    if not qat.weight_q.symmetric:
        raise ValueError("model: the integer modules take symmetric grids (QATConfig(symmetric=True))")
    state = {
        "weight": quantize(weight, scale, zero, qat.weight_q.bits, True, axis).t().contiguous(),
        "weight_scale": scale.float().reshape(-1).expand(weight.size(0)).contiguous(),
        "output_scale": _scale(qat.output_q),
    }
    if qat.lin.bias is not None:
        state["bias"] = qat.lin.bias.detach().float().clone()
    if qat.input_q is not None:
        state["input_scale"] = _scale(qat.input_q)
    return state


def _prefixed(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _conv_state(conv: torch.nn.Module, linears: tuple[str, ...]) -> dict[str, Tensor]:
    """The buffers every converted conv has, and its linears'."""
    state = {"input_scale": _scale(conv.input_q), "output_scale": _scale(conv.output_q),
             "aggr_scale": _scale(conv.aggr_module.output_q)}
    for name in linears:
        if isinstance(getattr(conv, name, None), QATLinear):
            state.update(_prefixed(name, _linear_state(getattr(conv, name))))
    bias = getattr(conv, "bias", None)
    if isinstance(bias, Tensor):
        state["bias"] = bias.detach().float().clone()
    return state


def _filled(module: torch.nn.Module, state: dict[str, Tensor]) -> torch.nn.Module:
    module.load_state_dict(state, strict=True)
    return module.eval()


def _gcn(conv: QATGCNConv, config: ConvertConfig) -> QuantizedGCNConv:
    bits = conv.input_q.bits
    module = QuantizedGCNConv(conv.in_channels, conv.out_channels, conv.bias is not None, conv.normalize,
                              conv.improved, conv.add_self_loops, bits, config.backend, config.compiled)
    return _filled(module, _conv_state(conv, ("lin",)))


def _sage(conv: QATSAGEConv, config: ConvertConfig) -> QuantizedSAGEConv:
    if conv.normalize or isinstance(conv.aggr, list):
        raise ValueError("model: the integer SAGEConv takes one aggregator and normalize=False")
    module = QuantizedSAGEConv(conv.lin_l.lin.in_features, conv.out_channels, conv.aggr,
                               conv.lin_l.lin.bias is not None, conv.root_weight, conv.input_q.bits, config.backend,
                               config.compiled)
    return _filled(module, _conv_state(conv, ("lin_l", "lin_r")))


def _egc(conv: QATEGConv, config: ConvertConfig) -> QuantizedEGConv:
    module = QuantizedEGConv(conv.bases_lin.lin.in_features, conv.out_channels, conv.aggregators, conv.num_heads,
                             conv.num_bases, conv.add_self_loops, conv.bias is not None, conv.input_q.bits,
                             config.backend, config.compiled)
    return _filled(module, _conv_state(conv, ("bases_lin", "comb_lin")))


def _linear(qat: QATLinear, config: ConvertConfig) -> QuantizedLinear:
    module = QuantizedLinear(qat.lin.in_features, qat.lin.out_features, qat.lin.bias is not None,
                             qat.output_q.bits, input_scale=True, compiled=config.compiled)
    return _filled(module, _linear_state(qat))


CONVERT_HANDLERS: dict[type, Callable[[torch.nn.Module, ConvertConfig], torch.nn.Module]] = {
    QATGCNConv: _gcn,
    QATSAGEConv: _sage,
    QATEGConv: _egc,
    QATLinear: _linear,
}


def convert(model: torch.nn.Module, config: ConvertConfig) -> QuantizedStack:
    """The integer model of a trained QAT :class:`~sparsegnn.nn.LayerStack` (``model`` is not
    changed). TypeError for another model or a layer type with no handler; ValueError for a
    quantiser that never saw data or an affine grid."""
    if not isinstance(model, LayerStack):
        raise TypeError(f"model: expected a QAT-prepared LayerStack (GCN, SAGE, EGC, MLP), got {type(model).__name__}")
    layers = []
    for i, layer in enumerate(model.layers):
        handler = CONVERT_HANDLERS.get(type(layer))
        if handler is None:
            raise TypeError(f"model: layer {i} is a {type(layer).__name__}, with no convert handler (handled: "
                            f"{', '.join(t.__name__ for t in CONVERT_HANDLERS)}; prepare the model with "
                            "quantize_(model, QATConfig()) and train it first)")
        layers.append(handler(layer, config))
    return QuantizedStack(layers).to(next(model.parameters()).device)
