"""``sparsegnn.nn.quantized``: integer inference modules (what ``sparsegnn.quant.quantize_(model,
ConvertConfig())`` returns): int8 weights and activations, int8 x int8 -> int32 products,
:func:`sparsegnn.ops.spmm_int8` aggregation, requantisation between steps."""

from .modules import (
    QUANTIZED_MODULES,
    QTensor,
    QuantizedEGConv,
    QuantizedGCNConv,
    QuantizedLinear,
    QuantizedSAGEConv,
    QuantizedStack,
    int_matmul,
)

__all__ = [
    "QUANTIZED_MODULES",
    "QTensor",
    "QuantizedEGConv",
    "QuantizedGCNConv",
    "QuantizedLinear",
    "QuantizedSAGEConv",
    "QuantizedStack",
    "int_matmul",
]
