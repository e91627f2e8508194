"""``sparsegnn.quant``: quantisation-aware training (Degree-Quant) and real integer inference."""

from .api import quantize_
from .config import ConvertConfig, QATConfig

__all__ = ["ConvertConfig", "QATConfig", "quantize_"]
