"""The settings :func:`sparsegnn.quant.quantize_` takes: :class:`QATConfig` (prepare a float model
for quantisation-aware training) and :class:`ConvertConfig` (turn a trained QAT model into
integer modules)."""

from __future__ import annotations

from dataclasses import dataclass

from .degree_quant import check_p_range
from .primitives import check_bits

DEFAULT_PERCENTILE = {8: 0.001, 4: 0.01}  # Degree-Quant's per-tail fractions


@dataclass(frozen=True)
class QATConfig:
    """Quantisation-aware training settings.

    Args:
        bits (int): 2..8, for weights, activations and edge weights.
        degree_quant (bool): Degree-Quant's protective masks during training.
        p_range (tuple): ``(p_min, p_max)`` of the protection probability, within [0, 1].
        percentile (float, optional): the activation observers' tail fraction (percentile range
            tracking); ``None`` takes Degree-Quant's 0.001 for 8 bits and 0.01 below; 0 gives
            momentum min / max observers.
        symmetric (bool): symmetric grids (zero point 0, what the integer kernels take; the
            converter needs it) or affine ones.
        per_channel_weights (bool): one weight scale per output channel.
        momentum (float): the activation observers' momentum.
        sample_size (int): the most entries a percentile observer reads per step.
    """

    bits: int = 8
    degree_quant: bool = True
    p_range: tuple[float, float] = (0.0, 0.1)
    percentile: float | None = None
    symmetric: bool = True
    per_channel_weights: bool = True
    momentum: float = 0.1
    sample_size: int = 1 << 16

    def __post_init__(self) -> None:
        check_bits(self.bits)
        object.__setattr__(self, "p_range", check_p_range(self.p_range))
        if self.percentile is None:
            object.__setattr__(self, "percentile", DEFAULT_PERCENTILE[8] if self.bits == 8 else DEFAULT_PERCENTILE[4])
        if not 0.0 <= self.percentile < 0.5:
            raise ValueError(f"percentile: expected a fraction in [0, 0.5), got {self.percentile!r}")
        if not 0.0 < self.momentum <= 1.0:
            raise ValueError(f"momentum: expected a float in (0, 1], got {self.momentum!r}")
        if not isinstance(self.sample_size, int) or self.sample_size < 1:
            raise ValueError(f"sample_size: expected an int >= 1, got {self.sample_size!r}")


@dataclass(frozen=True)
class ConvertConfig:
    """Conversion of a trained QAT model to integer modules (:mod:`sparsegnn.nn.quantized`).

    Args:
        backend (str): the :func:`sparsegnn.ops.spmm_int8` backend (``"auto"``).
        compiled (bool): requantise in one fused pass (``torch.compile``; the first forward
            compiles, seconds) instead of one pass per elementwise operation.
    """

    backend: str = "auto"
    compiled: bool = False
