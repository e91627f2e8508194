"""The layers' linear maps: their initialisations, and PyG's lazy ``in_channels=-1``.

With ``in_channels=-1`` a layer's linear maps are :class:`LazyLinear`: the input size is read from
the first forward call (or from a loaded ``state_dict``), and the layer's own initialisation runs
then, once; afterwards the map is a plain ``torch.nn.Linear``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.nn.modules.lazy import LazyModuleMixin

Init = Callable[[torch.nn.Linear], None]


def check_channels(in_channels: int, out_channels: int) -> None:
    """ValueError unless ``out_channels > 0`` and ``in_channels > 0`` or ``-1`` (lazy)."""
    if not (in_channels > 0 or in_channels == -1) or out_channels <= 0:
        raise ValueError(
            "in_channels/out_channels: expected positive sizes (in_channels may be -1: read from "
            f"the first input), got {in_channels}, {out_channels}"
        )


def glorot_(weight: Tensor) -> None:
    """PyG's ``glorot``: uniform in ``+-sqrt(6 / (fan_in + fan_out))``."""
    bound = math.sqrt(6.0 / (weight.size(-2) + weight.size(-1)))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


def glorot_init(lin: torch.nn.Linear) -> None:
    """Glorot weight, zero bias (PyG's ``Linear(weight_initializer="glorot")``)."""
    glorot_(lin.weight)
    if lin.bias is not None:
        torch.nn.init.zeros_(lin.bias)


def torch_init(lin: torch.nn.Linear) -> None:
    """``torch.nn.Linear``'s own initialisation (Kaiming-uniform weight and bias)."""
    torch.nn.Linear.reset_parameters(lin)


class LazyLinear(torch.nn.LazyLinear):
    """``torch.nn.LazyLinear`` initialised by ``init`` (torch's own until :func:`reset_linear`
    names the layer's) once its input size is known.

    Shapes: input :math:`(*, F_{in})` (``F_in`` read at the first call), output
    :math:`(*, F_{out})`.
    """

    def __init__(self, out_features: int, bias: bool) -> None:
        super().__init__(out_features, bias=bias)
        self.init: Init = torch_init

    def reset_parameters(self) -> None:
        # torch.nn.Linear.__init__ calls this before `init` is set, with nothing to initialise yet
        if not self.has_uninitialized_params() and self.in_features != 0:
            self.init(self)


def linear(in_channels: int, out_channels: int, bias: bool) -> torch.nn.Module:
    """An ``[in_channels -> out_channels]`` linear map, lazy when ``in_channels`` is -1; the layer
    initialises it with :func:`reset_linear` from its ``reset_parameters``."""
    if in_channels == -1:
        return LazyLinear(out_channels, bias)
    return torch.nn.Linear(in_channels, out_channels, bias=bias)


def reset_linear(lin: torch.nn.Module, init: Init) -> None:
    """``init(lin)``, unless lin is still lazy: it then runs ``init`` when it learns its size."""
    if isinstance(lin, LazyModuleMixin) and lin.has_uninitialized_params():
        lin.init = init
        return
    init(lin)
