"""``dropout``: inverted dropout, ``x * keep / (1 - p)`` with ``keep ~ Bernoulli(1 - p)`` per
entry, independently (the distribution of ``torch.nn.functional.dropout``).

On CPU it runs the extension's kernel (``sparsegnn_C::dropout``): one pass over ``x``, where
``keep`` is a hash of a seed and the entry's position (kept with probability ``1 - p`` to within
2^-33). The seed is drawn from torch's global generator, so ``torch.manual_seed`` fixes the
masks as it fixes ``F.dropout``'s. The backward pass regenerates the mask from the seed, so no
``[N, F]`` mask is kept for it. torch's CPU dropout draws a double Bernoulli per entry, and
``x * (rand_like(x) >= p)`` makes five passes and keeps a float mask. At 2,700 x 128, 1 thread,
forward + backward: 1.9 ms for the latter, against the kernel's bench figure in bench/RESULTS.md.
Elsewhere (CUDA tensors, an extension not built, inside ``torch.compile``) it is
``x * (rand_like(x) >= p) / (1 - p)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backends.native import _C


class _CounterDropout(torch.autograd.Function):
    """The CPU kernel with its seed: the backward is the same mask applied to the gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, p: float, seed: int) -> Tensor:
        ctx.p, ctx.seed = p, seed
        return torch.ops.sparsegnn_C.dropout(x, p, seed)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        return torch.ops.sparsegnn_C.dropout(grad.contiguous(), ctx.p, ctx.seed), None, None


def dropout(x: Tensor, p: float, training: bool = True, seed: int | None = None) -> Tensor:
    """Inverted dropout of a floating tensor ``x`` (any shape) with drop probability ``p``.

    Args:
        x: floating tensor.
        p: drop probability in ``[0, 1]``; ``1`` gives zeros.
        training: ``False`` returns ``x`` itself, as ``F.dropout`` does.
        seed: the CPU kernel's seed (an int64); ``None`` draws one from torch's global generator.
            The same seed gives the same mask for the same shape.

    Returns:
        A tensor of ``x``'s shape and dtype.
    """
    if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p!r}")
    if not x.is_floating_point():
        raise ValueError(f"x: expected a floating tensor, got {x.dtype}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    if x.device.type == "cpu" and _C is not None and not torch.compiler.is_compiling():
        if seed is None:
            seed = int(torch.randint(-(2**63), 2**63 - 1, (), dtype=torch.int64))
        return _CounterDropout.apply(x, float(p), int(seed))
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep.mul_(1.0 / (1.0 - p))
