"""``quantize_`` (the one entry point, dispatching on its config: torchao's habit), and ``save`` /
``load`` of converted models."""

from __future__ import annotations

import os

import torch

from ..nn.quantized import QUANTIZED_MODULES, QuantizedStack
from ..durable import read_record, write_record
from .config import ConvertConfig, QATConfig
from .convert import convert
from .qat import prepare_qat

KIND = "quantized-model"


def quantize_(model: torch.nn.Module, config: QATConfig | ConvertConfig) -> torch.nn.Module:
    """``QATConfig``: prepare ``model`` (a GCN / SAGE / EGC / MLP of :mod:`sparsegnn.nn`, or any
    module holding their layers) for quantisation-aware training, in place, and return it.
    ``ConvertConfig``: return the integer model (:class:`sparsegnn.nn.quantized.QuantizedStack`)
    of a trained QAT model (which is left as it is)."""
    if isinstance(config, QATConfig):
        return prepare_qat(model, config)
    if isinstance(config, ConvertConfig):
        return convert(model, config)
    raise TypeError(f"config: expected a QATConfig or a ConvertConfig, got {type(config).__name__}")


def save(model: QuantizedStack, path: str | os.PathLike) -> None:
    """Write a converted model (int8 weights, float32 scales and biases; each layer's type and
    sizes in the header) to ``path`` as a :mod:`sparsegnn.durable` record of kind
    ``"quantized-model"`` (atomic, checksummed)."""
    if not isinstance(model, QuantizedStack):
        raise TypeError(f"model: expected a converted model (QuantizedStack), got {type(model).__name__}")
    meta = {"layers": [[type(layer).__name__, layer.config()] for layer in model.layers]}
    write_record(path, KIND, meta, {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}})


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> QuantizedStack:
    """The converted model :func:`save` wrote to ``path``; a ValueError
    (:class:`sparsegnn.durable.DamagedFileError`) naming the path for any other file."""
    meta, payload = read_record(path, KIND)
    layers = []
    for name, config in meta["layers"]:
        if name not in QUANTIZED_MODULES:
            raise ValueError(f"{path}: unknown layer type {name!r}")
        layers.append(QUANTIZED_MODULES[name](**config))
    model = QuantizedStack(layers)
    model.load_state_dict(payload["state_dict"], strict=True)
    return model.to(map_location).eval()
