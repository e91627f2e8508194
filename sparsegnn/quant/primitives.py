r"""Quantisation primitives: integer grids, scales, fake quantisation with a straight-through
estimator, and the range observers that feed them.

A ``bits``-bit grid is signed: symmetric ``[-(2^{b-1} - 1), 2^{b-1} - 1]`` (zero point 0, the
grid :func:`sparsegnn.ops.spmm_int8` and ``torch._int_mm`` take) or affine
``[-2^{b-1}, 2^{b-1} - 1]`` with an integer zero point. From an observed range ``[lo, hi]``
(first widened to contain 0, so that 0 is exactly representable and sparse or ReLU'd zeros stay
zero):

.. math::
    \text{symmetric: } s = \max(|lo|, |hi|) / q_{max}, \; z = 0 \qquad
    \text{affine: } s = (hi - lo) / (q_{max} - q_{min}), \; z = q_{min} - \mathrm{round}(lo / s)

    \mathrm{fq}(x) = s \, (\mathrm{clamp}(\mathrm{round}(x / s) + z, q_{min}, q_{max}) - z)

The gradient of :func:`fake_quantize` is the straight-through estimator, zeroed outside the
range: :math:`\partial \mathrm{fq} / \partial x = 1` where
:math:`q_{min} \le \mathrm{round}(x/s) + z \le q_{max}`, else 0 (scale and zero point get no
gradient). Per-channel quantisation gives ``s`` and ``z`` one entry per index of ``axis``.

Observers track ``[lo, hi]`` in training mode (frozen in eval mode): :class:`MinMaxObserver`
(momentum average of the batch min / max) and :class:`PercentileObserver` (momentum average of
the ``k``-th smallest and largest values, ``k = ceil(percentile * n)``, read from a strided
sample of at most ``sample_size`` entries, never a full ``kthvalue`` over a large tensor).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BITS = range(2, 9)


def check_bits(bits: int, name: str = "bits") -> int:
    """``bits`` if it is an int in [2, 8]; ValueError naming ``name`` otherwise."""
    if not isinstance(bits, int) or isinstance(bits, bool) or bits not in BITS:
        raise ValueError(f"{name}: expected an int in [2, 8], got {bits!r}")
    return bits


def qrange(bits: int, symmetric: bool = True) -> tuple[int, int]:
    """``(q_min, q_max)`` of the signed ``bits``-bit grid (symmetric: ``q_min = -q_max``)."""
    check_bits(bits)
    qmax = (1 << (bits - 1)) - 1
    return (-qmax if symmetric else -qmax - 1), qmax


def scale_zero_point(lo: Tensor, hi: Tensor, bits: int, symmetric: bool = True) -> tuple[Tensor, Tensor]:
    """Float32 scale and int32 zero point of the range ``[lo, hi]`` (widened to contain 0; any
    shape, per-channel when ``lo`` has several entries). An empty range gets scale 1."""
    qmin, qmax = qrange(bits, symmetric)
    lo = torch.clamp(lo.float(), max=0.0)
    hi = torch.clamp(hi.float(), min=0.0)
    if symmetric:
        scale = torch.maximum(-lo, hi) / qmax
        zero = torch.zeros_like(scale, dtype=torch.int32)
    else:
        scale = (hi - lo) / (qmax - qmin)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    if not symmetric:
        zero = torch.clamp(qmin - torch.round(lo / scale), qmin, qmax).to(torch.int32)
    return scale, zero


def _broadcast(t: Tensor, x: Tensor, axis: int | None) -> Tensor:
    """``t`` (one entry, or one per index of ``axis``) shaped to broadcast against ``x``."""
    if axis is None or t.numel() == 1:
        return t.reshape(())
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


def quantize(x: Tensor, scale: Tensor, zero: Tensor, bits: int, symmetric: bool = True,
             axis: int | None = None) -> Tensor:
    """``clamp(round(x / scale) + zero, q_min, q_max)`` as int8 (``axis``: the channel axis of a
    per-channel ``scale`` / ``zero``)."""
    qmin, qmax = qrange(bits, symmetric)
    s, z = _broadcast(scale, x, axis), _broadcast(zero, x, axis)
    return torch.clamp(torch.round(x.float() / s) + z, qmin, qmax).to(torch.int8)


class _FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero, qmin, qmax):  # noqa: ANN001, ANN205 (autograd signature)
        q = torch.round(x / scale) + zero
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return (torch.clamp(q, qmin, qmax) - zero) * scale

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None, None, None


def fake_quantize(x: Tensor, scale: Tensor, zero: Tensor, bits: int, symmetric: bool = True,
                  axis: int | None = None) -> Tensor:
    """``fq(x)`` of the module docstring, same shape and dtype as ``x``, with the
    straight-through gradient (1 inside the range, 0 outside)."""
    qmin, qmax = qrange(bits, symmetric)
    s = _broadcast(scale, x, axis).to(x.dtype)
    z = _broadcast(zero, x, axis).to(x.dtype)
    return _FakeQuantize.apply(x, s, z, qmin, qmax)


class Observer(torch.nn.Module):
    """Tracks a range ``[lo, hi]`` (buffers, per tensor or per ``axis`` channel) from the tensors
    it sees in training mode, with a momentum average (the first batch sets it).

    Args:
        momentum (float): weight of the new batch, in (0, 1].
        axis (int, optional): channel axis for per-channel ranges (None: per tensor).
    """

    def __init__(self, momentum: float = 0.1, axis: int | None = None) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum: expected a float in (0, 1], got {momentum!r}")
        self.momentum, self.axis = momentum, axis
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.zeros(()))
        self.register_buffer("seen", torch.zeros((), dtype=torch.bool))

    def batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The ``(lo, hi)`` of one tensor."""
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, x: Tensor, update: bool | None = None) -> Tensor:
        """Update the range from ``x`` (when ``update``, default: in training mode; ``x`` not
        empty); returns ``x``."""
        if (self.training if update is None else update) and x.numel():
            lo, hi = self.batch_range(x.detach().float())
            if not bool(self.seen):
                self.lo, self.hi = lo.clone(), hi.clone()
                self.seen.fill_(True)
            else:
                self.lo = torch.lerp(self.lo, lo, self.momentum)
                self.hi = torch.lerp(self.hi, hi, self.momentum)
        return x

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        for name in ("lo", "hi"):  # per-channel ranges take their shape from the checkpoint
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"momentum={self.momentum}, axis={self.axis}"


class MinMaxObserver(Observer):
    """Momentum-averaged min / max (per tensor, or per channel of ``axis``)."""

    def batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.axis is None:
            return x.min(), x.max()
        dims = [d for d in range(x.dim()) if d != self.axis % x.dim()]
        return x.amin(dim=dims), x.amax(dim=dims)


class PercentileObserver(Observer):
    """Momentum-averaged ``percentile`` tails (per tensor): ``lo`` the ``k``-th smallest and ``hi``
    the ``k``-th largest of a strided sample of at most ``sample_size`` entries,
    ``k = max(1, ceil(percentile * n))``.

    Args:
        percentile (float): the tail fraction, in [0, 0.5) (0.001 for INT8, 0.01 for INT4:
            Degree-Quant's settings).
        sample_size (int): the most entries read per batch.
        momentum (float): as :class:`Observer`.
    """

    def __init__(self, percentile: float = 0.001, sample_size: int = 1 << 16, momentum: float = 0.1) -> None:
        super().__init__(momentum)
        if not 0.0 <= percentile < 0.5:
            raise ValueError(f"percentile: expected a fraction in [0, 0.5), got {percentile!r}")
        if sample_size < 1:
            raise ValueError(f"sample_size: expected >= 1, got {sample_size!r}")
        self.percentile, self.sample_size = percentile, sample_size

    def batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        flat = x.reshape(-1)
        if flat.numel() > self.sample_size:
            flat = flat[:: math.ceil(flat.numel() / self.sample_size)]
        k = max(1, math.ceil(self.percentile * flat.numel()))
        return flat.kthvalue(k).values, flat.kthvalue(flat.numel() - k + 1).values

    def extra_repr(self) -> str:
        return f"percentile={self.percentile}, sample_size={self.sample_size}, momentum={self.momentum}"


class FakeQuantizer(torch.nn.Module):
    """An observer and the fake quantisation of its range: ``forward(x, protect)`` observes ``x``
    (training mode) and returns ``fq(x)``, with the rows where ``protect`` is True (Degree-Quant's
    protected nodes, along dim 0) passed through in full precision.

    Args:
        observer: a :class:`Observer`.
        bits (int): 2..8.
        symmetric (bool): the grid (see the module docstring).
        dynamic (bool): observe in eval mode too (weights: the range is always the current
            weights', with an observer of momentum 1).

    Shapes: ``x`` :math:`(N, *)` float (or a sparse COO matrix: its stored values are
    quantised, its zeros stay zero), ``protect`` bool :math:`(N)` or None; output like ``x``.
    """

    def __init__(self, observer: Observer, bits: int = 8, symmetric: bool = True, dynamic: bool = False) -> None:
        super().__init__()
        self.observer, self.bits, self.symmetric = observer, check_bits(bits), symmetric
        self.dynamic = dynamic

    def qparams(self) -> tuple[Tensor, Tensor]:
        """``(scale, zero point)`` of the observed range; ValueError before any data."""
        if not bool(self.observer.seen):
            raise ValueError("model: a quantiser has not seen any data (run the QAT model in training mode first)")
        return scale_zero_point(self.observer.lo, self.observer.hi, self.bits, self.symmetric)

    def forward(self, x: Tensor, protect: Tensor | None = None) -> Tensor:
        if x.is_sparse:
            x = x.coalesce()
            rows = None if protect is None else protect[x.indices()[0]]
            values = self(x.values(), rows)
            return torch.sparse_coo_tensor(x.indices(), values, x.shape, is_coalesced=True, check_invariants=False)
        self.observer(x, self.training or self.dynamic)
        if not bool(self.observer.seen):  # an empty tensor before any data: nothing to quantise
            return x
        scale, zero = self.qparams()
        out = fake_quantize(x, scale.to(x.device), zero.to(x.device), self.bits, self.symmetric, self.observer.axis)
        if protect is not None and self.training:
            out = torch.where(protect.reshape((-1,) + (1,) * (x.dim() - 1)), x, out)
        return out

    def extra_repr(self) -> str:
        return f"bits={self.bits}, symmetric={self.symmetric}, dynamic={self.dynamic}"
