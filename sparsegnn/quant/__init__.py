"""``sparsegnn.quant``: quantisation-aware training (Degree-Quant) and real integer inference.

- :func:`quantize_` with a :class:`QATConfig` prepares a GCN / SAGE / EGC (or MLP) of
  :mod:`sparsegnn.nn` for QAT by module swap (:mod:`~sparsegnn.quant.qat`); with a
  :class:`ConvertConfig` it returns the trained QAT model's integer model
  (:mod:`sparsegnn.nn.quantized`, :mod:`~sparsegnn.quant.convert`).
- :func:`save` / :func:`load`: converted models on disk (int8 tensors and scales).
- :func:`paper_config` (Degree-Quant's settings per bit width) and :class:`QATRun` (a training
  run's prepare hook and its converted model's accuracy), in :mod:`~sparsegnn.quant.training`.
- :mod:`~sparsegnn.quant.primitives` (fake quantisation, STE, observers) and
  :mod:`~sparsegnn.quant.degree_quant` (protective masks).
"""

from .api import load, quantize_, save
from .config import ConvertConfig, QATConfig
from .training import DQ_P_RANGE, QATRun, paper_config

__all__ = ["DQ_P_RANGE", "ConvertConfig", "QATConfig", "QATRun", "load", "paper_config", "quantize_", "save"]
