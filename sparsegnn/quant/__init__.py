"""``sparsegnn.quant``: quantisation-aware training (Degree-Quant) and real integer inference.

- :func:`quantize_` with a :class:`QATConfig` prepares a GCN / SAGE / EGC (or MLP) of
  :mod:`sparsegnn.nn` for QAT by module swap (:mod:`~sparsegnn.quant.qat`); with a
  :class:`ConvertConfig` it returns the trained QAT model's integer model
  (:mod:`sparsegnn.nn.quantized`, :mod:`~sparsegnn.quant.convert`).
- :func:`save` / :func:`load`: converted models on disk (int8 tensors and scales).
- :mod:`~sparsegnn.quant.primitives` (fake quantisation, STE, observers) and
  :mod:`~sparsegnn.quant.degree_quant` (protective masks).
"""

from .api import load, quantize_, save
from .config import ConvertConfig, QATConfig

__all__ = ["ConvertConfig", "QATConfig", "load", "quantize_", "save"]
