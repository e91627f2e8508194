"""Linear maps packed for CPU inference: oneDNN's blocked fp32 GEMM instead of the BLAS one.

On CPU, ``torch.nn.Linear`` multiplies through the BLAS torch was built with (MKL on x86-64). On
a CPU that BLAS does not recognise as its vendor's it may run a narrower code path: on the AMD
EPYC of bench/RESULTS.md ("Latency") MKL's ``addmm`` reaches ~91 GFLOP/s per core for
``10000 x 128 @ 128 x 256`` where oneDNN's JIT GEMM, which dispatches on the CPU's features
(AVX-512 here), reaches ~220. :func:`pack_linears` swaps every ``torch.nn.Linear`` of a model for
a :class:`PackedLinear` that keeps the weight reordered once into oneDNN's layout. For serving
only: the packed map has no autograd formula, so it falls back to ``F.linear`` whenever autograd
records, and wherever oneDNN cannot take the input (not float32 on CPU, torch without oneDNN).
Results equal ``F.linear`` up to float32 rounding (a different summation order).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor


def onednn_linear_available() -> bool:
    """True when this torch carries oneDNN's packed linear ops (x86-64 and aarch64 builds do)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


class PackedLinear(torch.nn.Module):
    """``x W^T + b`` with ``W`` reordered once for oneDNN (see the module docstring).

    Args:
        lin (torch.nn.Linear): the map to pack; its weight and bias are shared, not copied, and
            its ``in_features`` / ``out_features`` kept.

    Shapes: input :math:`(*, F_{in})`, output :math:`(*, F_{out})`.
    """

    def __init__(self, lin: torch.nn.Linear) -> None:
        super().__init__()
        if not isinstance(lin, torch.nn.Linear):
            raise ValueError(f"lin: expected a torch.nn.Linear, got {type(lin).__name__}")
        self.in_features, self.out_features = lin.in_features, lin.out_features
        self.weight, self.bias = lin.weight, lin.bias
        self.packed: Tensor | None = None
        if onednn_linear_available() and lin.weight.device.type == "cpu" and lin.weight.dtype == torch.float32:
            with torch.no_grad():
                self.packed = torch.ops.mkldnn._reorder_linear_weight(lin.weight.detach(), None)

    def forward(self, x: Tensor) -> Tensor:
        records = torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad)
        if self.packed is None or records or x.device.type != "cpu" or x.dtype != torch.float32:
            return F.linear(x, self.weight, self.bias)
        flat = x.reshape(-1, self.in_features)
        out = torch.ops.mkldnn._linear_pointwise(flat, self.packed, self.bias, "none", [], "")
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        backend = "onednn" if self.packed is not None else "F.linear"
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, {backend}"


def pack_linears(model: torch.nn.Module, inplace: bool = False) -> torch.nn.Module:
    """``model`` (a deep copy unless ``inplace``) with every ``torch.nn.Linear`` replaced by a
    :class:`PackedLinear` of it, for inference. Pack after training or loading the weights: the
    packed copy of ``W`` does not follow later changes to it.

    Raises:
        ValueError: if ``model`` is in training mode (dropout would still draw masks, and a
            packed map cannot be trained) or still has lazy, uninitialised linear maps.
    """
    if model.training:
        raise ValueError("model: expected an eval-mode model (call model.eval() before packing)")
    target = model if inplace else copy.deepcopy(model)
    for parent in list(target.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.modules.lazy.LazyModuleMixin) and child.has_uninitialized_params():
                raise ValueError(f"model: linear map {name!r} is still lazy: run one forward call before packing")
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, PackedLinear(child))
    return target
