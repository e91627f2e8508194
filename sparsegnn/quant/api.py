"""``quantize_``: the one entry point, dispatching on its config (torchao's habit)."""

from __future__ import annotations

import torch

from .config import ConvertConfig, QATConfig
from .qat import prepare_qat


def quantize_(model: torch.nn.Module, config: QATConfig | ConvertConfig) -> torch.nn.Module:
    """``QATConfig``: prepare ``model`` (a GCN / SAGE / EGC / MLP of :mod:`sparsegnn.nn`, or any
    module holding their layers) for quantisation-aware training, in place, and return it.
    ``ConvertConfig``: return the integer model (:mod:`sparsegnn.nn.quantized`) of a trained QAT
    model (the QAT model is left as it is)."""
    if isinstance(config, QATConfig):
        return prepare_qat(model, config)
    raise TypeError(f"config: expected a QATConfig or a ConvertConfig, got {type(config).__name__}")
